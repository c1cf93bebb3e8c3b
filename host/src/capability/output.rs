//! `headwater:connector/output`: rows in (Arrow IPC or NDJSON), checkpoints,
//! logs and progress. Rows are conformed to the stream's declared schema and
//! staged by the sink; a checkpoint commits them with the connector's state and
//! the new watermark through the delivery protocol.

use crate::bindings::headwater::connector::output::{Host, LoadStats, RecordsPage};
use crate::bindings::{Level, WitError};
use crate::decode;
use crate::delivery;
use crate::json_page;
use crate::progress::StreamProgress;
use crate::roots::{FileRoots, Located};
use crate::schema::conform;
use crate::schema::evolve;
use crate::seam::CursorTracker;
use crate::sink::StreamWriter;
use crate::store::{PhaseKind, StateStore, StreamState};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::Utc;
use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

/// Longest log line kept from a connector.
const MAX_LOG_BYTES: usize = 4096;

/// One stream a call may write to.
pub struct StreamOutput {
    /// Declared columns from `discover`, if any.
    pub declared: Option<SchemaRef>,
    /// The cursor column's highest value and the seam, when the stream has a cursor.
    tracker: Option<CursorTracker>,
    pub writer: StreamWriter,
    /// Committed state as of the last checkpoint (or the call's start).
    pub committed: StreamState,
    pending_rows: u64,
    /// The stream's columns so far, including what is pending.
    schema: Option<arrow::datatypes::Schema>,
    /// Rows skipped as malformed by `load` (with `bad_rows = "skip"`), this call.
    pub bad_rows: u64,
    /// Rows and files committed during this call.
    pub rows_committed: u64,
    pub files_committed: u64,
    pub checkpoints: u64,
    /// The first emit that failed: every later checkpoint fails with it, so rows
    /// cannot be lost by a connector that ignores an error and checkpoints anyway.
    poisoned: Option<WitError>,
    pub progress: StreamProgress,
}

impl StreamOutput {
    pub fn new(
        declared: Option<SchemaRef>,
        cursor_field: Option<String>,
        primary_key: Vec<String>,
        writer: StreamWriter,
        committed: StreamState,
        progress: StreamProgress,
    ) -> Self {
        let tracker = cursor_field.map(|c| CursorTracker::new(c, primary_key, committed.seam.as_ref()));
        StreamOutput {
            declared,
            tracker,
            schema: committed.schema.clone(),
            bad_rows: 0,
            writer,
            committed,
            pending_rows: 0,
            rows_committed: 0,
            files_committed: 0,
            checkpoints: 0,
            poisoned: None,
            progress,
        }
    }

    /// Rows emitted and not yet committed.
    pub fn pending_rows(&self) -> u64 {
        self.pending_rows
    }

    /// Rows dropped at the seam as already landed.
    pub fn deduplicated(&self) -> u64 {
        self.tracker.as_ref().map_or(0, |t| t.deduplicated)
    }
}

pub struct OutputCtx {
    connector: String,
    roots: Arc<FileRoots>,
    /// Files decoded by `load` during the call.
    pub loaded: u64,
    phase: PhaseKind,
    run_id: String,
    store: Option<Arc<StateStore>>,
    pub streams: BTreeMap<String, StreamOutput>,
}

impl OutputCtx {
    pub fn new(
        connector: &str,
        phase: PhaseKind,
        run_id: &str,
        store: Arc<StateStore>,
        roots: Arc<FileRoots>,
        streams: BTreeMap<String, StreamOutput>,
    ) -> Self {
        OutputCtx {
            connector: connector.to_string(),
            roots,
            loaded: 0,
            phase,
            run_id: run_id.to_string(),
            store: Some(store),
            streams,
        }
    }

    /// For calls that may not write (spec, check, discover).
    pub fn none(connector: &str) -> Self {
        OutputCtx {
            connector: connector.to_string(),
            roots: Arc::default(),
            loaded: 0,
            phase: PhaseKind::Source,
            run_id: String::new(),
            store: None,
            streams: BTreeMap::new(),
        }
    }

    /// Drops everything emitted and not checkpointed (after a failed call).
    pub fn discard(&mut self) {
        for s in self.streams.values_mut() {
            s.writer.discard();
            s.pending_rows = 0;
            s.schema = s.committed.schema.clone();
            if let Some(t) = &mut s.tracker {
                t.discard();
            }
        }
    }

    fn stream(&mut self, name: &str) -> Result<&mut StreamOutput, WitError> {
        if !self.streams.contains_key(name) {
            let known: Vec<&str> = self.streams.keys().map(String::as_str).collect();
            return Err(WitError::Denied(format!(
                "stream `{name}` is not being read by this call (streams: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        }
        Ok(self.streams.get_mut(name).expect("checked above"))
    }

    fn write_batches(&mut self, name: &str, batches: Vec<RecordBatch>) -> Result<(), WitError> {
        let out = self.stream(name)?;
        if let Some(e) = &out.poisoned {
            return Err(e.clone());
        }
        let result: Result<(), WitError> = (|| {
            for batch in batches {
                let batch = match &out.declared {
                    Some(schema) => {
                        conform(&batch, schema).map_err(|e| WitError::Data(format!("stream `{name}`: {e}")))?
                    }
                    None => batch,
                };
                let (batch, schema) =
                    evolve(out.schema.as_ref(), batch).map_err(|e| WitError::Data(format!("stream `{name}`: {e}")))?;
                out.schema = Some(schema);
                let batch = match &mut out.tracker {
                    Some(t) => t.apply(batch).map_err(|e| WitError::Data(format!("stream `{name}`: {e}")))?,
                    None => batch,
                };
                out.writer.write(&batch).map_err(|e| WitError::Other(e.to_string()))?;
                out.pending_rows += batch.num_rows() as u64;
            }
            out.progress.rows(out.rows_committed + out.pending_rows);
            Ok(())
        })();
        if let Err(e) = &result {
            out.poisoned = Some(e.clone());
        }
        result
    }

    fn decode_ipc(name: &str, bytes: &[u8]) -> Result<Vec<RecordBatch>, WitError> {
        let reader = arrow::ipc::reader::StreamReader::try_new(Cursor::new(bytes), None)
            .map_err(|e| WitError::Data(format!("stream `{name}`: emitted bytes are not an Arrow IPC stream: {e}")))?;
        reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| WitError::Data(format!("stream `{name}`: bad Arrow IPC batch: {e}")))
    }

    /// JSON rows (NDJSON or one array of objects) to batches with the declared
    /// schema. A field the schema does not declare is not dropped: the rows are read
    /// again with that field added as a nullable column (the fast path, strict
    /// decoding, costs nothing when no field is new).
    fn decode_json(name: &str, declared: Option<&SchemaRef>, bytes: &[u8]) -> Result<Vec<RecordBatch>, WitError> {
        let malformed =
            |e: &dyn std::fmt::Display| WitError::Data(format!("stream `{name}`: emitted JSON is malformed: {e}"));
        let inferred = || -> Result<arrow::datatypes::Schema, WitError> {
            if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
                let rows: Vec<serde_json::Value> = serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
                arrow::json::reader::infer_json_schema_from_iterator(rows.iter().map(Ok)).map_err(|e| malformed(&e))
            } else {
                arrow::json::reader::infer_json_schema(Cursor::new(bytes), None)
                    .map(|(schema, _)| schema)
                    .map_err(|e| malformed(&e))
            }
        };
        let decode = |schema: SchemaRef, strict: bool| {
            arrow::json::ReaderBuilder::new(schema)
                .with_batch_size(64 * 1024)
                .with_strict_mode(strict)
                .with_flatten(true)
                .build(Cursor::new(bytes))
                .and_then(|reader| reader.collect::<Result<Vec<_>, _>>())
        };
        let fits = |e: arrow::error::ArrowError| {
            WitError::Data(format!("stream `{name}`: a record does not fit the stream's schema: {e}"))
        };
        let Some(declared) = declared else {
            return decode(Arc::new(inferred()?), false).map_err(fits);
        };
        match decode(declared.clone(), true) {
            Ok(batches) => Ok(batches),
            Err(e) if e.to_string().contains("missing from schema") => {
                decode(Arc::new(crate::schema::with_undeclared(declared, &inferred()?)), false).map_err(fits)
            }
            Err(e) => Err(fits(e)),
        }
    }

    fn commit(&mut self, name: &str, connector_state: String) -> Result<(), WitError> {
        let phase = self.phase;
        let run_id = self.run_id.clone();
        let store =
            self.store.clone().ok_or_else(|| WitError::Denied("checkpoint is only allowed during read".into()))?;
        let out = self.stream(name)?;
        if let Some(e) = &out.poisoned {
            return Err(WitError::Data(format!("checkpoint refused: an earlier emit to `{name}` failed: {e}")));
        }
        let files = out.writer.finish().map_err(|e| WitError::Other(e.to_string()))?;
        let mut state = out.committed.clone();
        state.set_connector_state(phase, connector_state);
        if let Some(t) = &mut out.tracker {
            (state.watermark, state.seam) = t.commit(state.watermark.take(), state.seam.take());
        }
        state.rows += out.pending_rows;
        state.schema = out.schema.clone();
        state.files += files.len() as u64;
        state.updated_at = Some(Utc::now());
        state.last_run_id = Some(run_id);
        delivery::commit(&store, name, &files, state.clone()).map_err(|e| WitError::Other(e.to_string()))?;
        out.committed = state;
        out.rows_committed += out.pending_rows;
        out.files_committed += files.len() as u64;
        out.checkpoints += 1;
        out.pending_rows = 0;
        Ok(())
    }
}

impl Host for OutputCtx {
    async fn emit(&mut self, stream: String, arrow_ipc: Vec<u8>) -> wasmtime::Result<Result<(), WitError>> {
        let batches = match Self::decode_ipc(&stream, &arrow_ipc) {
            Ok(b) => b,
            Err(e) => return Ok(Err(self.poison(&stream, e))),
        };
        Ok(self.write_batches(&stream, batches))
    }

    async fn emit_json(&mut self, stream: String, json: Vec<u8>) -> wasmtime::Result<Result<u64, WitError>> {
        Ok(self.emit_json_bytes(&stream, &json))
    }

    async fn emit_records(
        &mut self,
        stream: String,
        body: Vec<u8>,
        records: String,
    ) -> wasmtime::Result<Result<RecordsPage, WitError>> {
        let page = match json_page::split(&body, &records) {
            Ok(p) => p,
            Err(e) => return Ok(Err(WitError::Data(e))),
        };
        let Some(raw) = page.records.filter(|r| *r != b"null") else {
            return Ok(Err(WitError::Data(format!(
                "the page has no records at `{records}`: check the stream's `records` pointer"
            ))));
        };
        if raw.first() != Some(&b'[') {
            let start = String::from_utf8_lossy(&raw[..raw.len().min(80)]).into_owned();
            return Ok(Err(WitError::Data(format!("`{records}` is not an array of records: {start}"))));
        }
        let rest = page.skeleton.to_string();
        Ok(self.emit_json_bytes(&stream, raw).map(|rows| RecordsPage { rows, rest }))
    }

    async fn load(
        &mut self,
        stream: String,
        root: String,
        path: String,
        options: String,
    ) -> wasmtime::Result<Result<LoadStats, WitError>> {
        Ok(self.load_file(&stream, &root, &path, &options).await.map(|s| LoadStats {
            rows: s.rows,
            bad_rows: s.bad_rows,
            bytes: s.bytes,
        }))
    }

    async fn checkpoint(&mut self, stream: String, state: String) -> wasmtime::Result<Result<(), WitError>> {
        if serde_json::from_str::<serde_json::Value>(&state).is_err() {
            return Ok(Err(WitError::Data(format!("checkpoint of `{stream}`: state is not a JSON document"))));
        }
        Ok(self.commit(&stream, state))
    }

    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let mut message = message;
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let c = self.connector.as_str();
        match level {
            Level::Trace => tracing::trace!(connector = c, "{message}"),
            Level::Debug => tracing::debug!(connector = c, "{message}"),
            Level::Info => tracing::info!(connector = c, "{message}"),
            Level::Warn => tracing::warn!(connector = c, "{message}"),
            Level::Error => tracing::error!(connector = c, "{message}"),
        }
        Ok(())
    }

    async fn progress(&mut self, stream: String, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.progress.position(done, total);
        }
        Ok(())
    }
}

impl OutputCtx {
    /// JSON rows (NDJSON or an array) into the stream; returns the rows read.
    fn emit_json_bytes(&mut self, stream: &str, json: &[u8]) -> Result<u64, WitError> {
        let declared = self.stream(stream)?.declared.clone();
        let batches = Self::decode_json(stream, declared.as_ref(), json).map_err(|e| self.poison(stream, e))?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        self.write_batches(stream, batches).map(|()| rows)
    }
}

/// Streams an object into a temporary file (deleted when dropped).
async fn download(
    store: &dyn object_store::ObjectStore,
    key: &object_store::path::Path,
    path: &str,
    root: &str,
) -> Result<tempfile::NamedTempFile, WitError> {
    use futures::StreamExt;
    use object_store::ObjectStoreExt;
    use std::io::Write;
    let failed =
        |e: &dyn std::fmt::Display| WitError::Transient(format!("downloading `{path}` from root `{root}`: {e}"));
    let mut chunks = match store.get(key).await {
        Ok(got) => got.into_stream(),
        Err(object_store::Error::NotFound { .. }) => {
            return Err(WitError::Other(format!("`{path}` does not exist in root `{root}`")));
        }
        Err(e) => return Err(failed(&e)),
    };
    let mut tmp = tempfile::NamedTempFile::new().map_err(|e| failed(&e))?;
    while let Some(chunk) = chunks.next().await {
        tmp.write_all(&chunk.map_err(|e| failed(&e))?).map_err(|e| failed(&e))?;
    }
    tmp.flush().map_err(|e| failed(&e))?;
    Ok(tmp)
}

impl OutputCtx {
    /// Decodes a granted file natively into the stream (see [`crate::decode`]). An
    /// object is first streamed to a temporary file, so memory stays bounded.
    async fn load_file(
        &mut self,
        name: &str,
        root: &str,
        path: &str,
        options: &str,
    ) -> Result<decode::LoadStats, WitError> {
        let options: decode::LoadOptions = serde_json::from_str(if options.trim().is_empty() { "{}" } else { options })
            .map_err(|e| WitError::Config(format!("load options for `{path}`: {e}")))?;
        let declared = self.stream(name)?.declared.clone();
        let (real, _download) = match self.roots.locate(root, path).await? {
            Located::Local(p) => (p, None),
            Located::Object { store, path: key } => {
                let tmp = download(store.as_ref(), &key, path, root).await?;
                (tmp.path().to_path_buf(), Some(tmp))
            }
            Located::Downloaded(tmp) => (tmp.path().to_path_buf(), Some(tmp)),
            Located::Fetched(body) => {
                let failed = |e: std::io::Error| WitError::Other(format!("staging `{path}` from root `{root}`: {e}"));
                let mut tmp = tempfile::NamedTempFile::new().map_err(failed)?;
                std::io::Write::write_all(&mut tmp, &body).map_err(failed)?;
                (tmp.path().to_path_buf(), Some(tmp))
            }
        };
        self.loaded += 1;
        let mut failed: Option<WitError> = None;
        let mut sink = |batch: RecordBatch| {
            self.write_batches(name, vec![batch]).map_err(|e| {
                let text = format!("{path}: {}", e.describe());
                failed = Some(e);
                text
            })
        };
        let result = decode::load(&real, path, &options, declared.as_ref(), &mut sink);
        match result {
            Ok(stats) => {
                if let Some(out) = self.streams.get_mut(name) {
                    out.bad_rows += stats.bad_rows;
                }
                Ok(stats)
            }
            // A batch the stream refused: that error, with the file named.
            Err(text) if failed.is_some() => Err(WitError::Data(text)),
            Err(text) => Err(self.poison(name, WitError::Data(text))),
        }
    }

    /// Records the first failure of a stream, so that no later checkpoint can commit around it.
    fn poison(&mut self, stream: &str, error: WitError) -> WitError {
        if let Some(s) = self.streams.get_mut(stream) {
            s.poisoned.get_or_insert(error.clone());
        }
        error
    }
}
