//! Parquet files: read as they are, in batches, with their own types.

use super::{BATCH_ROWS, Batches, LoadError};
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
        .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
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
