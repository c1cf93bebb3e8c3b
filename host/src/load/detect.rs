//! A file's format and compression: as the options say, else from its
//! extension (`orders.csv.gz` is gzip-compressed CSV).

use super::{Compression, FileFormat, LoadError, LoadOptions};

pub(super) fn format_and_compression(
    shown: &str,
    options: &LoadOptions,
) -> Result<(FileFormat, Compression), LoadError> {
    let lower = shown.to_ascii_lowercase();
    let (stem, by_ext) = if let Some(s) = lower.strip_suffix(".gz") {
        (s, Compression::Gzip)
    } else if let Some(s) = lower.strip_suffix(".zst") {
        (s, Compression::Zstd)
    } else {
        (lower.as_str(), Compression::None)
    };
    let compression = options.compression.unwrap_or(by_ext);
    let format = match options.format {
        Some(f) => f,
        None => match stem.rsplit('.').next() {
            Some("csv" | "tsv" | "txt") => FileFormat::Csv,
            Some("ndjson" | "jsonl" | "json") => FileFormat::Ndjson,
            Some("parquet" | "pq") => FileFormat::Parquet,
            _ => return Err(LoadError::options(shown, "cannot tell the format from the extension: set `format`")),
        },
    };
    Ok((format, compression))
}
