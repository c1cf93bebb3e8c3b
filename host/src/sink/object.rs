//! The Hive-layout Parquet sink on an S3-compatible bucket (`[sink] path =
//! "s3://bucket/prefix/"`): the same layout as the local [`HiveSink`]
//! (`<prefix>/<stream>/dt=<date>/part-<run>-<seq>.parquet`), with the same
//! delivery protocol. A checkpoint's files are staged on the worker's own disk
//! (under its state folder), so nothing of an uncommitted checkpoint is ever in
//! the bucket; the intent goes to the local state store, and publishing
//! uploads each file to its final key, where it appears whole or not at all.
//! Publishing is idempotent (a file already uploaded is not sent again), so
//! recovery after a crash mid-publish finishes the upload, exactly once.
//!
//! A full refresh needs an atomic swap of a stream's files, which a bucket has
//! no operation for: it is refused here (a Delta sink on S3 does it in one commit).
//!
//! [`HiveSink`]: super::HiveSink

use super::{Claim, Sink, SinkError, StagedFile, WorkerStaging};
use crate::config::S3Location;
use crate::names;
use crate::objects::Io;
use chrono::{DateTime, Utc};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct ObjectHiveSink {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket/prefix/`, as final paths and the summary show it.
    url: String,
    /// The key prefix, without slashes at either end (empty: the whole bucket).
    prefix: String,
    /// This pipeline's staging folder, on the worker's disk.
    staging: WorkerStaging,
    io: Io,
}

impl ObjectHiveSink {
    /// The sink on `s3`'s bucket for `pipeline`, staging under `state` (the state folder).
    pub fn new(s3: &S3Location, pipeline: &str, state: &Path) -> Result<Self, SinkError> {
        let failed = |reason: String| SinkError::Io { context: format!("the S3 sink s3://{}/", s3.bucket), reason };
        let store = crate::roots::s3_store(s3).map_err(|e| failed(e.to_string()))?;
        let io = Io::new().map_err(|e| failed(format!("starting its I/O threads: {e}")))?;
        let prefix = s3.prefix.trim_matches('/').to_string();
        let url =
            if prefix.is_empty() { format!("s3://{}/", s3.bucket) } else { format!("s3://{}/{prefix}/", s3.bucket) };
        let staging = WorkerStaging { dir: state.join("staging").join(pipeline) };
        Ok(ObjectHiveSink { store: Arc::new(store), url, prefix, staging, io })
    }

    /// The object key of a final path this sink placed (`s3://bucket/prefix/…`).
    fn key(&self, final_path: &Path) -> Result<StorePath, SinkError> {
        let text = final_path.to_string_lossy();
        let relative = text.strip_prefix(self.url.as_str()).ok_or_else(|| SinkError::Io {
            context: format!("publishing to {}", self.url),
            reason: format!("{text} is not inside the sink"),
        })?;
        let key = if self.prefix.is_empty() { relative.to_string() } else { format!("{}/{relative}", self.prefix) };
        StorePath::parse(&key)
            .map_err(|e| SinkError::Io { context: format!("publishing {text}"), reason: e.to_string() })
    }
}

impl Sink for ObjectHiveSink {
    fn place(&self, stream: &str, file_name: &str, run_started: DateTime<Utc>) -> Result<StagedFile, SinkError> {
        names::check(names::Kind::Stream, stream)?;
        Ok(StagedFile {
            staging: self.staging.dir.join(stream).join(format!("{file_name}.staged")),
            final_path: PathBuf::from(format!(
                "{}{stream}/dt={}/{file_name}",
                self.url,
                run_started.format("%Y-%m-%d")
            )),
        })
    }

    fn publish(&self, stream: &str, files: &[(PathBuf, PathBuf)]) -> Result<(), SinkError> {
        for (staging, final_path) in files {
            let key = self.key(final_path)?;
            let store = self.store.clone();
            let k = key.clone();
            let exists = self.io.run(async move {
                match store.head(&k).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(e.to_string()),
                }
            });
            let exists = exists.map_err(|reason| SinkError::Io { context: format!("looking for {key}"), reason })?;
            match (staging.exists(), exists) {
                // Uploaded before a crash that came before the staged copy was deleted.
                (true, true) => {}
                (true, false) => {
                    let (store, local, k) = (self.store.clone(), staging.clone(), key.clone());
                    self.io
                        .run(async move { crate::objects::upload(store, &local, k).await })
                        .map_err(|reason| SinkError::Io { context: format!("stream `{stream}`"), reason })?;
                    crate::fault::point("publish.after-rename");
                }
                (false, true) => continue,
                (false, false) => {
                    return Err(SinkError::Lost { stream: stream.to_string(), path: final_path.clone() });
                }
            }
            let _ = std::fs::remove_file(staging);
        }
        Ok(())
    }

    fn replace(&self, stream: &str, _snapshot: &str, _files: &[(PathBuf, PathBuf)]) -> Result<(), SinkError> {
        Err(SinkError::Io {
            context: format!("the full refresh of stream `{stream}` in {}", self.url),
            reason: "a bucket cannot swap a stream's files at once; use `[sink] format = \"delta\"` for full \
                     refreshes on S3"
                .into(),
        })
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
        self.url.clone()
    }

    fn claim(&self) -> Result<Claim, SinkError> {
        // The state store's lock keeps a second run of this worker out; a bucket
        // has no lock, so one worker writes a pipeline's Parquet sink on S3 (many
        // workers: `format = "delta"`).
        Ok(Claim::new(()))
    }
}
