//! `headwater:connector/output`: the WIT adapter over the streams' data path
//! (`crate::stream`). It turns the bytes a connector hands over into batches
//! (Arrow IPC, JSON, an API page split, a file decoded by `load`), hands them
//! to the stream, and passes checkpoints, logs and progress on. Every failure
//! reaches the stream, which poisons itself, and the connector, as a WIT error.

use super::files::local_file;
use super::tape::Tape;
use crate::bindings::headwater::connector::output::{Host, LoadOptions, LoadStats, RecordsPage};
use crate::bindings::{Level, WitError};
use crate::load;
use crate::roots::{FileRoots, LocalFile, RootError};
use crate::stream::{self, Step, StreamError, StreamOutcome, StreamOutput};
use crate::untrusted_text;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Batches of a file decoded ahead of the stream that takes them.
const DECODED_AHEAD: usize = 2;

/// Longest log line kept from a connector.
const MAX_LOG_BYTES: usize = 4096;

/// Log bytes kept from one call: a flood beyond this is dropped (and said once).
const MAX_LOG_BYTES_PER_CALL: usize = 1 << 20;

pub struct OutputCtx {
    connector: String,
    roots: Arc<FileRoots>,
    /// Records the files `load` reads, or answers them from a recording.
    tape: Option<Arc<Tape>>,
    /// The streams this call may write; none for calls that may not write.
    streams: BTreeMap<String, StreamOutput>,
    /// Log bytes kept so far in this call, and whether some were dropped.
    logged: usize,
    log_cut: bool,
    /// The slice of a sliced stream this worker owns: `load` takes only its files.
    slice: Option<crate::shard::Shard>,
}

impl OutputCtx {
    /// Output for a `read` of `streams`, loading files from `roots`.
    pub fn for_read(connector: &str, roots: Arc<FileRoots>, streams: Vec<StreamOutput>) -> Self {
        let streams = streams.into_iter().map(|s| (s.name().to_string(), s)).collect();
        OutputCtx {
            connector: connector.to_string(),
            roots,
            tape: None,
            streams,
            logged: 0,
            log_cut: false,
            slice: None,
        }
    }

    /// `load` takes only the files of `shard`'s slice (see `FilesCtx::with_slice`).
    pub fn with_slice(mut self, shard: Option<crate::shard::Shard>) -> Self {
        self.slice = shard;
        self
    }

    /// Records the files `load` reads on `tape`, or answers them from it.
    pub fn with_tape(mut self, tape: Option<Arc<Tape>>) -> Self {
        self.tape = tape;
        self
    }

    /// For calls that may not write (spec, check, discover).
    pub fn none(connector: &str) -> Self {
        OutputCtx {
            connector: connector.to_string(),
            roots: Arc::default(),
            tape: None,
            streams: BTreeMap::new(),
            logged: 0,
            log_cut: false,
            slice: None,
        }
    }

    /// Ends every stream's output: what no checkpoint committed is discarded.
    pub fn finish(self) -> BTreeMap<String, StreamOutcome> {
        self.streams.into_iter().map(|(name, s)| (name, s.finish())).collect()
    }

    fn stream(&mut self, name: &str) -> Result<&mut StreamOutput, StreamError> {
        if !self.streams.contains_key(name) {
            let known: Vec<&str> = self.streams.keys().map(String::as_str).collect();
            return Err(StreamError::NotRead {
                stream: name.to_string(),
                reading: if known.is_empty() { "none".to_string() } else { known.join(", ") },
            });
        }
        Ok(self.streams.get_mut(name).expect("checked above"))
    }

    /// Splits an API page: the rest goes back to the connector at once, for its
    /// next request, and the records array decodes meanwhile (`StreamOutput::emit_page`).
    async fn emit_records(&mut self, name: &str, body: Vec<u8>, records: &str) -> Result<RecordsPage, StreamError> {
        let out = self.stream(name)?;
        let max_segments = out.intake().max_json_depth;
        let shown = || crate::untrusted_text::one_line(&records.chars().take(200).collect::<String>());
        let split = stream::split_page(&body, records, max_segments).and_then(|page| match page.records {
            Some(raw) if raw != b"null" && raw.first() == Some(&b'[') => {
                let rows = stream::page_elements(raw).try_fold(0u64, |n, e| e.map(|_| n + 1))?;
                // `raw` is a slice of `body`: where it starts, to hand `body` over whole.
                let start = raw.as_ptr() as usize - body.as_ptr() as usize;
                Ok((start..start + raw.len(), rows, page.skeleton))
            }
            Some(raw) if raw != b"null" => {
                let start = crate::untrusted_text::one_line(&String::from_utf8_lossy(&raw[..raw.len().min(80)]));
                Err(format!("`{}` is not an array of records: {start}", shown()))
            }
            _ => Err(format!("the page has no records at `{}`: check the stream's `records` pointer", shown())),
        });
        let (range, rows, rest) = match split {
            Ok(s) => s,
            Err(reason) => return Err(out.poison(Step::Emit, StreamError::Schema { stream: name.to_string(), reason })),
        };
        out.emit_page(body, range, rows).await?;
        Ok(RecordsPage { rows, rest: rest.to_string() })
    }

    /// Decodes a granted file natively into the stream; a remote file is first
    /// streamed to a temporary file.
    ///
    /// The file decodes on tokio's blocking pool, a couple of batches ahead of the
    /// stream, which takes them here on the runtime thread: a large file neither
    /// stalls the other streams nor escapes `call_timeout_s` (the call's timeout
    /// fires at the next batch, and the decoder stops at its next one), and files
    /// of concurrent streams decode on several cores (review D22).
    async fn load(
        &mut self,
        name: &str,
        root: &str,
        path: &str,
        options: &LoadOptions,
    ) -> Result<LoadStats, StreamError> {
        self.stream(name)?;
        if let Some(shard) = self.slice
            && let Err(e) = shard.check_file(root, path)
        {
            let out = self.stream(name)?;
            return Err(out.poison(Step::Load, e.into()));
        }
        let staged = match &self.tape {
            None => self.roots.clone().stage(root, path).await.map_err(StreamError::from),
            // Recorded and replayed, a failure keeps its message (its kind is `other`).
            Some(tape) => local_file(&self.roots, Some(tape), root, path)
                .await
                .map_err(|e| RootError::Io { root: root.into(), path: path.into(), reason: e.describe() }.into()),
        };
        let out = self.stream(name)?;
        let file = staged.map_err(|e| out.poison(Step::Load, e))?;
        self.decode(name, path, options, move || Ok(file)).await
    }

    /// Decodes a file the connector hands over whole, as [`load`](Self::load)
    /// decodes a granted one (written to the scratch folder first, off the runtime thread).
    async fn load_bytes(
        &mut self,
        name: &str,
        file_name: &str,
        bytes: Vec<u8>,
        options: &LoadOptions,
    ) -> Result<LoadStats, StreamError> {
        self.stream(name)?;
        let (roots, shown) = (self.roots.clone(), file_name.to_string());
        self.decode(name, file_name, options, move || {
            roots
                .stage_bytes(&bytes)
                .map_err(|e| load::LoadError::File { file: shown, reason: format!("staging it: {e}") })
        })
        .await
    }

    /// Decodes the file `open` gives on tokio's blocking pool, a couple of batches
    /// ahead of the stream, which takes them here on the runtime thread (see `load`).
    async fn decode(
        &mut self,
        name: &str,
        path: &str,
        options: &LoadOptions,
        open: impl FnOnce() -> Result<LocalFile, load::LoadError> + Send + 'static,
    ) -> Result<LoadStats, StreamError> {
        let out = self.stream(name)?;
        // A page still decoding fails as itself, not as this file.
        out.settle().await?;
        let (declared, intake, options, shown) =
            (out.declared().cloned(), out.intake(), options.clone(), path.to_string());
        let (batches, mut decoded) = tokio::sync::mpsc::channel(DECODED_AHEAD);
        let decoder = tokio::task::spawn_blocking(move || {
            // `file` (a staged remote file, deleted on drop) lives until the file is decoded.
            let file = open()?;
            let mut opened = load::open(&file.path, &shown, &options, declared.as_ref(), intake)?;
            for batch in opened.by_ref() {
                let batch = batch?;
                if batches.blocking_send(batch).is_err() {
                    break; // the stream refused a batch, or the call ended: stop decoding
                }
            }
            Ok::<_, load::LoadError>(opened.stats())
        });
        while let Some(batch) = decoded.recv().await {
            // The stream poisons itself on a batch it refuses.
            self.stream(name)?
                .emit(Step::Load, vec![batch])
                .await
                .map_err(|e| StreamError::InFile { file: path.to_string(), source: Box::new(e) })?;
        }
        let out = self.stream(name)?;
        let stats = match decoder.await {
            Ok(Ok(stats)) => stats,
            Ok(Err(e)) => return Err(out.poison(Step::Load, e.into())),
            Err(e) => {
                let why = load::LoadError::Panicked { file: path.to_string(), reason: e.to_string() };
                return Err(out.poison(Step::Load, why.into()));
            }
        };
        out.loaded(stats.bad_rows);
        Ok(stats)
    }
}

impl Host for OutputCtx {
    async fn emit(&mut self, stream: String, arrow_ipc: Vec<u8>) -> wasmtime::Result<Result<(), WitError>> {
        let result = match self.stream(&stream) {
            Err(e) => Err(e),
            Ok(out) => out.emit_ipc(arrow_ipc).await,
        };
        Ok(result.map_err(WitError::from))
    }

    async fn emit_json(&mut self, stream: String, json: Vec<u8>) -> wasmtime::Result<Result<u64, WitError>> {
        let result = match self.stream(&stream) {
            Err(e) => Err(e),
            Ok(out) => out.emit_json(json).await,
        };
        Ok(result.map_err(WitError::from))
    }

    async fn emit_records(
        &mut self,
        stream: String,
        body: Vec<u8>,
        records: String,
    ) -> wasmtime::Result<Result<RecordsPage, WitError>> {
        Ok(OutputCtx::emit_records(self, &stream, body, &records).await.map_err(WitError::from))
    }

    async fn load(
        &mut self,
        stream: String,
        root: String,
        path: String,
        options: LoadOptions,
    ) -> wasmtime::Result<Result<LoadStats, WitError>> {
        Ok(OutputCtx::load(self, &stream, &root, &path, &options).await.map_err(WitError::from))
    }

    async fn load_bytes(
        &mut self,
        stream: String,
        name: String,
        bytes: Vec<u8>,
        options: LoadOptions,
    ) -> wasmtime::Result<Result<LoadStats, WitError>> {
        Ok(OutputCtx::load_bytes(self, &stream, &name, bytes, &options).await.map_err(WitError::from))
    }

    async fn checkpoint(&mut self, stream: String, state: String) -> wasmtime::Result<Result<(), WitError>> {
        let result = match self.stream(&stream) {
            Ok(out) => out.checkpoint(state).await,
            Err(e) => Err(e),
        };
        Ok(result.map_err(WitError::from))
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
        if self.logged + message.len() > MAX_LOG_BYTES_PER_CALL {
            if !self.log_cut {
                self.log_cut = true;
                tracing::warn!(
                    connector = self.connector.as_str(),
                    "more than {} KiB of logs in one call: the rest of this call's logs are dropped",
                    MAX_LOG_BYTES_PER_CALL >> 10
                );
            }
            return Ok(());
        }
        self.logged += message.len();
        let message = untrusted_text::one_line(&message);
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
        if let Some(s) = self.streams.get(&stream) {
            s.progress(done, total);
        }
        Ok(())
    }
}
