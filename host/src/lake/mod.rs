//! Table-format sinks (`[sink] format = "delta"`): the table's own log is both
//! where rows land and where each stream's progress lives, so a worker needs no
//! state of its own and many workers can append to one table. [`LakeSink`] is
//! one type implementing both seams of the delivery protocol (`crate::delivery`):
//!
//! - as the [`Sink`], it stages a checkpoint's Parquet files on the worker's own
//!   disk (under its state folder, not in the shared sink), and "publishing"
//!   uploads them into the stream's table folder, where no table reader sees
//!   them until a commit names them;
//! - as the [`StateStore`], completing the intent is that commit: the files,
//!   the shard's transaction and the stream's state in one atomic log entry.
//!   Nothing is recorded before it, so there is nothing to recover: a crash
//!   before the commit leaves unreferenced files (`VACUUM` removes them) and the
//!   next run extracts the checkpoint again from the state the table holds.
//!
//! The format is behind [`TableFormat`]: Delta Lake now ([`delta`]); an Iceberg
//! table (files, snapshot summary properties for the progress, a catalog's
//! atomic swap for the commit) would be a module beside it.

mod delta;
mod merge;

use crate::config::{Pipeline, SinkFormat};
use crate::delivery::Intent;
use crate::objects::Io;
use crate::shard::Shard;
use crate::sink::{Claim, Sink, SinkError, StagedFile, WorkerStaging};
use crate::store::{SledStore, StateStore, StoreError, StreamState};
use arrow_schema::SchemaRef;
use chrono::{DateTime, Utc};
use object_store::ObjectStore;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use url::Url;

/// A table sink failed: which table, and why.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LakeError {
    #[error("table {table}: {message}")]
    At { table: String, message: String },
    /// Another worker committed this shard's next checkpoint (a zombie twin), or
    /// this commit already landed: applying it would duplicate rows.
    #[error(
        "table {table}: transaction `{app_id}` is at version {} in the table, not {} as this worker read it: \
         another worker is running the same shard (or ran it since this one started); this worker's \
         uncommitted rows were not applied, so nothing is duplicated. Run one worker per shard",
        found.map_or("none".to_string(), |v| v.to_string()),
        expected.map_or("none".to_string(), |v| v.to_string())
    )]
    Superseded { table: String, app_id: String, expected: Option<i64>, found: Option<i64> },
}

impl LakeError {
    fn at(table: &Url, message: impl Into<String>) -> LakeError {
        LakeError::At { table: table.to_string(), message: message.into() }
    }
}

/// A data file uploaded and not yet committed.
#[derive(Debug, Clone)]
pub(crate) struct DataFile {
    /// Its name in the stream's table folder.
    pub name: String,
    pub size: u64,
    pub rows: u64,
    pub schema: SchemaRef,
    /// The primary key its writer recorded (`headwater.primary_key`).
    pub primary_key: Vec<String>,
    /// The cursor column its writer recorded (`headwater.cursor_field`).
    pub cursor_field: Option<String>,
    /// A merge stream's change file, still on the worker's disk (not uploaded).
    pub local: Option<PathBuf>,
    /// For a one-column integer or text key: (column, lowest, highest), from the
    /// footer's statistics: a Delta reader's data skipping, and a merge's pruning.
    pub key_bounds: Option<(String, serde_json::Value, serde_json::Value)>,
}

/// A shard's committed progress on a stream, as the table holds it.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The transaction's version: checkpoints committed, counting from 0.
    pub version: i64,
    /// The stream's state ([`StreamState`] as JSON).
    pub state: String,
    /// When it was committed, in milliseconds since the epoch.
    pub committed_at: Option<i64>,
    /// A history table's commit: the merge it feeds (see [`Feed`]).
    pub(crate) feeds: Option<Feed>,
}

/// What a history table's commit (`keep_history`) records of the merge that
/// follows it: the merged table's transaction version that merge commits, and
/// whether it replaces the table (a full refresh). The history commit lands
/// first and holds the change set, so a crash between the two is finished at
/// the next start by merging that commit's files ("rolled forward").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feed {
    pub version: i64,
    pub replace: bool,
}

/// Each stream's table and, per transaction, its latest progress.
pub type LakeStatus = Vec<(String, Vec<(String, Progress)>)>;

/// One checkpoint's commit.
pub(crate) struct Commit {
    pub stream: String,
    /// The transaction identifier: the pipeline, the stream and the shard.
    pub app_id: String,
    /// The version this worker read (the next commit is its successor).
    pub base: Option<i64>,
    pub files: Vec<DataFile>,
    pub state: String,
    /// A full refresh: the commit removes every file the table had.
    pub replace: bool,
    /// A merge stream: the files upsert and delete by key.
    pub merge: Option<merge::MergeSpec>,
    /// A history table's commit: the merge it precedes.
    pub feeds: Option<Feed>,
}

/// A table format: where a stream's files go and how a commit makes them visible.
pub(crate) trait TableFormat: Send + Sync + 'static {
    fn put_file(&self, stream: &str, local: &Path, name: &str) -> impl Future<Output = Result<(), LakeError>> + Send;
    /// Downloads a file of the stream's table to `local`.
    fn get_file(&self, stream: &str, name: &str, local: &Path) -> impl Future<Output = Result<(), LakeError>> + Send;
    /// The files the commit of transaction (`app_id`, `version`) added.
    fn committed_files(
        &self,
        stream: &str,
        app_id: &str,
        version: i64,
    ) -> impl Future<Output = Result<Vec<String>, LakeError>> + Send;
    fn progress(&self, stream: &str, app_id: &str) -> impl Future<Output = Result<Option<Progress>, LakeError>> + Send;
    fn commit(&self, commit: Commit) -> impl Future<Output = Result<i64, LakeError>> + Send;
    /// The streams with a table in the sink.
    fn streams(&self) -> impl Future<Output = Result<Vec<String>, LakeError>> + Send;
    /// Every transaction of a stream's table and its latest progress.
    fn shards(&self, stream: &str) -> impl Future<Output = Result<Vec<(String, Progress)>, LakeError>> + Send;
    fn location(&self) -> String;
}

/// The sink and state store of a pipeline whose sink is a table format.
pub struct LakeSink {
    format: Arc<delta::DeltaLake>,
    io: Io,
    pipeline: String,
    shard: Option<Shard>,
    /// Streams sliced across shards: their transactions are per shard.
    sliced: Vec<String>,
    /// Streams written by merge, and how.
    merges: std::collections::BTreeMap<String, crate::config::Merge>,
    /// This worker's staging folder, on its own disk.
    staging: WorkerStaging,
    /// Secrets (a rotated refresh token) stay with the worker: they are not the table's.
    local: SledStore,
    /// Per stream: the version this worker read or last committed.
    versions: Mutex<HashMap<String, Option<i64>>>,
    /// Files uploaded by `publish` and not yet committed, by their final path.
    uploaded: Mutex<HashMap<PathBuf, DataFile>>,
}

impl LakeSink {
    /// The table sink of `pipeline`: a local folder or an `s3://` URL.
    pub fn open(pipeline: &Pipeline) -> Result<LakeSink, StoreError> {
        debug_assert_eq!(pipeline.sink.format, SinkFormat::Delta);
        let fail = |message: String| StoreError { path: pipeline.sink.path.clone(), message, incompatible: false };
        let local = SledStore::open(&pipeline.state_path, &pipeline.name)?;
        let (root, base) = match &pipeline.sink.remote {
            Some(s3) => s3_root(s3).map_err(fail)?,
            None => local_root(&pipeline.sink.path).map_err(fail)?,
        };
        let io = Io::new().map_err(|e| fail(format!("starting the table sink's I/O threads: {e}")))?;
        let shard_name = pipeline.shard.map(|s| format!(".shard-{}-of-{}", s.index(), s.count())).unwrap_or_default();
        Ok(LakeSink {
            format: Arc::new(delta::DeltaLake::new(root, base)),
            io,
            pipeline: pipeline.name.clone(),
            shard: pipeline.shard,
            sliced: pipeline.sliced.clone(),
            merges: pipeline.merges.clone(),
            staging: WorkerStaging {
                dir: pipeline.state_path.join("staging").join(format!("{}{shard_name}", pipeline.name)),
            },
            local,
            versions: Mutex::new(HashMap::new()),
            uploaded: Mutex::new(HashMap::new()),
        })
    }

    /// The transaction identifier of `stream` for this worker: the pipeline and
    /// stream, and the shard for a sliced stream (a whole stream's progress does
    /// not depend on how many workers share the pipeline).
    pub fn app_id(&self, stream: &str) -> String {
        match self.shard {
            Some(s) if self.sliced.iter().any(|n| n == stream) => {
                format!("headwater/{}/{stream}/slice-{}-of-{}", self.pipeline, s.index(), s.count())
            }
            _ => format!("headwater/{}/{stream}", self.pipeline),
        }
    }

    /// Every stream's table and, per transaction, its committed progress (`headwater status`).
    pub fn status(&self) -> Result<LakeStatus, StoreError> {
        let format = self.format.clone();
        self.io
            .run(async move {
                let mut out = Vec::new();
                for stream in format.streams().await? {
                    let shards = format.shards(&stream).await?;
                    out.push((stream, shards));
                }
                Ok(out)
            })
            .map_err(|e: LakeError| self.store_error(e))
    }

    /// Refuses to start a stream's transaction when the table holds the stream's
    /// progress under another slicing (another shard count, or sliced where it is
    /// now whole, or the reverse): the slices would own other files than the
    /// progress covers, and rows would land twice.
    fn check_slicing(&self, stream: &str) -> Result<(), StoreError> {
        let ours = self.app_id(stream);
        let family = format!("headwater/{}/{stream}", self.pipeline);
        let (format, s) = (self.format.clone(), stream.to_string());
        let shards = self.io.run(async move { format.shards(&s).await }).map_err(|e| self.store_error(e))?;
        let scheme = |id: &str| id.rsplit_once("-of-").map(|(_, n)| n.to_string());
        let other = shards.iter().map(|(id, _)| id).find(|id| {
            (id.as_str() == family || id.starts_with(&format!("{family}/slice-"))) && scheme(id) != scheme(&ours)
        });
        match other {
            None => Ok(()),
            Some(other) => Err(StoreError {
                path: PathBuf::from(self.format.location()).join(stream),
                message: format!(
                    "stream `{stream}` has progress under `{other}`, and this run would start `{ours}`: its files \
                     would be dealt among other slices than that progress covers, and rows would land twice. Run \
                     with the shard count it was sliced by, or reload the stream (a full refresh without --shard)"
                ),
                incompatible: true,
            }),
        }
    }

    /// This worker's committed progress on `stream`, remembered as the version its
    /// next commit follows. A merge stream that keeps its history whose last history
    /// commit's merge did not land (a crash between the two) is merged from it first.
    fn read_progress(&self, stream: &str) -> Result<Option<Progress>, StoreError> {
        let app_id = self.app_id(stream);
        let merged = self.read_table(stream, &app_id)?;
        if !self.merges.get(stream).is_some_and(|m| m.keep_history) {
            return Ok(merged);
        }
        let history = history_table(stream);
        let Some(Progress { feeds: Some(feed), state, committed_at, version: fed_by }) =
            self.read_table(&history, &app_id)?
        else {
            return Ok(merged);
        };
        let at = merged.as_ref().map(|m| m.version);
        if at >= Some(feed.version) {
            return Ok(merged);
        }
        let fail = |message: String| StoreError {
            path: PathBuf::from(self.format.location()).join(stream),
            message,
            incompatible: true,
        };
        if at.map_or(0, |v| v.saturating_add(1)) != feed.version {
            return Err(fail(format!(
                "history commit {fed_by} of `{app_id}` feeds merge version {}, and the merged table is at {}: \
                 the two tables were changed by something else; reload the stream with --full-refresh",
                feed.version,
                at.map_or("none".to_string(), |v| v.to_string())
            )));
        }
        // Roll forward: the history commit's files are the change set the merge lost.
        let (format, h, id) = (self.format.clone(), history.clone(), app_id.clone());
        let names = self
            .io
            .run(async move { format.committed_files(&h, &id, fed_by).await })
            .map_err(|e| self.store_error(e))?;
        let mut files = Vec::with_capacity(names.len());
        for name in names {
            if name.contains('/') || name.starts_with('.') {
                return Err(fail(format!("history commit {fed_by} adds `{name}`, which is not a file of its table")));
            }
            let local = self.stream_dir(stream).join(format!("{name}.history"));
            let (format, h, n, l) = (self.format.clone(), history.clone(), name.clone(), local.clone());
            self.io.run(async move { format.get_file(&h, &n, &l).await }).map_err(|e| self.store_error(e))?;
            let mut file = describe(&local, &name).map_err(fail)?;
            file.local = Some(local);
            files.push(file);
        }
        let merge = self.merge_spec(stream, &files)?;
        let locals: Vec<PathBuf> = files.iter().filter_map(|f| f.local.clone()).collect();
        let commit = Commit {
            stream: stream.to_string(),
            app_id,
            base: at,
            files,
            state: state.clone(),
            replace: feed.replace,
            merge,
            feeds: None,
        };
        let version = self.commit(commit)?;
        for local in locals {
            let _ = std::fs::remove_file(local);
        }
        tracing::warn!(
            "stream `{stream}`: the merge of history commit {fed_by} had not landed (the last run stopped between \
             the two commits); merged it now as version {version}"
        );
        Ok(Some(Progress { version, state, committed_at, feeds: None }))
    }

    /// The transaction's progress in `table`, remembered as the version its next commit follows.
    fn read_table(&self, table: &str, app_id: &str) -> Result<Option<Progress>, StoreError> {
        let (format, t, id) = (self.format.clone(), table.to_string(), app_id.to_string());
        let progress = self.io.run(async move { format.progress(&t, &id).await }).map_err(|e| self.store_error(e))?;
        self.versions().insert(table.to_string(), progress.as_ref().map(|p| p.version));
        Ok(progress)
    }

    /// The version a commit to `table` follows: the one read, else read now (a full
    /// refresh starts from nothing, and another slicing's progress is no obstacle to it).
    fn base(&self, table: &str) -> Result<Option<i64>, StoreError> {
        if let Some(read) = self.versions().get(table).copied() {
            return Ok(read);
        }
        let app_id = self.app_id(self.history_of(table).unwrap_or(table));
        Ok(self.read_table(table, &app_id)?.map(|p| p.version))
    }

    /// Commits, and remembers the version committed.
    fn commit(&self, commit: Commit) -> Result<i64, StoreError> {
        let (format, table) = (self.format.clone(), commit.stream.clone());
        let version = self.io.run(async move { format.commit(commit).await }).map_err(|e| self.store_error(e))?;
        self.versions().insert(table, Some(version));
        Ok(version)
    }

    /// A merge stream's key, delete marker and cursor; `None` for an append stream.
    fn merge_spec(&self, stream: &str, files: &[DataFile]) -> Result<Option<merge::MergeSpec>, StoreError> {
        let Some(m) = self.merges.get(stream) else { return Ok(None) };
        let key = if m.primary_key.is_empty() {
            files.first().map(|f| f.primary_key.clone()).unwrap_or_default()
        } else {
            m.primary_key.clone()
        };
        if key.is_empty() && !files.is_empty() {
            return Err(StoreError {
                path: PathBuf::from(self.format.location()).join(stream),
                message: format!(
                    "stream `{stream}` is written by merge, and neither its connector nor \
                     `[streams.{stream}] primary_key` names its key"
                ),
                incompatible: true,
            });
        }
        let cursor = files.first().and_then(|f| f.cursor_field.clone());
        Ok(Some(merge::MergeSpec { key, delete_when: m.delete_when.clone(), cursor, soft_delete: m.soft_delete }))
    }

    /// The merge stream whose history table `table` is, if it is one.
    fn history_of<'a>(&self, table: &'a str) -> Option<&'a str> {
        let merged = table.strip_suffix(HISTORY_SUFFIX)?;
        self.merges.get(merged).is_some_and(|m| m.keep_history).then_some(merged)
    }

    fn store_error(&self, e: LakeError) -> StoreError {
        StoreError { path: PathBuf::from(self.format.location()), message: e.to_string(), incompatible: false }
    }

    fn sink_error(&self, e: LakeError) -> SinkError {
        SinkError::Io { context: format!("Delta sink {}", self.format.location()), reason: e.to_string() }
    }

    fn stream_dir(&self, stream: &str) -> PathBuf {
        self.staging.dir.join(stream)
    }

    fn uploaded(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, DataFile>> {
        self.uploaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn versions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<i64>>> {
        self.versions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a merge stream's history table is called after it (`keep_history`).
const HISTORY_SUFFIX: &str = "_history";

/// The history table of merge stream `stream`.
fn history_table(stream: &str) -> String {
    format!("{stream}{HISTORY_SUFFIX}")
}

/// A local sink folder as the root filesystem store and the folder's URL.
fn local_root(path: &Path) -> Result<(Arc<dyn ObjectStore>, Url), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("creating the sink folder: {e}"))?;
    let absolute = std::fs::canonicalize(path).map_err(|e| format!("resolving the sink folder: {e}"))?;
    let base =
        Url::from_directory_path(&absolute).map_err(|()| "the sink folder is not an absolute path".to_string())?;
    Ok((Arc::new(object_store::local::LocalFileSystem::new()), base))
}

/// An `s3://` sink's bucket as the root store and the sink's URL. delta-rs
/// commits through the store's conditional writes (`PutMode::Create`, S3's
/// `If-None-Match`), so concurrent writers need no lock service.
fn s3_root(s3: &crate::config::S3Location) -> Result<(Arc<dyn ObjectStore>, Url), String> {
    let store = crate::roots::s3_store(s3).map_err(|e| format!("the S3 client: {e}"))?;
    let prefix = if s3.prefix.is_empty() { String::new() } else { format!("{}/", s3.prefix) };
    let base = Url::parse(&format!("s3://{}/{prefix}", s3.bucket)).map_err(|e| format!("the sink's URL: {e}"))?;
    delta::register_s3();
    Ok((Arc::new(store), base))
}

/// The row count and schema a finished Parquet file's footer records.
fn describe(local: &Path, name: &str) -> Result<DataFile, String> {
    let file = std::fs::File::open(local).map_err(|e| format!("opening {}: {e}", local.display()))?;
    let size = file.metadata().map_err(|e| format!("reading {}: {e}", local.display()))?.len();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("reading {}: {e}", local.display()))?;
    let metadata = reader.metadata().file_metadata();
    let rows = u64::try_from(metadata.num_rows()).unwrap_or(0);
    let primary_key: Vec<String> = metadata
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == "headwater.primary_key"))
        .and_then(|kv| kv.value.as_deref())
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    let cursor_field = metadata
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == "headwater.cursor_field"))
        .and_then(|kv| kv.value.clone())
        .filter(|v| !v.is_empty());
    let key_bounds = match primary_key.as_slice() {
        [key] => parquet::arrow::arrow_reader::statistics::StatisticsConverter::try_new(
            key,
            reader.schema(),
            reader.parquet_schema(),
        )
        .ok()
        .and_then(|c| {
            let groups = reader.metadata().row_groups();
            Some((c.row_group_mins(groups).ok()?, c.row_group_maxes(groups).ok()?))
        })
        .and_then(|(mins, maxes)| Some((merge::bounds(&[mins])?.0, merge::bounds(&[maxes])?.1)))
        .map(|(lo, hi)| (key.clone(), lo, hi)),
        _ => None,
    };
    Ok(DataFile {
        name: name.to_string(),
        size,
        rows,
        schema: reader.schema().clone(),
        primary_key,
        cursor_field,
        key_bounds,
        local: None,
    })
}

impl Sink for LakeSink {
    fn place(&self, stream: &str, file_name: &str, _: DateTime<Utc>) -> Result<StagedFile, SinkError> {
        crate::names::check(crate::names::Kind::Stream, stream)?;
        Ok(StagedFile {
            staging: self.stream_dir(stream).join(format!("{file_name}.staged")),
            final_path: PathBuf::from(self.format.location()).join(stream).join(file_name),
        })
    }

    fn publish(&self, stream: &str, files: &[(PathBuf, PathBuf)]) -> Result<(), SinkError> {
        for (staging, final_path) in files {
            let name = final_path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if self.uploaded().contains_key(final_path) {
                continue;
            }
            if !staging.exists() {
                return Err(SinkError::Lost { stream: stream.to_string(), path: final_path.clone() });
            }
            let mut described = describe(staging, &name)
                .map_err(|reason| SinkError::Io { context: format!("stream `{stream}`"), reason })?;
            if let Some(merge) = self.merges.get(stream) {
                // A merge reads the change set and writes its own files: the staged
                // copy is read in place at the commit. With `keep_history` it also
                // lands as it is in the history table, committed before the merge.
                if merge.keep_history {
                    let (format, local, h, n) =
                        (self.format.clone(), staging.clone(), history_table(stream), name.clone());
                    self.io
                        .run(async move { format.put_file(&h, &local, &n).await })
                        .map_err(|e| self.sink_error(e))?;
                }
                described.local = Some(staging.clone());
                self.uploaded().insert(final_path.clone(), described);
                continue;
            }
            let (format, local, s, n) = (self.format.clone(), staging.clone(), stream.to_string(), name.clone());
            self.io.run(async move { format.put_file(&s, &local, &n).await }).map_err(|e| self.sink_error(e))?;
            crate::fault::point("publish.after-rename");
            self.uploaded().insert(final_path.clone(), described);
            let _ = std::fs::remove_file(staging);
        }
        Ok(())
    }

    fn replace(&self, stream: &str, _snapshot: &str, files: &[(PathBuf, PathBuf)]) -> Result<(), SinkError> {
        // The commit removes the old files and adds these at once (see `complete_intent`).
        self.publish(stream, files)
    }

    fn discard(&self, files: &[StagedFile]) {
        self.staging.discard(files)
    }

    fn clear_staging(&self) -> Result<(), SinkError> {
        self.staging.clear()
    }

    fn scratch(&self) -> PathBuf {
        self.staging.scratch()
    }

    fn location(&self) -> String {
        self.format.location()
    }

    fn claim(&self) -> Result<Claim, SinkError> {
        // The worker's state folder is its own (the sled store holds its lock);
        // what keeps two workers of one shard apart is the table's transaction.
        Ok(Claim::new(()))
    }
}

impl StateStore for LakeSink {
    fn get(&self, stream: &str) -> Result<StreamState, StoreError> {
        if let Some(merged) = self.history_of(stream) {
            return Err(StoreError {
                path: PathBuf::from(self.format.location()).join(stream),
                message: format!(
                    "stream `{stream}` would write into the history table of merge stream `{merged}` \
                     (`keep_history = true`): rename one of them, or turn `keep_history` off"
                ),
                incompatible: true,
            });
        }
        let progress = self.read_progress(stream)?;
        if progress.is_none() {
            self.check_slicing(stream)?;
        }
        match progress {
            None => Ok(StreamState::default()),
            Some(p) => serde_json::from_str(&p.state).map_err(|e| StoreError {
                path: PathBuf::from(self.format.location()).join(stream),
                message: format!("the progress in commit version {} is not a headwater state: {e}", p.version),
                incompatible: true,
            }),
        }
    }

    fn streams(&self) -> Result<Vec<(String, StreamState)>, StoreError> {
        let format = self.format.clone();
        let names = self.io.run(async move { format.streams().await }).map_err(|e| self.store_error(e))?;
        let mut out = Vec::new();
        for name in names.into_iter().filter(|n| self.history_of(n).is_none()) {
            let state = self.get(&name)?;
            if state != StreamState::default() {
                out.push((name, state));
            }
        }
        Ok(out)
    }

    fn remove(&self, stream: &str) -> Result<(), StoreError> {
        // A Delta log is never rewritten: a reset is a commit of the empty state.
        self.get(stream)?;
        self.complete_intent(&Intent {
            stream: stream.to_string(),
            files: Vec::new(),
            state: StreamState::default(),
            replaces: None,
        })
    }

    fn put_intent(&self, _intent: &Intent) -> Result<(), StoreError> {
        // Nothing to record: the commit is one atomic log entry (see the module docs).
        Ok(())
    }

    fn records_intents(&self) -> bool {
        false
    }

    fn complete_intent(&self, intent: &Intent) -> Result<(), StoreError> {
        let mut files = Vec::with_capacity(intent.files.len());
        for (_, final_path) in &intent.files {
            let file = self.uploaded().get(final_path).cloned().ok_or_else(|| StoreError {
                path: final_path.clone(),
                message: "the file was not uploaded before its commit".into(),
                incompatible: false,
            })?;
            files.push(file);
        }
        let state = serde_json::to_string(&intent.state)
            .map_err(|e| self.store_error(LakeError::At { table: intent.stream.clone(), message: e.to_string() }))?;
        let merge = self.merge_spec(&intent.stream, &files)?;
        let replace = intent.replaces.is_some();
        let app_id = self.app_id(&intent.stream);
        if self.merges.get(&intent.stream).is_some_and(|m| m.keep_history) {
            // The history first: it holds the change set, so a crash before the merge
            // commit is finished from it (`read_progress`). A full refresh appends to it.
            let history = history_table(&intent.stream);
            let feeds = Feed { version: self.base(&intent.stream)?.map_or(0, |v| v.saturating_add(1)), replace };
            let commit = Commit {
                stream: history.clone(),
                app_id: app_id.clone(),
                base: self.base(&history)?,
                files: files.clone(),
                state: state.clone(),
                replace: false,
                merge: None,
                feeds: Some(feeds),
            };
            self.commit(commit)?;
            crate::fault::point("lake.between-history-and-merge");
        }
        let commit = Commit {
            stream: intent.stream.clone(),
            app_id,
            base: self.base(&intent.stream)?,
            files,
            state,
            replace,
            merge,
            feeds: None,
        };
        crate::fault::point("lake.before-commit");
        self.commit(commit)?;
        let mut uploaded = self.uploaded();
        for (_, final_path) in &intent.files {
            if let Some(local) = uploaded.remove(final_path).and_then(|f| f.local) {
                let _ = std::fs::remove_file(local);
            }
        }
        Ok(())
    }

    fn intents(&self) -> Result<Vec<Intent>, StoreError> {
        Ok(Vec::new())
    }

    fn drop_intent(&self, _stream: &str) -> Result<(), StoreError> {
        Ok(())
    }

    fn get_secret(&self, credential: &str) -> Result<Option<String>, StoreError> {
        self.local.get_secret(credential)
    }

    fn put_secret(&self, credential: &str, value: &str) -> Result<(), StoreError> {
        self.local.put_secret(credential, value)
    }
}
