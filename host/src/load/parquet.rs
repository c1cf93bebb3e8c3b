//! Parquet files: read as they are, in batches, with their own types.

use super::{Batches, LoadError, batch_rows};
use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use std::path::Path;

pub(super) struct ParquetBatches {
    reader: ParquetRecordBatchReader,
    shown: String,
}

pub(super) fn open(path: &Path, shown: &str) -> Result<ParquetBatches, LoadError> {
    let file = std::fs::File::open(path).map_err(|e| LoadError::file(shown, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| {
            // Rows as wide as the first row group's, uncompressed: wide rows, smaller batches.
            let row_bytes = b
                .metadata()
                .row_groups()
                .first()
                .map_or(0, |g| usize::try_from(g.total_byte_size() / g.num_rows().max(1)).unwrap_or(usize::MAX));
            b.with_batch_size(batch_rows(row_bytes)).build()
        })
        .map_err(|e| LoadError::file(shown, format!("not a readable Parquet file: {e}")))?;
    Ok(ParquetBatches { reader, shown: shown.to_string() })
}

impl Iterator for ParquetBatches {
    type Item = Result<RecordBatch, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.reader.next()?.map_err(|e| LoadError::file(&self.shown, e)))
    }
}

impl Batches for ParquetBatches {}
