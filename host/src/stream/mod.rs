//! One stream's output during one connector call, from rows handed over to a
//! committed checkpoint, independent of wasm (the `output` capability is a thin
//! adapter over it, and it is unit-tested without a component).
//!
//! A stream is in one of two states. **Pending**: rows emitted since the last
//! checkpoint (none right after one) are conformed to the declared columns,
//! evolved into the stream's schema, deduplicated at the seam and staged by the
//! sink's writer. A checkpoint commits them with the connector's state and the
//! new watermark through the delivery protocol, and the stream is pending again
//! with nothing staged. **Poisoned**: any failed emit, load or checkpoint ends the
//! stream's output for the call; every later emit and checkpoint is refused with
//! the first failure, so a connector that ignores an error can never commit part
//! of what failed, and rows, files and watermark always agree.

mod error;
mod exact;
mod key_order;
mod known_rows;
mod page;
mod rows;
mod schema;
mod seam;
mod watermark;

pub use error::{Step, StreamError};
pub use page::{array_elements as page_elements, split as split_page};
#[cfg(feature = "fuzzing")]
pub use rows::ipc as ipc_rows;
pub use rows::json as json_rows;
#[cfg(feature = "fuzzing")]
pub use rows::known_rows_agree;
#[cfg(feature = "fuzzing")]
pub use rows::leaf_columns;
pub use schema::declared_schema;
pub use seam::SeamState;
pub use watermark::Watermark;

use crate::config::PhaseKind;
use crate::delivery;
use crate::progress::StreamProgress;
use crate::sink::{Sink, StagedFile, StreamWriter};
use crate::store::{StateStore, StreamState};
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use seam::CursorTracker;
use std::sync::Arc;

/// What discovery says of a stream, as the data path needs it.
#[derive(Debug, Clone, Default)]
pub struct StreamSpec {
    pub name: String,
    /// Declared columns, if any.
    pub declared: Option<SchemaRef>,
    pub cursor_field: Option<String>,
    pub primary_key: Vec<String>,
}

/// Bounds on what the host decodes and stages on a connector's behalf (`[limits]`).
#[derive(Debug, Clone, Copy)]
pub struct Intake {
    /// Deepest JSON nesting decoded.
    pub max_json_depth: usize,
    /// Most rows × columns one emitted batch may have.
    pub max_emit_cells: u64,
    /// Longest line of a file `load` decodes, in bytes.
    pub max_record_bytes: u64,
}

impl Intake {
    pub fn of(limits: &crate::config::Limits) -> Self {
        Intake {
            max_json_depth: limits.max_json_depth as usize,
            max_emit_cells: limits.max_emit_cells,
            max_record_bytes: limits.max_record_mb.saturating_mul(1 << 20),
        }
    }
}

/// Where a stream's checkpoints commit: the sink its files go to and the store its state goes to.
#[derive(Clone)]
pub struct Destination {
    pub sink: Arc<dyn Sink>,
    pub store: Arc<dyn StateStore>,
    pub phase: PhaseKind,
    pub run_id: String,
    /// A full refresh: the call's checkpoints gather a new snapshot of the stream,
    /// not visible to readers, that replaces the old one only when the call ends
    /// well ([`Snapshot`]); until then the old snapshot and its state stay.
    pub refresh: bool,
}

/// Counters of one call, for the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Rows and files committed during the call.
    pub rows: u64,
    pub files: u64,
    pub checkpoints: u64,
    /// Rows skipped as malformed by `load` (with `bad_rows = "skip"`).
    pub bad_rows: u64,
    /// Files decoded by `load`.
    pub loaded: u64,
}

/// What became of a stream when its call ended.
#[derive(Debug, Clone)]
pub struct StreamOutcome {
    pub counts: Counts,
    /// Rows emitted after the last checkpoint: discarded, never committed.
    pub discarded_rows: u64,
    /// Rows dropped at the seam as already landed.
    pub deduplicated: u64,
    /// The state as last committed (for a full refresh, as it will commit with its snapshot).
    pub committed: StreamState,
    /// A full refresh's new snapshot, for the caller to commit or discard once it
    /// knows how the call ended.
    pub snapshot: Option<Snapshot>,
    /// The step that poisoned the stream, if one did: a call that then ends well
    /// has still not delivered what it read.
    pub failure: Option<String>,
}

/// What a full refresh's checkpoints gathered: every file they staged, and the
/// state of the last. It commits whole ([`delivery::commit_snapshot`]) or not at all.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub files: Vec<StagedFile>,
    pub state: StreamState,
}

/// Rows staged since the last checkpoint (none right after one).
struct Pending {
    rows: u64,
    /// The stream's columns so far, including what is staged.
    schema: Option<Schema>,
}

enum State {
    Pending(Pending),
    /// A step failed: nothing more commits in this call.
    Poisoned {
        step: Step,
        cause: Arc<StreamError>,
        /// Rows staged and never to be committed by this call.
        discarded: u64,
    },
}

pub struct StreamOutput {
    spec: StreamSpec,
    intake: Intake,
    destination: Destination,
    writer: StreamWriter,
    /// The cursor column's highest value and the seam, when the stream has a cursor.
    tracker: Option<CursorTracker>,
    committed: StreamState,
    state: State,
    counts: Counts,
    progress: StreamProgress,
    /// A full refresh's files so far (see [`Destination::refresh`]).
    held: Vec<StagedFile>,
    /// An API page's records decoding on the blocking pool (see [`StreamOutput::emit_page`]).
    decoding: Option<Decoding>,
    /// The pages `emit_page` took in this call, for messages.
    pages: u64,
}

/// Runs a decoder on tokio's blocking pool, off the runtime thread that every
/// stream's connector shares; a decoder that panics gave up on its input.
async fn off_thread<T: Send + 'static>(
    decode: impl FnOnce() -> Result<T, rows::RowsError> + Send + 'static,
) -> Result<T, rows::RowsError> {
    tokio::task::spawn_blocking(decode).await.unwrap_or_else(|e| Err(gave_up(&e)))
}

fn gave_up(e: &tokio::task::JoinError) -> rows::RowsError {
    rows::RowsError::Malformed(format!("the decoder gave up ({e})"))
}

/// A page's records being decoded while the connector fetches the next page.
struct Decoding {
    /// The records the page holds, for the rows discarded if the call ends first.
    rows: u64,
    page: u64,
    task: tokio::task::JoinHandle<Result<Vec<RecordBatch>, rows::RowsError>>,
}

impl StreamOutput {
    pub fn new(
        spec: StreamSpec,
        intake: Intake,
        committed: StreamState,
        writer: StreamWriter,
        destination: Destination,
        progress: StreamProgress,
    ) -> Self {
        let tracker = spec
            .cursor_field
            .clone()
            .map(|c| CursorTracker::new(c, spec.primary_key.clone(), committed.seam.as_ref(), destination.phase));
        let state = State::Pending(Pending { rows: 0, schema: committed.schema.clone() });
        StreamOutput {
            spec,
            intake,
            destination,
            writer,
            tracker,
            committed,
            state,
            counts: Counts::default(),
            progress,
            held: Vec::new(),
            decoding: None,
            pages: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The declared columns, for decoders.
    pub fn declared(&self) -> Option<&SchemaRef> {
        self.spec.declared.as_ref()
    }

    /// The stream's columns so far (declared, inferred and evolved), while it takes rows:
    /// what a decoder may decode into without inferring again.
    pub fn schema_so_far(&self) -> Option<&Schema> {
        match &self.state {
            State::Pending(p) => p.schema.as_ref(),
            State::Poisoned { .. } => None,
        }
    }

    /// What the stream's decoders may take on.
    pub fn intake(&self) -> Intake {
        self.intake
    }

    /// Stages batches; returns the rows staged (after seam deduplication).
    /// Any failure poisons the stream. Waits (yielding the runtime thread) while
    /// the stream's encoder queue is full.
    pub async fn emit(&mut self, step: Step, batches: Vec<RecordBatch>) -> Result<u64, StreamError> {
        self.settle().await?;
        self.stage(step, batches).await
    }

    /// JSON rows (NDJSON or an array), decoded on the blocking pool into the
    /// stream's schema so far, then staged; returns the rows read. The runtime
    /// thread stays free for the other streams while a large emit decodes.
    pub async fn emit_json(&mut self, json: Vec<u8>) -> Result<u64, StreamError> {
        self.settle().await?;
        if !matches!(self.state, State::Pending(_)) {
            return Err(self.refusal(Step::Emit));
        }
        let (declared, known, intake) = (self.spec.declared.clone(), self.schema_so_far().cloned(), self.intake);
        let decoded = off_thread(move || rows::json(&json, declared.as_ref(), known.as_ref(), &intake)).await;
        let batches = decoded
            .map_err(|source| self.poison(Step::Emit, StreamError::Rows { stream: self.spec.name.clone(), source }))?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        self.stage(Step::Emit, batches).await.map(|_| rows)
    }

    /// An Arrow IPC stream, decoded on the blocking pool (as [`emit_json`](Self::emit_json)), then staged.
    pub async fn emit_ipc(&mut self, ipc: Vec<u8>) -> Result<(), StreamError> {
        self.settle().await?;
        if !matches!(self.state, State::Pending(_)) {
            return Err(self.refusal(Step::Emit));
        }
        let max_cells = self.intake.max_emit_cells;
        let decoded = off_thread(move || rows::ipc(&ipc, max_cells)).await;
        let batches = decoded
            .map_err(|source| self.poison(Step::Emit, StreamError::Rows { stream: self.spec.name.clone(), source }))?;
        self.stage(Step::Emit, batches).await.map(|_| ())
    }

    /// An API page's records (`body[records]`, `rows` of them, as the page split
    /// counted) decoded as JSON rows on the blocking pool, and staged at the
    /// stream's next step: the connector fetches the next page meanwhile, so
    /// fetching overlaps decoding, and the runtime thread is free for the other
    /// streams. One page decodes at a time per stream (each decodes into the
    /// schema the ones before it made); what fails poisons the stream and is
    /// returned by its next step, naming the page.
    pub async fn emit_page(
        &mut self,
        body: Vec<u8>,
        records: std::ops::Range<usize>,
        rows: u64,
    ) -> Result<(), StreamError> {
        self.settle().await?;
        if !matches!(self.state, State::Pending(_)) {
            return Err(self.refusal(Step::Emit));
        }
        let (declared, known, intake) = (self.spec.declared.clone(), self.schema_so_far().cloned(), self.intake);
        let task = tokio::task::spawn_blocking(move || {
            let records = body.get(records).unwrap_or_default();
            rows::json(records, declared.as_ref(), known.as_ref(), &intake)
        });
        self.pages += 1;
        self.decoding = Some(Decoding { rows, page: self.pages, task });
        Ok(())
    }

    /// Stages the page [`emit_page`](Self::emit_page) left decoding, if any: every
    /// step of the stream starts here, so rows stage in the order they came.
    pub async fn settle(&mut self) -> Result<(), StreamError> {
        let Some(decoding) = self.decoding.take() else { return Ok(()) };
        let stream = self.spec.name.clone();
        let decoded = decoding.task.await.unwrap_or_else(|e| Err(gave_up(&e)));
        let batches = decoded
            .map_err(|source| self.poison(Step::Emit, StreamError::PageRows { stream, page: decoding.page, source }))?;
        self.stage(Step::Emit, batches).await.map(|_| ())
    }

    /// Drops the page still decoding, if any (its task stops being awaited); returns
    /// the records it held.
    fn abandon_page(&mut self) -> u64 {
        self.decoding.take().map_or(0, |d| {
            d.task.abort();
            d.rows
        })
    }

    /// [`emit`](Self::emit), once any page before the batches is staged.
    async fn stage(&mut self, step: Step, batches: Vec<RecordBatch>) -> Result<u64, StreamError> {
        if !matches!(self.state, State::Pending(_)) {
            return Err(self.refusal(step));
        }
        let mut staged = 0;
        let mut result = Ok(());
        for batch in batches {
            let batch = match self.prepare(step, batch) {
                Ok(batch) => batch,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            if let Err(e) = self.writer.write(&batch).await {
                result = Err(e.into());
                break;
            }
            let rows = batch.num_rows() as u64;
            staged += rows;
            if let State::Pending(pending) = &mut self.state {
                pending.rows += rows;
            }
        }
        self.progress.rows(self.counts.rows + self.pending_rows());
        match result {
            Ok(()) => Ok(staged),
            Err(e) => Err(self.poison(step, e)),
        }
    }

    /// One batch made ready to stage: bounded, conformed to the declared and
    /// evolved schema, deduplicated at the seam.
    fn prepare(&mut self, step: Step, batch: RecordBatch) -> Result<RecordBatch, StreamError> {
        let State::Pending(pending) = &mut self.state else {
            return Err(self.refusal(step));
        };
        let name = &self.spec.name;
        let schema_error = |reason: String| StreamError::Schema { stream: name.clone(), reason };
        let declared_width = self.spec.declared.as_ref().map_or(0, |d| rows::leaf_columns(d.fields()));
        let max_cells = self.intake.max_emit_cells;
        // Checked before anything is allocated for the batch: its rows times every
        // column the host will build for it (declared, its own, lineage).
        let width = declared_width + rows::leaf_columns(batch.schema_ref().fields()) + 2;
        if step == Step::Emit && (batch.num_rows() as u64).saturating_mul(width) > max_cells {
            return Err(schema_error(format!(
                "a batch of {} rows × {width} columns is more than [limits] max_emit_cells = {max_cells}: \
                 emit fewer rows at a time",
                batch.num_rows()
            )));
        }
        schema::check_reserved(batch.schema_ref().fields().iter().map(|f| f.name().as_str())).map_err(schema_error)?;
        let batch = match &self.spec.declared {
            Some(declared) => schema::conform(&batch, declared).map_err(schema_error)?,
            None => batch,
        };
        let batch = schema::storable(batch).map_err(schema_error)?;
        let (batch, evolved) = schema::evolve(pending.schema.as_ref(), batch).map_err(schema_error)?;
        pending.schema = Some(evolved);
        match &mut self.tracker {
            Some(t) => t.apply(batch).map_err(schema_error),
            None => Ok(batch),
        }
    }

    /// Poisons the stream with `error` (from one of its own steps, or found before
    /// the rows reached it: bytes that are not rows, a file that does not decode)
    /// and returns it, for the connector. A stream already poisoned keeps its first failure.
    pub fn poison(&mut self, step: Step, error: StreamError) -> StreamError {
        // A page still decoding never stages now.
        let decoding = self.abandon_page();
        if let State::Pending(pending) = &self.state {
            self.state = State::Poisoned { step, cause: Arc::new(error.clone()), discarded: pending.rows + decoding };
        }
        error
    }

    fn refusal(&self, refused: Step) -> StreamError {
        match &self.state {
            State::Poisoned { step, cause, .. } => {
                StreamError::Poisoned { refused, step: *step, stream: self.spec.name.clone(), cause: cause.clone() }
            }
            State::Pending(_) => unreachable!("only a poisoned stream refuses"),
        }
    }

    /// Counts a file `load` decoded, and the rows it skipped as malformed.
    pub fn loaded(&mut self, bad_rows: u64) {
        self.counts.bad_rows += bad_rows;
        self.counts.loaded += 1;
    }

    /// Commits everything staged since the last checkpoint with `connector_state`
    /// and the new watermark. A failure poisons the stream: what the failed
    /// checkpoint staged never commits in this call (what it recorded as an
    /// intent, recovery completes on the next start, whole).
    pub async fn checkpoint(&mut self, connector_state: String) -> Result<(), StreamError> {
        self.settle().await?;
        let State::Pending(pending) = &self.state else {
            return Err(self.refusal(Step::Checkpoint));
        };
        if serde_json::from_str::<serde::de::IgnoredAny>(&connector_state).is_err() {
            let e = StreamError::StateNotJson { stream: self.spec.name.clone() };
            return Err(self.poison(Step::Checkpoint, e));
        }
        let (rows, schema) = (pending.rows, pending.schema.clone());
        match self.commit(connector_state, rows, schema.clone()).await {
            Ok(files) => {
                self.counts.rows += rows;
                self.counts.files += files;
                self.counts.checkpoints += 1;
                self.state = State::Pending(Pending { rows: 0, schema });
                Ok(())
            }
            Err(e) => Err(self.poison(Step::Checkpoint, e)),
        }
    }

    /// Step 1 of the commit protocol (`delivery`): the staged files complete and
    /// synced; then steps 2-4, whose fsyncs and store flushes run on the blocking
    /// pool so that the other streams go on meanwhile (review D22).
    async fn commit(&mut self, connector_state: String, rows: u64, schema: Option<Schema>) -> Result<u64, StreamError> {
        let files = self.writer.finish().await?;
        let d = &self.destination;
        let mut state = self.committed.clone();
        state.set_connector_state(d.phase, connector_state);
        if let Some(t) = &mut self.tracker {
            (state.watermark, state.seam) = t.commit(state.watermark.take(), state.seam.take());
        }
        state.rows += rows;
        state.schema = schema;
        state.files += files.len() as u64;
        state.updated_at = Some(chrono::Utc::now());
        state.last_run_id = Some(d.run_id.clone());
        let count = files.len() as u64;
        if d.refresh {
            // Held back: the new snapshot replaces the old one only whole.
            self.held.extend(files);
        } else {
            let (sink, store, name, state) = (d.sink.clone(), d.store.clone(), self.spec.name.clone(), state.clone());
            delivery::off_the_runtime(move || delivery::commit(sink.as_ref(), store.as_ref(), &name, &files, state))
                .await?;
        }
        self.committed = state;
        Ok(count)
    }

    /// Rows staged and not yet committed (and, once poisoned, never to be).
    pub fn pending_rows(&self) -> u64 {
        match self.state {
            State::Pending(Pending { rows, .. }) => rows,
            State::Poisoned { discarded, .. } => discarded,
        }
    }

    /// Reports the connector's own measure of progress.
    pub fn progress(&self, done: u64, total: Option<u64>) {
        self.progress.position(done, total);
    }

    /// Ends the stream's output for the call: whatever no checkpoint committed is
    /// discarded (its staged files deleted).
    pub fn finish(mut self) -> StreamOutcome {
        // A page still decoding when the call ends was never checkpointed: its rows are discarded.
        let discarded_rows = self.pending_rows() + self.abandon_page();
        // What no checkpoint took is deleted as the writer drops, with `self`.
        self.progress.finish();
        let failure = match &self.state {
            State::Poisoned { cause, .. } => Some(cause.to_string()),
            State::Pending(_) => None,
        };
        let snapshot = match self.state {
            State::Pending(_) if self.destination.refresh => {
                Some(Snapshot { files: std::mem::take(&mut self.held), state: self.committed.clone() })
            }
            // A poisoned refresh never commits: its files go now.
            _ => {
                self.destination.sink.discard(&self.held);
                None
            }
        };
        StreamOutcome {
            counts: self.counts,
            discarded_rows,
            deduplicated: self.tracker.as_ref().map_or(0, |t| t.deduplicated),
            committed: self.committed,
            snapshot,
            failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Compression;
    use crate::delivery::Intent;
    use crate::progress::Progress;
    use crate::sink::{HiveSink, Lineage, RunOutput};
    use crate::store::{SledStore, StoreError};
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A store that fails one chosen step, once, as a full disk or a crash would.
    struct Flaky {
        inner: SledStore,
        fail_complete: AtomicBool,
    }

    impl StateStore for Flaky {
        fn get(&self, stream: &str) -> Result<StreamState, StoreError> {
            self.inner.get(stream)
        }
        fn streams(&self) -> Result<Vec<(String, StreamState)>, StoreError> {
            self.inner.streams()
        }
        fn remove(&self, stream: &str) -> Result<(), StoreError> {
            self.inner.remove(stream)
        }
        fn put_intent(&self, intent: &Intent) -> Result<(), StoreError> {
            self.inner.put_intent(intent)
        }
        fn complete_intent(&self, intent: &Intent) -> Result<(), StoreError> {
            if self.fail_complete.swap(false, Ordering::SeqCst) {
                return Err(StoreError {
                    path: "flaky".into(),
                    message: "no space left on device".into(),
                    incompatible: false,
                });
            }
            self.inner.complete_intent(intent)
        }
        fn intents(&self) -> Result<Vec<Intent>, StoreError> {
            self.inner.intents()
        }
        fn drop_intent(&self, stream: &str) -> Result<(), StoreError> {
            self.inner.drop_intent(stream)
        }
        fn get_secret(&self, credential: &str) -> Result<Option<String>, StoreError> {
            self.inner.get_secret(credential)
        }
        fn put_secret(&self, credential: &str, value: &str) -> Result<(), StoreError> {
            self.inner.put_secret(credential, value)
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        lake: std::path::PathBuf,
        sink: Arc<HiveSink>,
        store: Arc<Flaky>,
    }

    fn fixture(fail_complete: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let sink = Arc::new(HiveSink::new(&lake, "p"));
        let inner = SledStore::open(&dir.path().join("state"), "p").unwrap();
        let store = Arc::new(Flaky { inner, fail_complete: AtomicBool::new(fail_complete) });
        Fixture { _dir: dir, lake, sink, store }
    }

    fn stream(f: &Fixture) -> StreamOutput {
        let spec = StreamSpec {
            name: "orders".into(),
            declared: None,
            cursor_field: Some("id".into()),
            primary_key: vec!["id".into()],
        };
        let lineage = Lineage {
            connector: "c".into(),
            version: "1".into(),
            sha256: "s".into(),
            config_hash: "h".into(),
            pipeline: "p".into(),
            primary_key: vec!["id".into()],
            cursor_field: Some("id".into()),
        };
        let run = RunOutput::new(f.sink.clone(), Compression::Zstd, "run1".into(), chrono::Utc::now());
        let destination = Destination {
            sink: f.sink.clone(),
            store: f.store.clone(),
            phase: PhaseKind::Source,
            run_id: "run1".into(),
            refresh: false,
        };
        let committed = f.store.get("orders").unwrap();
        StreamOutput::new(
            spec,
            Intake { max_json_depth: 64, max_emit_cells: 1 << 20, max_record_bytes: 1 << 20 },
            committed,
            StreamWriter::new("orders", run, lineage),
            destination,
            Progress::new(false).stream("source", "orders"),
        )
    }

    fn ids(range: std::ops::RangeInclusive<i64>) -> RecordBatch {
        RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from_iter_values(range)) as ArrayRef)]).unwrap()
    }

    fn committed_files(lake: &Path) -> usize {
        walkdir::WalkDir::new(lake.join("orders")).into_iter().flatten().filter(|e| e.file_type().is_file()).count()
    }

    #[tokio::test]
    async fn a_checkpoint_commits_rows_files_and_watermark_together() {
        let f = fixture(false);
        let mut s = stream(&f);
        assert_eq!(s.emit(Step::Emit, vec![ids(1..=3), ids(4..=5)]).await.unwrap(), 5);
        s.checkpoint("{\"page\":1}".into()).await.unwrap();
        s.emit(Step::Emit, vec![ids(6..=6)]).await.unwrap();
        let outcome = s.finish();
        assert_eq!((outcome.counts.rows, outcome.counts.checkpoints, outcome.discarded_rows), (5, 1, 1));
        let state = f.store.get("orders").unwrap();
        assert_eq!((state.rows, state.files, state.watermark), (5, 1, Some(Watermark::Int(5))));
        assert_eq!(state.source_state.as_deref(), Some("{\"page\":1}"));
        assert_eq!(committed_files(&f.lake), 1);
    }

    /// Regression: a checkpoint that failed did not poison its stream; a connector
    /// that ignored the error and checkpointed again overwrote the first intent, and
    /// rows, files and watermark stopped agreeing. Now the failed checkpoint poisons
    /// the stream, the second is refused, and recovery completes the first one whole.
    #[tokio::test]
    async fn a_failed_checkpoint_poisons_the_stream() {
        let f = fixture(true);
        let mut s = stream(&f);
        s.emit(Step::Emit, vec![ids(1..=3)]).await.unwrap();
        let err = s.checkpoint("{}".into()).await.unwrap_err().to_string();
        assert!(err.contains("no space left on device"), "{err}");

        let again = s.emit(Step::Emit, vec![ids(4..=9)]).await.unwrap_err().to_string();
        assert!(again.contains("emit refused: an earlier checkpoint of stream `orders` failed"), "{again}");
        let refused = s.checkpoint("{}".into()).await.unwrap_err().to_string();
        assert!(refused.contains("checkpoint refused: an earlier checkpoint"), "{refused}");
        let outcome = s.finish();
        assert_eq!((outcome.counts.rows, outcome.counts.checkpoints), (0, 0));
        assert_eq!(outcome.discarded_rows, 3);
        assert_eq!(f.store.get("orders").unwrap(), StreamState::default(), "nothing committed in the call");

        // The first checkpoint's intent was recorded: the next start completes it whole.
        delivery::recover(f.sink.as_ref(), f.store.as_ref()).unwrap();
        let state = f.store.get("orders").unwrap();
        assert_eq!((state.rows, state.files, state.watermark), (3, 1, Some(Watermark::Int(3))));
        assert_eq!(committed_files(&f.lake), 1);
    }

    #[tokio::test]
    async fn a_failed_emit_refuses_the_checkpoint_after_it() {
        let f = fixture(false);
        let mut s = stream(&f);
        s.emit(Step::Emit, vec![ids(1..=2)]).await.unwrap();
        let text = RecordBatch::try_from_iter([("id", Arc::new(StringArray::from(vec!["x"])) as ArrayRef)]).unwrap();
        let err = s.emit(Step::Emit, vec![text]).await.unwrap_err().to_string();
        assert!(err.contains("column `id` changed type"), "{err}");
        let refused = s.checkpoint("{}".into()).await.unwrap_err().to_string();
        assert!(refused.contains("checkpoint refused: an earlier emit of stream `orders` failed"), "{refused}");
        assert_eq!(s.finish().discarded_rows, 2);
        assert_eq!(committed_files(&f.lake), 0);
        assert_eq!(f.store.get("orders").unwrap(), StreamState::default());
    }

    /// Regression: `_HW_RUN_ID` from a connector won over the host's `_hw_run_id`
    /// for case-insensitive readers.
    #[tokio::test]
    async fn lineage_columns_cannot_be_forged_in_any_case() {
        for name in ["_hw_run_id", "_HW_RUN_ID", "_Hw_Extracted_At", "_hW_anything"] {
            let f = fixture(false);
            let mut s = stream(&f);
            let forged = RecordBatch::try_from_iter([
                ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
                (name, Arc::new(StringArray::from(vec!["forged"])) as ArrayRef),
            ])
            .unwrap();
            let err = s.emit(Step::Emit, vec![forged]).await.unwrap_err().to_string();
            assert!(err.contains(&format!("column `{name}`")) && err.contains("reserved"), "{err}");
        }
    }

    /// Regression: an IPC batch claiming billions of rows of a null column is a few
    /// hundred bytes, and the host allocated gigabytes for it (lineage, casts).
    #[tokio::test]
    async fn a_batch_past_the_cell_limit_is_refused_before_anything_is_allocated() {
        let f = fixture(false);
        let mut s = stream(&f);
        let huge = RecordBatch::try_from_iter([(
            "id",
            arrow::array::new_null_array(&arrow::datatypes::DataType::Null, 4_000_000_000) as ArrayRef,
        )])
        .unwrap();
        let err = s.emit(Step::Emit, vec![huge]).await.unwrap_err().to_string();
        assert!(err.contains("4000000000 rows × 3 columns") && err.contains("max_emit_cells"), "{err}");
    }

    #[tokio::test]
    async fn a_state_that_is_not_json_poisons_too() {
        let f = fixture(false);
        let mut s = stream(&f);
        s.emit(Step::Emit, vec![ids(1..=1)]).await.unwrap();
        assert!(s.checkpoint("not json".into()).await.unwrap_err().to_string().contains("not a JSON document"));
        // Review T8: the second checkpoint is refused, and nothing at all commits.
        let refused = s.checkpoint("{}".into()).await.unwrap_err().to_string();
        assert!(refused.contains("checkpoint refused"), "{refused}");
        let outcome = s.finish();
        assert_eq!((outcome.counts.rows, outcome.counts.checkpoints, outcome.discarded_rows), (0, 0, 1));
        assert_eq!(f.store.get("orders").unwrap(), StreamState::default());
        assert_eq!(committed_files(&f.lake), 0);
    }
}
