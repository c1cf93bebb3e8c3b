//! The `rest` connector's config: the shape of the pipeline file's `config`
//! table, from which the JSON Schema in the connector's spec is derived.

use crate::paginate::Paginator;
use headwater_sdk::{Error, Result, StreamInfo};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL that every stream's `path` is appended to, e.g. `https://api.example.com/v1`.
    pub base_url: String,
    /// Name of a credential (`[auth.NAME]` in the pipeline) used by every stream that names none.
    #[serde(default)]
    pub auth: Option<String>,
    /// The streams to read.
    pub streams: Vec<StreamConfig>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name: the sink folder and the state key.
    pub name: String,
    /// Path appended to `base_url`, e.g. `/orders`.
    pub path: String,
    /// Fixed query parameters sent with every request.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// JSON pointer to the array of records in a response body, e.g. `/data`; empty when the body is the array.
    #[serde(default)]
    pub records: String,
    /// Columns that identify a record.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// How to get the next page.
    #[serde(default)]
    pub paginator: Paginator,
    /// Incremental sync: only records newer than the stream's watermark are requested.
    #[serde(default)]
    pub incremental: Option<Incremental>,
    /// Declared columns; when absent, the host infers them from the records.
    #[serde(default)]
    pub schema: Vec<Column>,
    /// Credential name for this stream, overriding the connector-wide `auth`.
    #[serde(default)]
    pub auth: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    /// Top-level field of each record holding its cursor (e.g. `updated_at`); its highest loaded value becomes the watermark.
    pub cursor_field: String,
    /// Query parameter that carries the watermark to the API, e.g. `updated_since`.
    pub cursor_param: String,
    /// Value sent on the very first run, before any watermark exists.
    #[serde(default)]
    pub start_value: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    /// int64, float64, bool, string, date, timestamp, timestamp(ms, UTC), decimal(P, S), json, …
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default = "yes")]
    pub nullable: bool,
}

fn yes() -> bool {
    true
}

impl Config {
    pub fn validate(&self) -> Result<()> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(Error::Config(format!("base_url `{}` must start with http:// or https://", self.base_url)));
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.streams {
            if !seen.insert(&s.name) {
                return Err(Error::Config(format!("stream `{}` is declared twice", s.name)));
            }
            if !s.records.is_empty() && !s.records.starts_with('/') {
                return Err(Error::Config(format!(
                    "stream `{}`: records `{}` is not a JSON pointer (it must start with `/`)",
                    s.name, s.records
                )));
            }
        }
        Ok(())
    }

    pub fn auth_for(&self, stream: &StreamConfig) -> Option<String> {
        stream.auth.clone().or_else(|| self.auth.clone())
    }

    /// The request URL for `stream` with `params` as its query string.
    pub fn url(&self, stream: &StreamConfig, params: &[(String, String)]) -> Result<String> {
        let joined = format!("{}{}", self.base_url.trim_end_matches('/'), stream.path);
        let mut url = url::Url::parse(&joined)
            .map_err(|e| Error::Config(format!("stream `{}`: URL `{joined}` is invalid: {e}", stream.name)))?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        Ok(url.into())
    }
}

impl StreamConfig {
    /// The fixed params plus the incremental cursor param when a watermark is known.
    pub fn params_with(&self, since: Option<&str>) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = self.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let (Some(inc), Some(since)) = (&self.incremental, since) {
            params.push((inc.cursor_param.clone(), since.to_string()));
        }
        params
    }

    pub fn info(&self) -> StreamInfo {
        let mut info = StreamInfo::new(self.name.clone())
            .primary_key(self.primary_key.iter().cloned())
            .cursor_field(self.incremental.as_ref().map(|i| i.cursor_field.clone()));
        for c in &self.schema {
            info = info.field(c.name.clone(), c.data_type.clone(), c.nullable);
        }
        info
    }
}
