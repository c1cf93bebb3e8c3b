//! The `files` connector's config, from which its JSON Schema is derived.

pub use headwater_sdk::load::{BadRows, Compression, CsvConfig, Format};
use headwater_sdk::{Error, Result};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A file root granted in the pipeline's `[allow] files`, exactly as written there.
    pub root: String,
    /// Files to load, relative to the root, e.g. `orders/**/*.csv` (`*` stays within a folder, `**` crosses them).
    pub glob: String,
    /// Stream name the rows land in.
    pub stream: String,
    /// `csv`, `ndjson` or `parquet`; by default from each file's extension (`.csv`, `.ndjson`/`.jsonl`, `.parquet`).
    #[serde(default)]
    pub format: Option<Format>,
    /// `none`, `gzip` or `zstd`; by default from the extension (`.gz`, `.zst`).
    #[serde(default)]
    pub compression: Option<Compression>,
    #[serde(default)]
    pub csv: CsvConfig,
    /// Declared columns; when absent the types are inferred from each file's first `infer_rows` rows.
    #[serde(default)]
    pub schema: Vec<Column>,
    /// Rows sampled to infer column types.
    #[serde(default = "default_infer_rows")]
    pub infer_rows: u32,
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Column whose highest loaded value becomes the stream's watermark (e.g. for an API sync to continue from).
    #[serde(default)]
    pub cursor_field: Option<String>,
    /// Read Hive-style partition folders (`dt=2025-01-20/`, `year=2025/month=01/`) as columns.
    #[serde(default = "yes")]
    pub partition_columns: bool,
    /// Skip, without opening them, files in date partitions (`dt=`/`date=`, or `year=`/`month=`/`day=`)
    /// older than the day of the stream's watermark. Only with a timestamp `cursor_field`.
    #[serde(default = "yes")]
    pub prune_partitions: bool,
    /// What to do with a file that changed (size or modification time) since it was loaded:
    /// `reload` it (its rows land again, as new versions), `skip` it, or fail with an `error`.
    #[serde(default)]
    pub on_change: OnChange,
    /// `fail` (default): a malformed row fails the file, naming file and line. `skip`: malformed rows
    /// are counted in the run summary and the rest loads.
    #[serde(default)]
    pub bad_rows: BadRows,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnChange {
    #[default]
    Reload,
    Skip,
    Error,
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

fn default_infer_rows() -> u32 {
    headwater_sdk::load::DEFAULT_INFER_ROWS
}

impl Config {
    pub fn validate(&self) -> Result<()> {
        if self.glob.starts_with('/') || self.glob.split('/').any(|c| c == "..") {
            return Err(Error::Config(format!("glob `{}` must be relative to the root and stay inside it", self.glob)));
        }
        Ok(())
    }
}
