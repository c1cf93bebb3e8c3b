//! Bulk loads: the host decodes a file under a granted root natively and stages
//! its rows (`output.load`). The options cross the boundary as the WIT record
//! `load-options` ([`LoadOptions`], generated from `wit/`); this module gives them
//! defaults, and config types a connector can put in its own config so that its
//! users write the same `format`, `compression`, `csv` and `bad_rows` settings
//! whatever connector reads their files.

use crate::bindings::headwater::connector::output as wit;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use wit::{BadRows as WitBadRows, Compression as WitCompression, CsvOptions, FileFormat, LoadOptions, LoadStats};

/// Rows sampled to infer a CSV file's column types, unless a connector says otherwise.
pub const DEFAULT_INFER_ROWS: u32 = 1000;

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: ',',
            quote: '"',
            escape: None,
            null_values: Vec::new(),
            comment: None,
            timestamp_formats: Vec::new(),
        }
    }
}

impl Default for LoadOptions {
    /// Format and compression from the file's extension, CSV with a header and
    /// commas, malformed rows failing the load.
    fn default() -> Self {
        LoadOptions {
            format: None,
            compression: None,
            csv: CsvOptions::default(),
            bad_rows: WitBadRows::Fail,
            partition: Vec::new(),
            infer_rows: DEFAULT_INFER_ROWS,
        }
    }
}

/// A file format, as users write it in a connector's config.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Ndjson,
    Parquet,
}

impl From<Format> for FileFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Csv => FileFormat::Csv,
            Format::Ndjson => FileFormat::Ndjson,
            Format::Parquet => FileFormat::Parquet,
        }
    }
}

/// Whole-file compression, as users write it in a connector's config.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl From<Compression> for WitCompression {
    fn from(c: Compression) -> Self {
        match c {
            Compression::None => WitCompression::None,
            Compression::Gzip => WitCompression::Gzip,
            Compression::Zstd => WitCompression::Zstd,
        }
    }
}

/// What to do with a malformed row, as users write it in a connector's config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BadRows {
    /// A malformed row fails the file, naming the file and line.
    #[default]
    Fail,
    /// Malformed rows are counted in the run summary and the rest loads.
    Skip,
}

impl From<BadRows> for WitBadRows {
    fn from(b: BadRows) -> Self {
        match b {
            BadRows::Fail => WitBadRows::Fail,
            BadRows::Skip => WitBadRows::Skip,
        }
    }
}

/// How CSV files are written, as users write it in a connector's config.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// Whether the first line names the columns.
    #[serde(default = "yes")]
    pub header: bool,
    /// One ASCII character separating fields.
    #[serde(default = "comma")]
    pub delimiter: char,
    /// The quote character.
    #[serde(default = "double_quote")]
    pub quote: char,
    /// An escape character inside quoted fields (none by default: quotes are doubled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escape: Option<char>,
    /// Values read as null, e.g. `["", "NULL", "\\N"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub null_values: Vec<String>,
    /// Lines starting with this character are skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<char>,
    /// Timestamp columns in a non-ISO form: column → chrono format, e.g. `{ ordered_at = "%d/%m/%Y %H:%M" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timestamp_formats: BTreeMap<String, String>,
}

impl Default for CsvConfig {
    fn default() -> Self {
        CsvConfig {
            header: true,
            delimiter: ',',
            quote: '"',
            escape: None,
            null_values: Vec::new(),
            comment: None,
            timestamp_formats: BTreeMap::new(),
        }
    }
}

impl From<&CsvConfig> for CsvOptions {
    fn from(c: &CsvConfig) -> Self {
        CsvOptions {
            header: c.header,
            delimiter: c.delimiter,
            quote: c.quote,
            escape: c.escape,
            null_values: c.null_values.clone(),
            comment: c.comment,
            timestamp_formats: c.timestamp_formats.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

fn yes() -> bool {
    true
}
fn comma() -> char {
    ','
}
fn double_quote() -> char {
    '"'
}
