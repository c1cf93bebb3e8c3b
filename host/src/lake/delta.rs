//! Delta Lake tables, one per stream (`<sink>/<stream>/`), written with
//! `deltalake`'s log protocol and commit builder (no DataFusion): the host
//! encodes the Parquet itself, uploads it into the table's folder, where no
//! Delta reader sees it, and one commit adds the checkpoint's files together
//! with the shard's transaction (`txn`: appId, version) and its progress (the
//! commit's `headwater` entry: the stream's state as JSON).
//!
//! The commit is refused when the table's version for the appId is not the one
//! this worker read: a zombie twin of the shard committed meanwhile, or a
//! retried commit already landed. Delta's conflict check refuses the same race
//! inside the commit itself (`ConcurrentTransaction`), so the guard holds even
//! when both check at once.

use super::merge::{Change, KeyValues, MergeSpec, SOFT_DELETE_COLUMN, bounds as merge_bounds};
use super::{Commit, DataFile, Feed, LakeError, Progress, TableFormat};
use arrow::array::RecordBatch;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitConflictError, CommitProperties, TransactionError};
use deltalake_core::kernel::{
    Action, Add, DataType as DeltaType, MetadataExt as _, Remove, StructField, StructType, Transaction,
};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError, ObjectStore};
use object_store::ObjectStoreExt as _;
use object_store::path::Path as StorePath;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use url::Url;

/// The key of a commit's `commitInfo` entry that holds headwater's progress.
const PROGRESS_KEY: &str = "headwater";

/// Commits retried after losing a race that is not a conflict for us (another
/// shard's schema change, the table being created at the same moment).
const COMMIT_ATTEMPTS: usize = 20;

/// The Delta tables of one sink.
pub(crate) struct DeltaLake {
    /// The store whose "/" is the root of the sink's bucket or filesystem.
    root: Arc<dyn ObjectStore>,
    /// The sink's URL, ending in `/`: a stream's table is `<base><stream>/`.
    base: Url,
}

impl DeltaLake {
    pub fn new(root: Arc<dyn ObjectStore>, base: Url) -> DeltaLake {
        DeltaLake { root, base }
    }

    fn table_url(&self, stream: &str) -> Result<Url, LakeError> {
        self.base.join(&format!("{stream}/")).map_err(|e| LakeError::at(&self.base, format!("naming `{stream}`: {e}")))
    }

    fn table(&self, stream: &str) -> Result<DeltaTable, LakeError> {
        let url = self.table_url(stream)?;
        DeltaTableBuilder::from_url(url.clone())
            .and_then(|b| b.with_storage_backend(self.root.clone(), url.clone()).build())
            .map_err(|e| LakeError::at(&url, e.to_string()))
    }

    /// The stream's table as committed now; `None` when it has no log yet.
    async fn load(&self, stream: &str) -> Result<Option<DeltaTable>, LakeError> {
        let log = self.file_path(stream, "_delta_log/")?;
        let listed = self.root.list_with_delimiter(Some(&log)).await;
        match listed {
            Ok(l) if l.objects.is_empty() && l.common_prefixes.is_empty() => return Ok(None),
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(LakeError::at(&self.base, format!("listing {log}: {e}"))),
            Ok(_) => {}
        }
        let mut table = self.table(stream)?;
        match table.load().await {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(LakeError::at(table.table_url(), format!("reading the Delta log: {e}"))),
        }
    }

    fn file_path(&self, stream: &str, name: &str) -> Result<StorePath, LakeError> {
        let url = self.table_url(stream)?.join(name).map_err(|e| LakeError::at(&self.base, e.to_string()))?;
        StorePath::from_url_path(url.path()).map_err(|e| LakeError::at(&url, e.to_string()))
    }
}

impl TableFormat for DeltaLake {
    async fn put_file(&self, stream: &str, local: &std::path::Path, name: &str) -> Result<(), LakeError> {
        let path = self.file_path(stream, name)?;
        crate::objects::upload(self.root.clone(), local, path).await.map(drop).map_err(|e| LakeError::at(&self.base, e))
    }

    async fn get_file(&self, stream: &str, name: &str, local: &std::path::Path) -> Result<(), LakeError> {
        let path = self.file_path(stream, name)?;
        let failed = |e: &dyn std::fmt::Display| LakeError::at(&self.base, format!("downloading {path}: {e}"));
        let bytes = self.root.get(&path).await.map_err(|e| failed(&e))?.bytes().await.map_err(|e| failed(&e))?;
        let io = |e: std::io::Error| LakeError::at(&self.base, format!("writing {}: {e}", local.display()));
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        tokio::fs::write(local, &bytes).await.map_err(io)
    }

    async fn committed_files(&self, stream: &str, app_id: &str, version: i64) -> Result<Vec<String>, LakeError> {
        let Some(table) = self.load(stream).await? else {
            return Err(LakeError::at(&self.table_url(stream)?, "the table has no log"));
        };
        for at in (0..=table.version().unwrap_or_default()).rev() {
            let (progress, adds) = read_commit(&table, at).await?;
            if progress.iter().any(|(id, p)| id == app_id && p.version == version) {
                return Ok(adds);
            }
        }
        Err(LakeError::at(
            table.table_url(),
            format!("no commit in the log records transaction `{app_id}` at version {version}"),
        ))
    }

    async fn progress(&self, stream: &str, app_id: &str) -> Result<Option<Progress>, LakeError> {
        let Some(table) = self.load(stream).await? else { return Ok(None) };
        let url = table.table_url().clone();
        let snapshot = table.snapshot().map_err(|e| LakeError::at(&url, e.to_string()))?;
        let version = snapshot
            .transaction_version(table.log_store().as_ref(), app_id)
            .await
            .map_err(|e| LakeError::at(&url, format!("reading transaction `{app_id}`: {e}")))?;
        let Some(version) = version else { return Ok(None) };
        find_progress(&table, app_id, version).await.map(Some)
    }

    async fn commit(&self, commit: Commit) -> Result<i64, LakeError> {
        let url = self.table_url(&commit.stream)?;
        let mut last_race = String::new();
        for _ in 0..COMMIT_ATTEMPTS {
            let table = match self.load(&commit.stream).await? {
                Some(t) => t,
                None => match create(self.table(&commit.stream)?, &commit.files).await {
                    Ok(t) => t,
                    // Another worker created it first: commit to theirs.
                    Err(Race(why)) => {
                        last_race = why;
                        continue;
                    }
                    Err(Failed(e)) => return Err(e),
                },
            };
            match append(&table, &commit).await {
                Ok(version) => return Ok(version),
                Err(Race(why)) => last_race = why,
                Err(Failed(e)) => return Err(e),
            }
        }
        Err(LakeError::at(
            &url,
            format!("gave up after {COMMIT_ATTEMPTS} commits lost races to other writers: {last_race}"),
        ))
    }

    async fn streams(&self) -> Result<Vec<String>, LakeError> {
        let prefix =
            StorePath::from_url_path(self.base.path()).map_err(|e| LakeError::at(&self.base, e.to_string()))?;
        let listed = self
            .root
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| LakeError::at(&self.base, format!("listing tables: {e}")))?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|n| !n.starts_with('_'))
            .collect();
        names.sort();
        Ok(names)
    }

    async fn shards(&self, stream: &str) -> Result<Vec<(String, Progress)>, LakeError> {
        let Some(table) = self.load(stream).await? else { return Ok(Vec::new()) };
        let url = table.table_url().clone();
        // Newest first: the first commit seen for an appId is its latest.
        let mut found: Vec<(String, Progress)> = Vec::new();
        for version in (0..=table.version().unwrap_or_default()).rev() {
            for (app_id, progress) in commit_progress(&table, version).await? {
                if !found.iter().any(|(a, _)| *a == app_id) {
                    found.push((app_id, progress));
                }
            }
        }
        let _ = url;
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    fn location(&self) -> String {
        self.base.to_string()
    }
}

/// delta-rs finds a table's log store by its URL's scheme; `s3://` is served by
/// its default log store over the store this sink hands it (conditional writes
/// make each commit atomic), with no `deltalake-aws` and its AWS SDK.
pub(crate) fn register_s3() {
    use deltalake_core::logstore::{LogStore, LogStoreFactory, StorageConfig, default_logstore, logstore_factories};
    struct S3Logs;
    impl LogStoreFactory for S3Logs {
        fn with_options(
            &self,
            prefixed: deltalake_core::logstore::ObjectStoreRef,
            root: deltalake_core::logstore::ObjectStoreRef,
            location: &Url,
            options: &StorageConfig,
        ) -> deltalake_core::DeltaResult<Arc<dyn LogStore>> {
            Ok(default_logstore(prefixed, root, location, options))
        }
    }
    let scheme = Url::parse("s3://").expect("a URL");
    logstore_factories().entry(scheme).or_insert_with(|| Arc::new(S3Logs));
}

/// Why a commit attempt did not land: a race to try again, or a failure to report.
enum Attempt {
    Race(String),
    Failed(LakeError),
}
use Attempt::{Failed, Race};

/// Creates the stream's table (version 0: protocol and schema, no rows).
async fn create(table: DeltaTable, files: &[DataFile]) -> Result<DeltaTable, Attempt> {
    let url = table.table_url().clone();
    let schema = merged_schema(None, files).map_err(|e| Failed(LakeError::at(&url, e)))?;
    let created = deltalake_core::operations::create::CreateBuilder::new()
        .with_log_store(table.log_store())
        .with_columns(schema.fields().cloned())
        .with_save_mode(SaveMode::ErrorIfExists)
        .await;
    match created {
        Ok(t) => Ok(t),
        // Another worker created it since this one looked (`ErrorIfExists` says so in prose).
        Err(e) if is_race(&e) || e.to_string().contains("already exists") => Err(Race(e.to_string())),
        Err(e) => Err(Failed(LakeError::at(&url, format!("creating the Delta table: {e}")))),
    }
}

fn is_race(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction { source: TransactionError::VersionAlreadyExists(_) }
    ) || matches!(e, DeltaTableError::Transaction { source: TransactionError::CommitConflict(c) }
        if !matches!(c, CommitConflictError::ConcurrentTransaction))
}

/// One commit of `commit` on the table as loaded.
async fn append(table: &DeltaTable, commit: &Commit) -> Result<i64, Attempt> {
    let url = table.table_url().clone();
    let at = |m: String| Failed(LakeError::at(&url, m));
    let snapshot = table.snapshot().map_err(|e| at(e.to_string()))?;
    let log_store = table.log_store();
    let current = snapshot
        .transaction_version(log_store.as_ref(), &commit.app_id)
        .await
        .map_err(|e| at(format!("reading transaction `{}`: {e}", commit.app_id)))?;
    if current != commit.base {
        return Err(Failed(LakeError::Superseded {
            table: url.to_string(),
            app_id: commit.app_id.clone(),
            expected: commit.base,
            found: current,
        }));
    }
    let version = commit.base.map_or(0, |v| v.saturating_add(1));
    let mut actions: Vec<Action> = Vec::new();
    let table_schema = snapshot.schema();
    let mut merged = merged_schema(Some(table_schema.as_ref()), &commit.files).map_err(at)?;
    if commit.merge.as_ref().is_some_and(|m| m.soft_delete) && merged.field(SOFT_DELETE_COLUMN).is_none() {
        let marked = StructField::new(SOFT_DELETE_COLUMN, DeltaType::BOOLEAN, true);
        merged = StructType::try_new(merged.fields().cloned().chain([marked])).map_err(|e| at(e.to_string()))?;
    }
    if merged != *table_schema.as_ref() {
        let metadata = snapshot.metadata().clone().with_schema(&merged).map_err(|e| at(e.to_string()))?;
        actions.push(Action::Metadata(metadata));
    }
    let now = chrono::Utc::now().timestamp_millis();
    if commit.replace {
        actions.extend(snapshot.log_data().iter().map(|file| remove(file.path().as_ref(), now)));
    }
    match &commit.merge {
        None => actions.extend(commit.files.iter().map(|f| add(&f.name, f.size, f.rows, f.key_bounds.as_ref(), now))),
        Some(spec) if !commit.files.is_empty() => {
            let root = table.log_store().root_object_store(None);
            // A full refresh removed every table file above: the change set merges into nothing.
            let files: Vec<(String, Option<String>)> = if commit.replace {
                Vec::new()
            } else {
                snapshot.log_data().iter().map(|f| (f.path().to_string(), f.stats())).collect()
            };
            let merged = merge_actions(root, &url, &files, commit, spec, now).await.map_err(at)?;
            actions.extend(merged);
        }
        Some(_) => {}
    }
    actions.push(Action::Txn(Transaction::new_with_last_update(&commit.app_id, version, Some(now))));
    let mut progress = json!({ "appId": commit.app_id, "version": version, "state": commit.state });
    if let Some(feed) = &commit.feeds {
        progress["merge"] = json!({ "version": feed.version, "replace": feed.replace });
    }
    let operation = match &commit.merge {
        // A merge read the whole table (the files its keys could be in): declared so,
        // Delta's conflict check refuses it when a concurrent commit added or removed
        // data meanwhile, and it is merged again on the table as that commit left it.
        Some(spec) if !commit.files.is_empty() => DeltaOperation::Merge {
            predicate: None,
            merge_predicate: Some(format!("key {}", spec.key.join(", "))),
            matched_predicates: Vec::new(),
            not_matched_predicates: Vec::new(),
            not_matched_by_source_predicates: Vec::new(),
        },
        _ => DeltaOperation::Write { mode: SaveMode::Append, partition_by: None, predicate: None },
    };
    crate::fault::point("lake.actions-built");
    // A Delta checkpoint every `delta.checkpointInterval` commits (100) keeps loading
    // the table bounded; the JSON commits stay (no log cleanup): they hold the progress.
    let properties = CommitProperties::default().with_create_checkpoint(true).with_cleanup_expired_logs(Some(false));
    let committed = CommitBuilder::from(properties)
        .with_actions(actions)
        .with_app_metadata(HashMap::from([(PROGRESS_KEY.to_string(), progress)]))
        .build(Some(snapshot), log_store, operation)
        .await;
    match committed {
        Ok(_) => Ok(version),
        Err(DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(CommitConflictError::ConcurrentTransaction),
        }) => Err(Failed(LakeError::Superseded {
            table: url.to_string(),
            app_id: commit.app_id.clone(),
            expected: commit.base,
            found: Some(version),
        })),
        Err(e) if is_race(&e) => Err(Race(e.to_string())),
        Err(e) => Err(at(format!("committing: {e}"))),
    }
}

/// An `add` action; with the key's bounds in its statistics when known.
fn add(path: &str, size: u64, rows: u64, bounds: Option<&(String, Value, Value)>, now: i64) -> Action {
    let mut stats = json!({ "numRecords": rows });
    if let Some((key, lo, hi)) = bounds {
        stats["minValues"] = json!({ key: lo });
        stats["maxValues"] = json!({ key: hi });
    }
    Action::Add(Add {
        path: path.to_string(),
        partition_values: HashMap::new(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        modification_time: now,
        data_change: true,
        stats: Some(stats.to_string()),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    })
}

fn remove(path: &str, now: i64) -> Action {
    Action::Remove(Remove {
        path: path.to_string(),
        deletion_timestamp: Some(now),
        data_change: true,
        extended_file_metadata: None,
        partition_values: None,
        size: None,
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
    })
}

/// A merge commit's file actions: the change set's rows that land (the last of
/// each key, deletes left out) as new files in place of the uploaded ones, and
/// each table file holding a changed key rewritten without it (copy on write).
/// A table file whose statistics bound the key (one integer or text column) away
/// from every changed key is not read (`MergeStats` counts what was).
async fn merge_actions(
    root: Arc<dyn ObjectStore>,
    table: &Url,
    existing: &[(String, Option<String>)],
    commit: &Commit,
    spec: &MergeSpec,
    now: i64,
) -> Result<Vec<Action>, String> {
    let path_of = |name: &str| -> Result<StorePath, String> {
        let url = table.join(name).map_err(|e| e.to_string())?;
        StorePath::from_url_path(url.path()).map_err(|e| e.to_string())
    };
    let mut change_files = Vec::with_capacity(commit.files.len());
    for file in &commit.files {
        let local = file.local.as_ref().ok_or_else(|| format!("{}: a merge's change file is not staged", file.name))?;
        change_files.push(read_local(local)?);
    }
    let change = Change::new(spec, &change_files).map_err(|e| format!("merging by {:?}: {e}", spec.key))?;
    let values = KeyValues::of(spec, &change_files);
    let mut actions = Vec::new();
    let mut newer = std::collections::HashSet::new();
    let (mut read_files, mut rewritten) = (0usize, 0usize);
    for (name, stats) in existing {
        if let (Some(values), Some((lo, hi))) = (&values, key_range(stats.as_deref(), spec))
            && !values.any_within(&lo, &hi)
        {
            continue;
        }
        read_files += 1;
        let batches = read(&root, &path_of(name)?).await?;
        if let Some(kept) = change.without_changed(spec, &batches, &mut newer).map_err(|e| format!("{name}: {e}"))? {
            rewritten += 1;
            actions.push(remove(name, now));
            if let Some((name, size, rows, bounds)) = write(&root, table, &kept, spec).await? {
                actions.push(add(&name, size, rows, bounds.as_ref(), now));
            }
        }
    }
    // The change set's rows land, but for keys the table holds a newer row of.
    let landing = change.kept_without(spec, &newer)?;
    for (kept, file) in landing.iter().zip(&commit.files) {
        let landed: u64 = kept.iter().map(|b| b.num_rows() as u64).sum();
        if landed == file.rows && !spec.soft_delete {
            // Every row of the change file lands as it is: upload it, not a copy re-encoded.
            let local =
                file.local.as_ref().ok_or_else(|| format!("{}: a merge's change file is not staged", file.name))?;
            crate::objects::upload(root.clone(), local, path_of(&file.name)?).await?;
            actions.push(add(&file.name, file.size, file.rows, file.key_bounds.as_ref(), now));
        } else if let Some((name, size, rows, bounds)) = write(&root, table, kept, spec).await? {
            actions.push(add(&name, size, rows, bounds.as_ref(), now));
        }
    }
    tracing::info!(
        "merge into {table}: {} changed keys ({} deleted); {read_files} of {} files read, {rewritten} rewritten",
        change.keys_len(),
        change.deleted,
        existing.len()
    );
    Ok(actions)
}

/// The key's (lowest, highest) an `add`'s statistics record, for a one-column key.
fn key_range(stats: Option<&str>, spec: &MergeSpec) -> Option<(Value, Value)> {
    let [key] = spec.key.as_slice() else { return None };
    let stats: Value = serde_json::from_str(stats?).ok()?;
    Some((stats.get("minValues")?.get(key)?.clone(), stats.get("maxValues")?.get(key)?.clone()))
}

/// A staged Parquet file's batches.
fn read_local(path: &std::path::Path) -> Result<Vec<RecordBatch>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("reading {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| failed(&e))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| failed(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(&e))
}

/// A Parquet file's batches, read whole from the store.
async fn read(root: &Arc<dyn ObjectStore>, path: &StorePath) -> Result<Vec<RecordBatch>, String> {
    let bytes = root.get(path).await.map_err(|e| format!("reading {path}: {e}"))?;
    let bytes = bytes.bytes().await.map_err(|e| format!("reading {path}: {e}"))?;
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| format!("reading {path}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading {path}: {e}"))
}

/// Writes `batches` as a new zstd Parquet file in the table's folder: its name,
/// size and rows; `None` when there are no rows.
type Written = (String, u64, u64, Option<(String, Value, Value)>);

async fn write(
    root: &Arc<dyn ObjectStore>,
    table: &Url,
    batches: &[RecordBatch],
    spec: &MergeSpec,
) -> Result<Option<Written>, String> {
    let Some(first) = batches.first() else { return Ok(None) };
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(parquet::basic::ZstdLevel::try_new(3).expect("a level")))
        .build();
    let mut buffer = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut buffer, first.schema(), Some(props))
        .map_err(|e| format!("encoding a merged file: {e}"))?;
    let mut rows = 0u64;
    for batch in batches {
        writer.write(batch).map_err(|e| format!("encoding a merged file: {e}"))?;
        rows += batch.num_rows() as u64;
    }
    writer.close().map_err(|e| format!("encoding a merged file: {e}"))?;
    let name = format!("part-merged-{}.parquet", uuid::Uuid::new_v4().simple());
    let url = table.join(&name).map_err(|e| e.to_string())?;
    let path = StorePath::from_url_path(url.path()).map_err(|e| e.to_string())?;
    let size = buffer.len() as u64;
    root.put(&path, buffer.into()).await.map_err(|e| format!("writing {path}: {e}"))?;
    let bounds = match spec.key.as_slice() {
        [key] => {
            let columns: Vec<_> = batches.iter().filter_map(|b| b.column_by_name(key).cloned()).collect();
            merge_bounds(&columns).map(|(lo, hi)| (key.clone(), lo, hi))
        }
        _ => None,
    };
    Ok(Some((name, size, rows, bounds)))
}

/// The table's schema with every column of `files` it lacks, added as nullable
/// (Delta's schema evolution); a column whose type differs is refused, naming it.
fn merged_schema(table: Option<&StructType>, files: &[DataFile]) -> Result<StructType, String> {
    let mut fields: Vec<StructField> = table.map(|t| t.fields().cloned().collect()).unwrap_or_default();
    for file in files {
        // A column that only ever held nulls has no type yet (arrow's Null): it joins
        // the table's schema when a file gives it one, and older files read as null.
        let typed = arrow_schema::Schema::new(
            file.schema
                .fields()
                .iter()
                .filter(|f| f.data_type() != &arrow_schema::DataType::Null)
                .cloned()
                .collect::<Vec<_>>(),
        );
        let kernel: StructType = (&typed).try_into_kernel().map_err(|e| {
            format!("file {}: a column's type has no Delta equivalent ({e}); declare the column's type", file.name)
        })?;
        for field in kernel.fields() {
            match fields.iter().find(|f| f.name() == field.name()) {
                Some(have) if have.data_type() != field.data_type() => {
                    return Err(format!(
                        "column `{}` is {} in the Delta table and {} in file {}: a Delta table's column keeps its \
                         type; declare the column's type in the stream's schema",
                        field.name(),
                        have.data_type(),
                        field.data_type(),
                        file.name
                    ));
                }
                Some(_) => {}
                None => fields.push(StructField::new(field.name().clone(), field.data_type().clone(), true)),
            }
        }
    }
    StructType::try_new(fields).map_err(|e| e.to_string())
}

/// The progress the commit holding transaction (`app_id`, `version`) recorded:
/// the newest commits are read first, since a shard's latest is usually near the top.
async fn find_progress(table: &DeltaTable, app_id: &str, version: i64) -> Result<Progress, LakeError> {
    for at in (0..=table.version().unwrap_or_default()).rev() {
        for (id, progress) in commit_progress(table, at).await? {
            if id == app_id && progress.version == version {
                return Ok(progress);
            }
        }
    }
    Err(LakeError::at(
        table.table_url(),
        format!(
            "the table holds transaction `{app_id}` at version {version}, but no commit in its log records that \
             version's progress (the log was cleaned up, or another tool wrote that transaction): reset the \
             stream with `headwater state reset`"
        ),
    ))
}

/// What headwater recorded in commit `version`: (appId, progress) pairs.
async fn commit_progress(table: &DeltaTable, version: u64) -> Result<Vec<(String, Progress)>, LakeError> {
    Ok(read_commit(table, version).await?.0)
}

/// Commit `version`'s progress entries and the paths of the files it added.
async fn read_commit(table: &DeltaTable, version: u64) -> Result<(Vec<(String, Progress)>, Vec<String>), LakeError> {
    let url = table.table_url();
    let Some(bytes) = table
        .log_store()
        .read_commit_entry(version)
        .await
        .map_err(|e| LakeError::at(url, format!("reading commit {version}: {e}")))?
    else {
        return Ok((Vec::new(), Vec::new()));
    };
    let (mut out, mut adds) = (Vec::new(), Vec::new());
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
        let Ok(action) = serde_json::from_slice::<Value>(line) else { continue };
        if let Some(path) = action.get("add").and_then(|a| a.get("path")).and_then(Value::as_str) {
            adds.push(path.to_string());
        }
        let Some(info) = action.get("commitInfo") else { continue };
        let Some(p) = info.get(PROGRESS_KEY) else { continue };
        let (Some(app_id), Some(v), Some(state)) =
            (p.get("appId").and_then(Value::as_str), p.get("version").and_then(Value::as_i64), p.get("state"))
        else {
            continue;
        };
        let state = match state {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let committed_at = info.get("timestamp").and_then(Value::as_i64);
        let feeds = p.get("merge").and_then(|m| {
            Some(Feed {
                version: m.get("version")?.as_i64()?,
                replace: m.get("replace").and_then(Value::as_bool).unwrap_or(false),
            })
        });
        out.push((app_id.to_string(), Progress { version: v, state, committed_at, feeds }));
    }
    Ok((out, adds))
}
