//! One stream's Parquet encoder, on a thread of its own.
//!
//! Encoding and compressing Parquet is about a third of the CPU an ingestion
//! spends (the rest is fetching, splitting and decoding pages). On its own
//! thread it overlaps with the next pages' fetch and decode instead of
//! stalling the connector: the stream hands over each coalesced group of
//! batches through a small bounded queue (so memory stays bounded and a slow
//! disk slows the connector down rather than filling RAM), and waits for the
//! thread only at a checkpoint, when the files must be complete and on disk.
//!
//! The queue and the checkpoint's answer are tokio channels: a stream whose
//! queue is full, or that waits for its files at a checkpoint, yields the one
//! runtime thread to the other streams instead of blocking it (review D22).
//!
//! The thread owns the open file and everything staged since the last
//! checkpoint; the first error it meets is shared with the stream at once, so
//! the next emit fails rather than a later checkpoint.

use super::{EXTRACTED_AT, Lineage, RUN_ID, RunOutput, SinkError, StagedFile};
use crate::config::Compression;
use arrow::array::{ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::Utc;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// Groups of batches queued ahead of the encoder: one being encoded, this many
/// waiting. Two keep the thread busy without holding much more than a row group's input.
const QUEUE: usize = 2;

/// Rows per row group (Parquet's default): big enough for good compression and
/// scans. The writer buffers a row group as it encodes it, so it is bounded in
/// bytes too: narrow rows reach the row count first, wide rows (50 KB each) the
/// byte cap, so that a stream's open row group stays within `ROW_GROUP_BYTES`
/// however wide its rows (review D15).
const ROW_GROUP_ROWS: usize = 1024 * 1024;
const ROW_GROUP_BYTES: usize = 64 << 20;

enum Job {
    /// Batches of one schema, written as one.
    Write(Vec<RecordBatch>),
    /// Close the open file, fsync it, and hand back every file staged since the last `Finish`.
    Finish(oneshot::Sender<Result<Vec<StagedFile>, SinkError>>),
    /// Delete every file staged since the last `Finish`.
    Discard(oneshot::Sender<()>),
}

/// The stream's handle on its encoder thread, started at the first write.
pub struct Encoder {
    stream: String,
    files: Option<Files>,
    running: Option<(mpsc::Sender<Job>, JoinHandle<()>)>,
    /// The thread's first error, seen by the stream before its next write.
    failed: Arc<OnceLock<SinkError>>,
}

impl Encoder {
    pub fn new(stream: &str, run: RunOutput, lineage: Lineage) -> Self {
        let files = Files { stream: stream.to_string(), run, lineage, current: None, finished: Vec::new() };
        Encoder { stream: stream.to_string(), files: Some(files), running: None, failed: Arc::default() }
    }

    /// Queues batches of one schema to be written as one; waits only while the queue is full.
    pub async fn write(&mut self, batches: Vec<RecordBatch>) -> Result<(), SinkError> {
        self.check()?;
        self.send(Job::Write(batches)).await
    }

    /// Waits for every queued write, then closes and fsyncs the open file.
    /// Returns the files staged since the last call.
    pub async fn finish(&mut self) -> Result<Vec<StagedFile>, SinkError> {
        if self.running.is_none() {
            self.check()?;
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.send(Job::Finish(reply)).await?;
        answer.await.map_err(|_| self.stopped())?
    }

    /// Deletes everything staged and not yet returned by [`finish`](Self::finish).
    pub async fn discard(&mut self) {
        if self.running.is_none() {
            return;
        }
        let (reply, answer) = oneshot::channel();
        if self.send(Job::Discard(reply)).await.is_ok() {
            let _ = answer.await;
        }
    }

    fn check(&self) -> Result<(), SinkError> {
        match self.failed.get() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    async fn send(&mut self, job: Job) -> Result<(), SinkError> {
        if self.running.is_none() {
            self.start()?;
        }
        let (jobs, _) = self.running.as_ref().expect("started above");
        jobs.send(job).await.map_err(|_| self.stopped())
    }

    fn start(&mut self) -> Result<(), SinkError> {
        // Gone only if an earlier start could not spawn the thread.
        let Some(files) = self.files.take() else { return Err(self.stopped()) };
        let (jobs, queue) = mpsc::channel(QUEUE);
        let failed = self.failed.clone();
        let thread =
            std::thread::Builder::new()
                .name("hw-parquet".into())
                .spawn(move || files.serve(queue, &failed))
                .map_err(SinkError::io(format!("stream `{}`: starting the Parquet encoder thread", self.stream)))?;
        self.running = Some((jobs, thread));
        Ok(())
    }

    /// The error to give when the thread is gone (it panicked, or never started).
    fn stopped(&self) -> SinkError {
        self.failed.get().cloned().unwrap_or_else(|| SinkError::Stopped { stream: self.stream.clone() })
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // Whatever was not handed to a checkpoint never committed: with its queue
        // closed, the thread deletes it and ends (`Files::serve`).
        if let Some((jobs, thread)) = self.running.take() {
            drop(jobs);
            let _ = thread.join();
        }
    }
}

struct OpenFile {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    placed: StagedFile,
}

/// What the encoder thread owns: the open file and the files staged since the last checkpoint.
struct Files {
    stream: String,
    run: RunOutput,
    lineage: Lineage,
    current: Option<OpenFile>,
    finished: Vec<StagedFile>,
}

impl Files {
    fn serve(mut self, mut queue: mpsc::Receiver<Job>, failed: &OnceLock<SinkError>) {
        while let Some(job) = queue.blocking_recv() {
            match job {
                Job::Write(batches) => {
                    // After an error, writes are dropped: the stream fails before it can commit them.
                    if failed.get().is_none()
                        && let Err(e) = self.write(&batches)
                    {
                        let _ = failed.set(e);
                    }
                }
                Job::Finish(reply) => {
                    let result = match failed.get() {
                        Some(e) => Err(e.clone()),
                        None => self.finish_current().map(|()| std::mem::take(&mut self.finished)),
                    };
                    let _ = reply.send(result);
                }
                Job::Discard(reply) => {
                    self.discard();
                    let _ = reply.send(());
                }
            }
        }
        self.discard();
    }

    fn write(&mut self, batches: &[RecordBatch]) -> Result<(), SinkError> {
        let batch = match batches {
            [] => return Ok(()),
            [one] => one.clone(),
            many => arrow::compute::concat_batches(&many[0].schema(), many).map_err(|e| self.encode_error(e))?,
        };
        let batch = self.with_lineage_columns(&batch)?;
        if self.current.as_ref().is_some_and(|f| f.schema != batch.schema()) {
            self.finish_current()?;
        }
        if self.current.is_none() {
            self.current = Some(self.open(batch.schema())?);
        }
        let file = self.current.as_mut().expect("opened above");
        let staging = &file.placed.staging;
        file.writer
            .write(&batch)
            .map_err(|e| SinkError::Io { context: format!("writing {}", staging.display()), reason: e.to_string() })
    }

    fn discard(&mut self) {
        if let Some(f) = self.current.take() {
            drop(f.writer);
            let _ = std::fs::remove_file(&f.placed.staging);
        }
        for f in self.finished.drain(..) {
            let _ = std::fs::remove_file(&f.staging);
        }
    }

    fn open(&mut self, schema: SchemaRef) -> Result<OpenFile, SinkError> {
        let seq = self.run.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("part-{}-{seq:05}.parquet", self.run.run_id);
        let placed = self.run.sink.place(&self.stream, &name, self.run.started_at)?;
        let staging = &placed.staging;
        let dir = staging.parent().expect("staging files sit in a folder");
        std::fs::create_dir_all(dir).map_err(SinkError::io(format!("creating {}", dir.display())))?;
        let file = File::create(staging).map_err(SinkError::io(format!("creating {}", staging.display())))?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(self.properties()))
            .map_err(|e| SinkError::Io { context: format!("opening {}", staging.display()), reason: e.to_string() })?;
        Ok(OpenFile { writer, schema, placed })
    }

    fn encode_error(&self, e: impl std::fmt::Display) -> SinkError {
        SinkError::Encode { stream: self.stream.clone(), reason: e.to_string() }
    }

    fn properties(&self) -> WriterProperties {
        let compression = match self.run.compression {
            Compression::Zstd => PqCompression::ZSTD(ZstdLevel::try_new(3).expect("3 is a valid zstd level")),
            Compression::Snappy => PqCompression::SNAPPY,
            Compression::None => PqCompression::UNCOMPRESSED,
        };
        let l = &self.lineage;
        let key = serde_json::to_string(&l.primary_key).expect("strings serialise");
        let cursor = l.cursor_field.clone().unwrap_or_default();
        let kv = [
            ("headwater.primary_key", &key),
            ("headwater.cursor_field", &cursor),
            ("headwater.pipeline", &l.pipeline),
            ("headwater.connector", &l.connector),
            ("headwater.connector_version", &l.version),
            ("headwater.connector_sha256", &l.sha256),
            ("headwater.config_sha256", &l.config_hash),
            ("headwater.run_id", &self.run.run_id),
            ("headwater.stream", &self.stream),
        ];
        WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .set_key_value_metadata(Some(
                kv.into_iter().map(|(k, v)| KeyValue::new(k.to_string(), v.to_string())).collect(),
            ))
            .build()
    }

    fn finish_current(&mut self) -> Result<(), SinkError> {
        let Some(f) = self.current.take() else { return Ok(()) };
        let staging = &f.placed.staging;
        let file = f.writer.into_inner().map_err(|e| SinkError::Io {
            context: format!("finishing {}", staging.display()),
            reason: e.to_string(),
        })?;
        file.sync_all().map_err(SinkError::io(format!("syncing {}", staging.display())))?;
        crate::fault::point("stage.after-fsync");
        self.finished.push(f.placed);
        Ok(())
    }

    fn with_lineage_columns(&self, batch: &RecordBatch) -> Result<RecordBatch, SinkError> {
        let n = batch.num_rows();
        let schema = batch.schema();
        let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len() + 2);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.capacity());
        // The stream refuses columns with the lineage prefix, so these names are ours alone.
        fields.extend(schema.fields().iter().map(|f| f.as_ref().clone()));
        columns.extend(batch.columns().iter().cloned());
        let now = Utc::now().timestamp_micros();
        fields.push(Field::new(EXTRACTED_AT, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false));
        columns.push(Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")));
        // One value for every row: a dictionary of one entry costs 4 bytes a row to build.
        let run_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        fields.push(Field::new(RUN_ID, run_type, false));
        let run_id = Arc::new(StringArray::from(vec![self.run.run_id.as_str()]));
        columns.push(Arc::new(DictionaryArray::new(Int32Array::from(vec![0; n]), run_id)));
        RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())), columns)
            .map_err(|e| self.encode_error(e))
    }
}
