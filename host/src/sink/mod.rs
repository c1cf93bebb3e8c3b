//! Where rows land. A [`Sink`] decides where a stream's files are staged and
//! where they go when their checkpoint commits, and publishes them; the
//! [`StreamWriter`] turns a stream's batches into Parquet files in staging,
//! encoded on a thread of the stream's own (`encoder`). [`HiveSink`], Hive-layout
//! Parquet on a local folder, is the first sink, [`ObjectHiveSink`] the same on
//! an S3 bucket; the delivery protocol
//! (`crate::delivery`) commits through the trait, so another sink (a table
//! format, an object store) is a module beside it.
//!
//! Each file carries `_hw_extracted_at` and `_hw_run_id` columns and lineage in
//! its key-value metadata (connector name, version and sha256, pipeline config
//! hash), so any file can be traced to what produced it.

mod encoder;
mod hive;
mod object;

pub use hive::HiveSink;
pub use object::ObjectHiveSink;

use crate::config::{Compression, Pipeline};
use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use encoder::Encoder;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

/// The Hive-layout Parquet sink a pipeline's file names (`[sink] path`): a local
/// folder, or an `s3://` bucket staged in the state folder.
pub fn open(pipeline: &Pipeline) -> Result<Arc<dyn Sink>, SinkError> {
    Ok(match &pipeline.sink.remote {
        Some(s3) => Arc::new(ObjectHiveSink::new(s3, &pipeline.name, &pipeline.state_path)?),
        None => Arc::new(HiveSink::new(&pipeline.sink.path, &pipeline.name)),
    })
}

pub const EXTRACTED_AT: &str = "_hw_extracted_at";
pub const RUN_ID: &str = "_hw_run_id";

/// Where a pipeline's files are staged, and how they become visible.
pub trait Sink: Send + Sync {
    /// Where a new file of `stream` named `file_name` is staged, and where it will
    /// be once committed. Names were validated at discovery; a sink checks again
    /// wherever a name becomes a path, so no caller can place a file outside.
    fn place(&self, stream: &str, file_name: &str, run_started: DateTime<Utc>) -> Result<StagedFile, SinkError>;
    /// Makes a checkpoint's staged files visible to readers. Idempotent: a file
    /// already published is left alone, so recovery can publish an intent again;
    /// a file neither staged nor published is an error.
    fn publish(&self, stream: &str, files: &[(PathBuf, PathBuf)]) -> Result<(), SinkError>;
    /// Makes `files` the stream's whole content in one step no reader of the
    /// stream sees halfway (a full refresh): before it, readers see the old files;
    /// after it, only these. `snapshot` names the replacement so that it is
    /// idempotent like [`publish`](Self::publish): recovery runs it again after a
    /// crash at any point and it completes, or finds it complete.
    fn replace(&self, stream: &str, snapshot: &str, files: &[(PathBuf, PathBuf)]) -> Result<(), SinkError>;
    /// Deletes staged files that will never commit (a full refresh that did not finish).
    fn discard(&self, files: &[StagedFile]);
    /// Deletes what is staged: files no intent took (on start, after recovery).
    fn clear_staging(&self) -> Result<(), SinkError>;
    /// A folder on the sink's disk for remote files fetched before they are decoded:
    /// not the system's temp folder, which is often a small tmpfs. Cleared with staging.
    fn scratch(&self) -> PathBuf;
    /// Where the sink is, for the run summary.
    fn location(&self) -> String;
    /// Claims the sink for one run of the pipeline: a second run writing to it
    /// meanwhile is refused. The claim lasts as long as the returned value.
    fn claim(&self) -> Result<Claim, SinkError>;
}

/// A sink claimed for a run; dropping it lets the next run in.
pub struct Claim {
    _held: Box<dyn Send + Sync>,
}

impl Claim {
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        Claim { _held: Box::new(held) }
    }
}

/// Writing or committing files failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// A filesystem operation failed.
    #[error("{context}: {reason}")]
    Io { context: String, reason: String },
    /// Encoding Parquet failed.
    #[error("stream `{stream}`: {reason}")]
    Encode { stream: String, reason: String },
    #[error("checkpoint of stream `{stream}`: {} already exists; committed files are never overwritten", path.display())]
    Exists { stream: String, path: PathBuf },
    #[error("checkpoint of stream `{stream}` lost its file {}: it is neither staged nor in place", path.display())]
    Lost { stream: String, path: PathBuf },
    /// Another run of the pipeline holds the sink.
    #[error(
        "another headwater run of pipeline `{pipeline}` is writing to this sink ({} is locked): wait for it to finish",
        path.display()
    )]
    Busy { pipeline: String, path: PathBuf },
    /// A stream name that is not one safe path segment.
    #[error(transparent)]
    Name(#[from] crate::names::NameError),
    /// The encoder thread is gone (it panicked, or never started).
    #[error("stream `{stream}`: the Parquet encoder thread stopped unexpectedly (see the log above)")]
    Stopped { stream: String },
}

impl SinkError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SinkError {
        let context = context.into();
        move |e| SinkError::Io { context, reason: e.to_string() }
    }
}

/// A staging folder on the worker's own disk (under its state folder), for
/// sinks whose data goes elsewhere at commit (a bucket, a table's folder):
/// what no checkpoint took is deleted from it, and it holds the scratch space.
pub(crate) struct WorkerStaging {
    pub dir: PathBuf,
}

impl WorkerStaging {
    pub fn discard(&self, files: &[StagedFile]) {
        for f in files {
            let _ = std::fs::remove_file(&f.staging);
        }
    }

    pub fn clear(&self) -> Result<(), SinkError> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .map_err(SinkError::io(format!("clearing staging {}", self.dir.display())))?;
        }
        Ok(())
    }

    pub fn scratch(&self) -> PathBuf {
        self.dir.join("_remote")
    }
}

/// Where and how one run writes, shared by all its streams.
#[derive(Clone)]
pub struct RunOutput {
    pub sink: Arc<dyn Sink>,
    pub compression: Compression,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    /// File sequence number, shared by every stream and phase of the run so that
    /// no two files of one run can have the same name.
    seq: Arc<AtomicU32>,
}

impl RunOutput {
    pub fn new(sink: Arc<dyn Sink>, compression: Compression, run_id: String, started_at: DateTime<Utc>) -> Self {
        RunOutput { sink, compression, run_id, started_at, seq: Arc::new(AtomicU32::new(0)) }
    }
}

/// Lineage recorded in every file of one connector's output.
#[derive(Debug, Clone)]
pub struct Lineage {
    pub connector: String,
    pub version: String,
    pub sha256: String,
    pub config_hash: String,
    pub pipeline: String,
    /// The stream's primary key (from the connector), recorded in each file so that
    /// a merge sink knows the key of the rows it merges.
    pub primary_key: Vec<String>,
    /// The stream's cursor column, recorded the same way: it orders a key's versions.
    pub cursor_field: Option<String>,
}

/// A file staged for a checkpoint, and where it goes when the checkpoint commits.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub staging: PathBuf,
    pub final_path: PathBuf,
}

/// Writes one stream's batches to staged Parquet files. A file ends at each
/// checkpoint and whenever the batch schema changes (so each file has one schema).
/// Batches are gathered here and encoded on a thread of the stream's own (`sink/encoder.rs`).
pub struct StreamWriter {
    encoder: Encoder,
    /// Small batches (an API page each) gathered into one before writing: the
    /// Parquet writer's cost is per batch as well as per row.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pending_bytes: usize,
}

/// Rows gathered before a write...
const COALESCE_ROWS: usize = 64 * 1024;

/// ... or fewer when they are wide: the queue to the encoder holds a few such
/// groups, so this bounds the memory a stream holds in flight.
const COALESCE_BYTES: usize = 16 << 20;

impl StreamWriter {
    pub fn new(stream: &str, run: RunOutput, lineage: Lineage) -> Self {
        StreamWriter {
            encoder: Encoder::new(stream, run, lineage),
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
        }
    }

    /// Appends a batch (the `_hw_` columns are added when it is written).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.pending.first().is_some_and(|p| p.schema() != batch.schema()) {
            self.flush_pending().await?;
        }
        self.pending_rows += batch.num_rows();
        self.pending_bytes += batch.get_array_memory_size();
        self.pending.push(batch.clone());
        if self.pending_rows >= COALESCE_ROWS || self.pending_bytes >= COALESCE_BYTES {
            self.flush_pending().await?;
        }
        Ok(())
    }

    async fn flush_pending(&mut self) -> Result<(), SinkError> {
        self.pending_rows = 0;
        self.pending_bytes = 0;
        match std::mem::take(&mut self.pending) {
            batches if batches.is_empty() => Ok(()),
            batches => self.encoder.write(batches).await,
        }
    }

    /// Finishes and fsyncs every file written since the last call.
    pub async fn finish(&mut self) -> Result<Vec<StagedFile>, SinkError> {
        self.flush_pending().await?;
        self.encoder.finish().await
    }

    /// Deletes everything staged and not yet returned by [`finish`](Self::finish)
    /// (dropping the writer does too).
    pub async fn discard(&mut self) {
        self.pending.clear();
        self.pending_rows = 0;
        self.pending_bytes = 0;
        self.encoder.discard().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::path::Path;

    fn writer(root: &Path) -> StreamWriter {
        let sink: Arc<dyn Sink> = Arc::new(HiveSink::new(root, "p"));
        let lineage = Lineage {
            connector: "rest".into(),
            version: "1".into(),
            sha256: "ab".into(),
            config_hash: "cd".into(),
            pipeline: "p".into(),
            primary_key: Vec::new(),
            cursor_field: None,
        };
        StreamWriter::new("orders", RunOutput::new(sink, Compression::Zstd, "run1".into(), Utc::now()), lineage)
    }

    fn ids(range: std::ops::Range<i64>) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("id", DataType::Int64, false)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Int64Array::from_iter_values(range))]).unwrap()
    }

    fn read(path: &Path) -> Vec<RecordBatch> {
        let file = std::fs::File::open(path).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().map(Result::unwrap).collect()
    }

    /// Batches land in order, with the lineage columns; a new schema starts a new file.
    #[tokio::test]
    async fn writes_files_on_the_encoder_thread() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(dir.path());
        for start in (0..200_000).step_by(1000) {
            w.write(&ids(start..start + 1000)).await.unwrap();
        }
        let named = Schema::new(vec![Field::new("name", DataType::Utf8, true)]);
        let names = RecordBatch::try_new(Arc::new(named), vec![Arc::new(StringArray::from(vec!["a", "b"]))]).unwrap();
        w.write(&names).await.unwrap();
        let files = w.finish().await.unwrap();
        let rows = |f: &StagedFile| read(&f.staging).iter().map(RecordBatch::num_rows).sum::<usize>();
        assert_eq!(files.iter().map(rows).collect::<Vec<_>>(), [200_000, 2]);
        let batches = read(&files[0].staging);
        let got: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                b.column_by_name("id").unwrap().as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()
            })
            .collect();
        assert_eq!(got, (0..200_000).collect::<Vec<_>>());
        assert!(batches[0].column_by_name(EXTRACTED_AT).is_some() && batches[0].column_by_name(RUN_ID).is_some());
        assert_eq!(read(&files[1].staging)[0].num_rows(), 2);
        assert!(w.finish().await.unwrap().is_empty(), "a second finish hands back nothing new");
    }

    /// Wide rows are handed to the encoder before 64K of them pile up.
    #[tokio::test]
    async fn wide_rows_are_written_early() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(dir.path());
        let wide = "x".repeat(64 * 1024);
        let schema = Schema::new(vec![Field::new("blob", DataType::Utf8, false)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(StringArray::from(vec![wide.as_str(); 100]))])
            .unwrap();
        for _ in 0..3 {
            w.write(&batch).await.unwrap();
        }
        assert!(w.pending_rows < 300 && w.pending_bytes < COALESCE_BYTES, "300 rows of 64 KB are 19 MB");
        let files = w.finish().await.unwrap();
        assert_eq!(
            files.iter().map(|f| read(&f.staging).iter().map(RecordBatch::num_rows).sum::<usize>()).sum::<usize>(),
            300
        );
    }

    /// Review D22: a stream whose encoder queue is full waits without holding the
    /// one runtime thread: another task (another stream) runs meanwhile. The
    /// writes queue far faster than the thread encodes them, so the queue fills.
    #[tokio::test(flavor = "current_thread")]
    async fn a_full_encoder_queue_yields_the_runtime_thread() {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(dir.path());
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    ticks.fetch_add(1, Relaxed);
                    tokio::task::yield_now().await;
                }
            }
        });
        let group = ids(0..COALESCE_ROWS as i64);
        for _ in 0..12 {
            w.write(&group).await.unwrap();
        }
        let while_writing = ticks.load(Relaxed);
        w.finish().await.unwrap();
        ticker.abort();
        assert!(while_writing > 0, "the other task never ran while the writes waited for the encoder");
    }

    /// What no checkpoint took is deleted, by `discard` and by dropping the writer.
    #[tokio::test]
    async fn discard_and_drop_delete_staged_files() {
        let dir = tempfile::tempdir().unwrap();
        let staged = |root: &Path| std::fs::read_dir(root.join("_staging/p/orders")).map_or(0, |d| d.count());
        // Review T8: that a file was staged before it was deleted, not only that none is left.
        let appears = |root: &Path| {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while staged(root) == 0 && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            staged(root)
        };
        let mut w = writer(dir.path());
        w.write(&ids(0..70_000)).await.unwrap();
        assert_eq!(appears(dir.path()), 1, "the encoder staged a file");
        w.discard().await;
        assert_eq!(staged(dir.path()), 0);
        w.write(&ids(0..70_000)).await.unwrap();
        assert_eq!(appears(dir.path()), 1);
        drop(w);
        assert_eq!(staged(dir.path()), 0);
    }

    /// A write the encoder thread cannot do fails the stream's next write and its
    /// checkpoint, naming the path.
    #[tokio::test]
    async fn an_encoder_error_reaches_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        // The stream's staging folder cannot be created: a file is in its way.
        let blocked = dir.path().join("_staging/p");
        std::fs::create_dir_all(blocked.parent().unwrap()).unwrap();
        std::fs::write(&blocked, b"").unwrap();
        let mut w = writer(dir.path());
        w.write(&ids(0..70_000)).await.unwrap();
        let err = w.finish().await.unwrap_err().to_string();
        assert!(err.contains("creating") && err.contains("_staging"), "{err}");
        let again = w.write(&ids(0..70_000)).await.unwrap_err().to_string();
        assert_eq!(again, err);
    }
}
