//! The Hive-layout Parquet sink on a local folder: a stream's committed files
//! are `<sink>/<stream>/dt=<YYYY-MM-DD>/part-<run-id>-<seq>.parquet` (the run's
//! extraction date), which DuckDB, Polars, Spark and Trino read as is. Files are
//! staged under `<sink>/_staging/<pipeline>/<stream>/` as `*.parquet.staged`,
//! inside the sink so that publishing is a rename on one filesystem, and out of
//! every reader's sight: Hive-style readers skip `_`-prefixed folders, and a
//! glob of the whole lake (`lake/**/*.parquet`) does not match the suffix.
//! A run holds `<sink>/_staging/<pipeline>.lock`, so two runs of one pipeline
//! never share a sink, whatever their state paths.

use super::{Claim, Sink, SinkError, StagedFile};
use crate::names;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// The suffix of a staged file: not `.parquet`, so no glob of the lake finds it.
const STAGED: &str = "staged";

pub struct HiveSink {
    root: PathBuf,
    pipeline: String,
    /// This pipeline's staging folder.
    staging: PathBuf,
}

impl HiveSink {
    /// The sink at `root` for `pipeline` (a validated name: one path segment).
    pub fn new(root: &Path, pipeline: &str) -> Self {
        HiveSink {
            root: root.to_path_buf(),
            pipeline: pipeline.to_string(),
            staging: root.join("_staging").join(pipeline),
        }
    }
}

impl Sink for HiveSink {
    fn place(&self, stream: &str, file_name: &str, run_started: DateTime<Utc>) -> Result<StagedFile, SinkError> {
        names::check(names::Kind::Stream, stream)?;
        Ok(StagedFile {
            staging: self.staging.join(stream).join(format!("{file_name}.{STAGED}")),
            final_path: self.root.join(stream).join(format!("dt={}", run_started.format("%Y-%m-%d"))).join(file_name),
        })
    }

    fn publish(&self, stream: &str, files: &[(PathBuf, PathBuf)]) -> Result<(), SinkError> {
        for (staging, final_path) in files {
            if staging.exists() {
                if final_path.exists() {
                    return Err(SinkError::Exists { stream: stream.to_string(), path: final_path.clone() });
                }
                let dir = final_path.parent().expect("final paths are inside the sink");
                std::fs::create_dir_all(dir).map_err(SinkError::io(format!("creating {}", dir.display())))?;
                std::fs::rename(staging, final_path).map_err(SinkError::io(format!(
                    "moving {} to {}",
                    staging.display(),
                    final_path.display()
                )))?;
                sync_dir(dir)?;
                crate::fault::point("publish.after-rename");
            } else if !final_path.exists() {
                return Err(SinkError::Lost { stream: stream.to_string(), path: final_path.clone() });
            }
        }
        Ok(())
    }

    fn clear_staging(&self) -> Result<(), SinkError> {
        if self.staging.exists() {
            std::fs::remove_dir_all(&self.staging)
                .map_err(SinkError::io(format!("clearing staging {}", self.staging.display())))?;
        }
        Ok(())
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn claim(&self) -> Result<Claim, SinkError> {
        let folder = self.root.join("_staging");
        std::fs::create_dir_all(&folder).map_err(SinkError::io(format!("creating {}", folder.display())))?;
        let path = folder.join(format!("{}.lock", self.pipeline));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(SinkError::io(format!("opening {}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(Claim::new(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(SinkError::Busy { pipeline: self.pipeline.clone(), path }),
            Err(std::fs::TryLockError::Error(e)) => Err(SinkError::io(format!("locking {}", path.display()))(e)),
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(SinkError::io(format!("syncing {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_are_out_of_every_readers_sight() {
        let dir = tempfile::tempdir().unwrap();
        let sink = HiveSink::new(&dir.path().join("lake"), "p");
        let f = sink.place("orders", "part-r-00001.parquet", chrono::DateTime::UNIX_EPOCH).unwrap();
        assert!(f.staging.starts_with(dir.path().join("lake/_staging/p/orders")));
        assert_eq!(f.staging.extension().unwrap(), "staged", "a `**/*.parquet` glob must not match it");
        assert_eq!(f.final_path, dir.path().join("lake/orders/dt=1970-01-01/part-r-00001.parquet"));
    }

    /// Defence in depth: a name discovery did not check never becomes a path.
    #[test]
    fn a_stream_name_that_is_not_one_segment_is_never_placed() {
        let sink = HiveSink::new(Path::new("lake"), "p");
        for name in ["../x", "/abs", "s/dt=2099-01-01", "_staging"] {
            let err = sink.place(name, "part.parquet", chrono::DateTime::UNIX_EPOCH).expect_err(name).to_string();
            assert!(err.contains("stream name"), "{name}: {err}");
        }
    }

    /// Regression: the lock was on the state store's path only, so two copies of a
    /// pipeline with other state paths cleared each other's staging.
    #[test]
    fn one_run_at_a_time_claims_a_sink() {
        let dir = tempfile::tempdir().unwrap();
        let sink = HiveSink::new(&dir.path().join("lake"), "p");
        let first = sink.claim().unwrap();
        let again = HiveSink::new(&dir.path().join("lake"), "p");
        let err = again.claim().err().unwrap().to_string();
        assert!(err.contains("another headwater run of pipeline `p`"), "{err}");
        HiveSink::new(&dir.path().join("lake"), "other").claim().unwrap();
        drop(first);
        again.claim().unwrap();
    }
}
