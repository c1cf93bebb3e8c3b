//! The `files` connector's config, from which its JSON Schema is derived.

use headwater_sdk::{Error, Result};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A file root granted in the pipeline's `[allow] files`, exactly as written there.
    pub root: String,
    /// Files to load, relative to the root, e.g. `orders/**/*.csv`.
    pub glob: String,
    /// Stream name the rows land in.
    pub stream: String,
    /// File format; `csv` for now.
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub csv: CsvOptions,
    /// Declared columns; when absent the types are inferred from each file's first rows.
    #[serde(default)]
    pub schema: Vec<Column>,
    /// Rows read to infer a schema.
    #[serde(default = "default_infer_rows")]
    pub infer_rows: usize,
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Column whose highest loaded value becomes the stream's watermark (e.g. for an API sync to continue from).
    #[serde(default)]
    pub cursor_field: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Csv,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Whether the first line names the columns.
    #[serde(default = "yes")]
    pub header: bool,
    /// One ASCII character separating fields.
    #[serde(default = "comma")]
    pub delimiter: String,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { header: true, delimiter: comma() }
    }
}

impl CsvOptions {
    pub fn delimiter_byte(&self) -> Result<u8> {
        match self.delimiter.as_bytes() {
            [b] if b.is_ascii() => Ok(*b),
            _ => Err(Error::Config(format!("csv.delimiter `{}` must be exactly one ASCII character", self.delimiter))),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
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

fn comma() -> String {
    ",".into()
}

fn default_infer_rows() -> usize {
    1000
}

impl Config {
    pub fn validate(&self) -> Result<()> {
        self.csv.delimiter_byte()?;
        if self.glob.starts_with('/') || self.glob.split('/').any(|c| c == "..") {
            return Err(Error::Config(format!("glob `{}` must be relative to the root and stay inside it", self.glob)));
        }
        Ok(())
    }
}
