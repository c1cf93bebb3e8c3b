//! The Parquet sink: emitted batches become zstd Parquet files in staging,
//! laid out for Hive-style readers once committed:
//! `<sink>/<stream>/dt=<YYYY-MM-DD>/part-<run-id>-<seq>.parquet`.
//!
//! Each file carries `_hw_extracted_at` and `_hw_run_id` columns and lineage in
//! its key-value metadata (connector name, version and sha256, pipeline config
//! hash), so any file can be traced to what produced it.

use crate::pipeline::Compression;
use crate::{Error, Result};
use arrow::array::{ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub const EXTRACTED_AT: &str = "_hw_extracted_at";
pub const RUN_ID: &str = "_hw_run_id";

/// Where and how a run writes, shared by all its streams.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub root: PathBuf,
    /// Staging folder of this pipeline, inside the sink so renames stay on one filesystem.
    pub staging: PathBuf,
    pub compression: Compression,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    /// File sequence number, shared by every stream and phase of the run so that
    /// no two files of one run can have the same name.
    seq: Arc<AtomicU32>,
}

/// Lineage recorded in every file of one connector's output.
#[derive(Debug, Clone)]
pub struct Lineage {
    pub connector: String,
    pub version: String,
    pub sha256: String,
    pub config_hash: String,
    pub pipeline: String,
}

impl SinkConfig {
    pub fn new(
        root: &Path,
        pipeline: &str,
        compression: Compression,
        run_id: String,
        started_at: DateTime<Utc>,
    ) -> Self {
        SinkConfig {
            root: root.to_path_buf(),
            staging: staging_dir(root, pipeline),
            compression,
            run_id,
            started_at,
            seq: Arc::new(AtomicU32::new(0)),
        }
    }
}

/// The staging folder of `pipeline` under a sink root.
pub fn staging_dir(root: &Path, pipeline: &str) -> PathBuf {
    root.join("_staging").join(pipeline)
}

/// A finished file waiting for its checkpoint to commit.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub staging: PathBuf,
    pub final_path: PathBuf,
    pub rows: u64,
}

struct OpenFile {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    staging: PathBuf,
    final_path: PathBuf,
    rows: u64,
}

/// Writes one stream's batches to staged Parquet files. A file ends at each
/// checkpoint and whenever the batch schema changes (so each file has one schema).
pub struct StreamWriter {
    stream: String,
    config: Arc<SinkConfig>,
    lineage: Lineage,
    current: Option<OpenFile>,
    finished: Vec<StagedFile>,
    /// Small batches (an API page each) gathered into one before writing: the
    /// Parquet writer's cost is per batch as well as per row.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
}

/// Rows gathered before a write.
const COALESCE_ROWS: usize = 64 * 1024;

/// Rows per row group (Parquet's default): big enough for good compression and
/// scans; the writer buffers a row group compressed, a few MB, so memory stays bounded.
const ROW_GROUP_ROWS: usize = 1024 * 1024;

impl StreamWriter {
    pub fn new(stream: &str, config: Arc<SinkConfig>, lineage: Lineage) -> Self {
        StreamWriter {
            stream: stream.to_string(),
            config,
            lineage,
            current: None,
            finished: Vec::new(),
            pending: Vec::new(),
            pending_rows: 0,
        }
    }

    /// Appends a batch (the `_hw_` columns are added when it is written).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.pending.first().is_some_and(|p| p.schema() != batch.schema()) {
            self.flush_pending()?;
        }
        self.pending_rows += batch.num_rows();
        self.pending.push(batch.clone());
        if self.pending_rows >= COALESCE_ROWS {
            self.flush_pending()?;
        }
        Ok(())
    }

    fn flush_pending(&mut self) -> Result<()> {
        let batch = match self.pending.len() {
            0 => return Ok(()),
            1 => self.pending.pop().expect("one batch"),
            _ => {
                let schema = self.pending[0].schema();
                arrow::compute::concat_batches(&schema, &self.pending)
                    .map_err(|e| Error::Sink(format!("stream `{}`: {e}", self.stream)))?
            }
        };
        self.pending.clear();
        self.pending_rows = 0;
        let batch = self.with_lineage_columns(&batch)?;
        if self.current.as_ref().is_some_and(|f| f.schema != batch.schema()) {
            self.finish_current()?;
        }
        if self.current.is_none() {
            self.current = Some(self.open(batch.schema())?);
        }
        let file = self.current.as_mut().expect("opened above");
        file.writer.write(&batch).map_err(|e| Error::Sink(format!("writing {}: {e}", file.staging.display())))?;
        file.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Finishes and fsyncs every file written since the last call.
    pub fn finish(&mut self) -> Result<Vec<StagedFile>> {
        self.flush_pending()?;
        self.finish_current()?;
        Ok(std::mem::take(&mut self.finished))
    }

    /// Deletes everything staged and not yet returned by [`finish`](Self::finish).
    pub fn discard(&mut self) {
        self.pending.clear();
        self.pending_rows = 0;
        if let Some(f) = self.current.take() {
            drop(f.writer);
            let _ = std::fs::remove_file(&f.staging);
        }
        for f in self.finished.drain(..) {
            let _ = std::fs::remove_file(&f.staging);
        }
    }

    fn open(&mut self, schema: SchemaRef) -> Result<OpenFile> {
        let seq = self.config.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("part-{}-{seq:05}.parquet", self.config.run_id);
        let staging = self.config.staging.join(&self.stream).join(&name);
        let final_path = self
            .config
            .root
            .join(&self.stream)
            .join(format!("dt={}", self.config.started_at.format("%Y-%m-%d")))
            .join(&name);
        let dir = staging.parent().expect("staging files sit in a folder");
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let file = File::create(&staging).map_err(Error::io(format!("creating {}", staging.display())))?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(self.properties()))
            .map_err(|e| Error::Sink(format!("opening {}: {e}", staging.display())))?;
        Ok(OpenFile { writer, schema, staging, final_path, rows: 0 })
    }

    fn properties(&self) -> WriterProperties {
        let compression = match self.config.compression {
            Compression::Zstd => PqCompression::ZSTD(ZstdLevel::try_new(3).expect("3 is a valid zstd level")),
            Compression::Snappy => PqCompression::SNAPPY,
            Compression::None => PqCompression::UNCOMPRESSED,
        };
        let l = &self.lineage;
        let kv = [
            ("headwater.pipeline", &l.pipeline),
            ("headwater.connector", &l.connector),
            ("headwater.connector_version", &l.version),
            ("headwater.connector_sha256", &l.sha256),
            ("headwater.config_sha256", &l.config_hash),
            ("headwater.run_id", &self.config.run_id),
            ("headwater.stream", &self.stream),
        ];
        WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_key_value_metadata(Some(
                kv.into_iter().map(|(k, v)| KeyValue::new(k.to_string(), v.to_string())).collect(),
            ))
            .build()
    }

    fn finish_current(&mut self) -> Result<()> {
        let Some(f) = self.current.take() else { return Ok(()) };
        let file = f.writer.into_inner().map_err(|e| Error::Sink(format!("finishing {}: {e}", f.staging.display())))?;
        file.sync_all().map_err(Error::io(format!("syncing {}", f.staging.display())))?;
        self.finished.push(StagedFile { staging: f.staging, final_path: f.final_path, rows: f.rows });
        Ok(())
    }

    fn with_lineage_columns(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let schema = batch.schema();
        let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len() + 2);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.capacity());
        for (f, c) in schema.fields().iter().zip(batch.columns()) {
            // A source column named like ours is replaced: lineage must not be forged.
            if f.name() != EXTRACTED_AT && f.name() != RUN_ID {
                fields.push(f.as_ref().clone());
                columns.push(c.clone());
            }
        }
        let now = Utc::now().timestamp_micros();
        fields.push(Field::new(EXTRACTED_AT, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false));
        columns.push(Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")));
        // One value for every row: a dictionary of one entry costs 4 bytes a row to build.
        let run_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        fields.push(Field::new(RUN_ID, run_type, false));
        let run_id = Arc::new(StringArray::from(vec![self.config.run_id.as_str()]));
        columns.push(Arc::new(DictionaryArray::new(Int32Array::from(vec![0; n]), run_id)));
        RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())), columns)
            .map_err(|e| Error::Sink(format!("stream `{}`: {e}", self.stream)))
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        // Whatever was not handed to a checkpoint never committed.
        self.discard();
    }
}
