//! The `rest` connector's config: the shape of the pipeline file's `config`
//! table, from which the JSON Schema in the connector's spec is derived.

use crate::errors::{self, ErrorRule};
use crate::paginate::Paginator;
use headwater_sdk::{Error, Result, StreamInfo};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL that every stream's `path` is appended to, e.g. `https://api.example.com/v1`.
    pub base_url: String,
    /// Name of a credential (`[auth.NAME]` in the pipeline) used by every stream that names none.
    #[serde(default)]
    pub auth: Option<String>,
    /// Headers sent with every request of every stream.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Rules for what an error response means (every stream; a stream's own come first).
    #[serde(default)]
    pub on_error: Vec<ErrorRule>,
    /// Values templates may name as `{{ vars.NAME }}` (an account id, a region).
    #[serde(default)]
    pub vars: serde_json::Map<String, Value>,
    /// The streams to read.
    pub streams: Vec<StreamConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
}

/// Where a value (a page cursor, a watermark) is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Place {
    /// As a query parameter.
    #[default]
    Query,
    /// As a top-level field of the JSON body (for GraphQL: a variable).
    Body,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name: the sink folder and the state key.
    pub name: String,
    /// Path appended to `base_url`, e.g. `/orders`; `{field}` placeholders are filled from each record of `parent`.
    pub path: String,
    #[serde(default)]
    pub method: Method,
    /// Query parameters sent with every request.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Headers sent with every request of this stream.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body sent with every request (POST).
    #[serde(default)]
    pub body: Option<Value>,
    /// JSON pointer to the array of records in a response body, e.g. `/data`; empty when the body is the array.
    #[serde(default)]
    pub records: String,
    /// Fields that identify a record.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// How to get the next page.
    #[serde(default)]
    pub paginator: Paginator,
    /// Pages fetched at once by the `offset` and `page` paginators (within the host's rate limit).
    #[serde(default = "one")]
    pub concurrency: u32,
    /// The most pages one sync of the stream fetches: a paginator that never ends
    /// (a new cursor on every page) fails here, naming this setting.
    #[serde(default = "max_pages")]
    pub max_pages: u64,
    /// A GraphQL query instead of a plain request; the stream is then a POST of `{query, variables}`.
    #[serde(default)]
    pub graphql: Option<GraphQl>,
    /// A bulk export job instead of paging (Salesforce Bulk API 2.0 / Stripe data exports style).
    #[serde(default)]
    pub export: Option<Export>,
    /// Another stream whose records fill this stream's `{placeholders}` (e.g. `/customers/{id}/orders`).
    #[serde(default)]
    pub parent: Option<String>,
    /// Incremental sync: only records newer than the stream's watermark are requested.
    #[serde(default)]
    pub incremental: Option<Incremental>,
    /// Declared columns; when absent, the host infers them from the records.
    #[serde(default)]
    pub schema: Vec<Column>,
    /// Credential name for this stream, overriding the connector-wide `auth`.
    #[serde(default)]
    pub auth: Option<String>,
    /// Rules for what an error response means, before the connector-wide `on_error`.
    #[serde(default)]
    pub on_error: Vec<ErrorRule>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphQl {
    pub query: String,
    #[serde(default)]
    pub variables: serde_json::Map<String, Value>,
    /// JSON pointer to the connection's `pageInfo` (`{ hasNextPage endCursor }`), e.g. `/data/orders/pageInfo`;
    /// absent for a query without pagination.
    #[serde(default)]
    pub page_info: Option<String>,
    /// Variable that carries `endCursor` to the next page.
    #[serde(default = "after")]
    pub cursor_variable: String,
}

/// Start an export job, poll it until done, then load the files it names through the
/// host's bulk path. The files must be under an http(s) root granted in `[allow] files`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Path (under `base_url`) to POST to start the job; the stream's `body` is sent.
    pub start_path: String,
    /// JSON pointer to the job id in the start response, e.g. `/id`.
    pub id_path: String,
    /// Path to GET the job's status; `{id}` is replaced by the job id.
    pub status_path: String,
    /// JSON pointer to the job's state in a status response, e.g. `/state`.
    pub state_path: String,
    /// The state of a finished job, e.g. `JobComplete`.
    pub done: String,
    /// States of a failed job, e.g. `["Failed", "Aborted"]`.
    #[serde(default)]
    pub failed: Vec<String>,
    /// JSON pointer to the result files in the finished job's status: URLs, or objects with a `url`.
    #[serde(default)]
    pub files_path: Option<String>,
    /// The http(s) root from `[allow] files` the file URLs are under.
    #[serde(default)]
    pub files_root: Option<String>,
    /// Instead of files: the results are one endpoint paged by a locator in a
    /// response header (Salesforce Bulk API 2.0's `Sforce-Locator`).
    #[serde(default)]
    pub results: Option<ResultPages>,
    /// Seconds between polls.
    #[serde(default = "two")]
    pub poll_interval_s: u64,
    /// Polls before giving up.
    #[serde(default = "max_polls")]
    pub max_polls: u32,
    /// Format of the files (`csv`, `ndjson`, `parquet`); by default from their extension.
    #[serde(default)]
    pub format: Option<headwater_sdk::load::Format>,
}

/// A job's results as pages of one endpoint, each naming the next in a header.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultPages {
    /// Path (under `base_url`) of the results; `{id}` is replaced by the job id.
    pub path: String,
    /// Response header holding the next page's locator, e.g. `Sforce-Locator`.
    pub locator_header: String,
    /// Query parameter the locator goes back in, e.g. `locator`.
    pub locator_param: String,
    /// The header's value on the last page (default `null`, as Salesforce sends it).
    #[serde(default = "null_text")]
    pub end: String,
    /// Query parameters sent with every page, e.g. `{ maxRecords = "50000" }`.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
}

fn null_text() -> String {
    "null".into()
}

fn two() -> u64 {
    2
}

fn max_polls() -> u32 {
    300
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    /// Field of each record holding its cursor: a top-level name (`updated_at`) or a JSON pointer
    /// (`/meta/updated_at`, landed as column `meta_updated_at`). Its highest loaded value becomes the watermark.
    pub cursor_field: String,
    /// Parameter that carries the watermark to the API, e.g. `updated_since`; with
    /// `cursor_in = "body"`, a top-level key or a JSON pointer into the body
    /// (`/filterGroups/0/filters/0/value`, HubSpot's search). Leave it out when the
    /// watermark goes inside a text instead: `{{watermark}}` in any parameter or
    /// body string (`"SELECT Id FROM Account WHERE SystemModstamp > {{watermark}}"`,
    /// `"updated_at:>{{watermark}}"`) is replaced by it.
    #[serde(default)]
    pub cursor_param: Option<String>,
    /// Where `cursor_param` goes: `query` (default) or `body` (for GraphQL: a variable).
    #[serde(default)]
    pub cursor_in: Place,
    /// Value sent on the very first run, before any watermark exists.
    #[serde(default)]
    pub start_value: Option<String>,
    /// Re-read this window before the watermark (ISO 8601 duration such as `PT10M`, `PT1H`, `P1D`), for
    /// sources whose rows become visible late. Rows read again are not landed twice.
    #[serde(default)]
    pub lookback: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    /// int64, float64, bool, string, date, timestamp, timestamp(ms, UTC), decimal(P, S), …
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default = "yes")]
    pub nullable: bool,
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn max_pages() -> u64 {
    100_000
}

fn after() -> String {
    "after".into()
}

impl Config {
    pub fn validate(&self) -> Result<()> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(Error::Config(format!("base_url `{}` must start with http:// or https://", self.base_url)));
        }
        errors::validate(&self.on_error, "(every stream)")?;
        let names: Vec<&str> = self.streams.iter().map(|s| s.name.as_str()).collect();
        for (i, s) in self.streams.iter().enumerate() {
            errors::validate(&s.on_error, &s.name)?;
            let bad = |m: String| Err(Error::Config(format!("stream `{}`: {m}", s.name)));
            if names[..i].contains(&s.name.as_str()) {
                return bad("declared twice".into());
            }
            for (what, p) in [
                ("records", Some(&s.records)),
                ("graphql.page_info", s.graphql.as_ref().and_then(|g| g.page_info.as_ref())),
            ] {
                if let Some(p) = p
                    && !p.is_empty()
                    && !p.starts_with('/')
                {
                    return bad(format!("{what} `{p}` is not a JSON pointer (it must start with `/`)"));
                }
            }
            if let Some(parent) = &s.parent {
                match self.streams.iter().position(|p| &p.name == parent) {
                    None => return bad(format!("parent `{parent}` is not a stream of this config")),
                    Some(j) if j == i => return bad("is its own parent".into()),
                    Some(_) => {}
                }
                if !s.path.contains('{') {
                    return bad(format!("has a parent but its path `{}` has no {{placeholder}}", s.path));
                }
            } else if s.path.contains('{') {
                return bad(format!("path `{}` has placeholders but no `parent` to fill them", s.path));
            }
            if s.concurrency == 0 {
                return bad("concurrency must be at least 1".into());
            }
            if let Some(inc) = &s.incremental
                && let Some(l) = &inc.lookback
            {
                crate::incremental::parse_duration(l)
                    .map_err(|e| Error::Config(format!("stream `{}`: {e}", s.name)))?;
            }
        }
        Ok(())
    }

    pub fn auth_for(&self, stream: &StreamConfig) -> Option<String> {
        stream.auth.clone().or_else(|| self.auth.clone())
    }

    pub fn stream(&self, name: &str) -> Option<&StreamConfig> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// The `on_error` rules of `stream`: its own, then the connector-wide ones.
    pub fn error_rules<'a>(&'a self, stream: &'a StreamConfig) -> Vec<&'a ErrorRule> {
        stream.on_error.iter().chain(&self.on_error).collect()
    }
}

impl StreamConfig {
    /// The column the cursor lands in: the field name, or a pointer's segments joined by `_`.
    pub fn cursor_column(&self) -> Option<String> {
        self.incremental.as_ref().map(|i| column_of(&i.cursor_field))
    }

    pub fn info(&self) -> StreamInfo {
        let mut info = StreamInfo::new(self.name.clone())
            .primary_key(self.primary_key.iter().map(|k| column_of(k)))
            .cursor_field(self.cursor_column());
        for c in &self.schema {
            info = info.field(c.name.clone(), c.data_type.clone(), c.nullable);
        }
        info
    }
}

/// `updated_at` → `updated_at`; `/meta/updated_at` → `meta_updated_at`.
pub fn column_of(field: &str) -> String {
    match field.strip_prefix('/') {
        Some(p) => p.split('/').collect::<Vec<_>>().join("_"),
        None => field.to_string(),
    }
}

/// The value at a field name or JSON pointer.
pub fn field<'a>(record: &'a Value, field: &str) -> Option<&'a Value> {
    if field.starts_with('/') { record.pointer(field) } else { record.get(field) }
}
