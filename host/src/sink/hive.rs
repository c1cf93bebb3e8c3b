//! The Hive-layout Parquet sink on a local folder: a stream's committed files
//! are `<sink>/<stream>/dt=<YYYY-MM-DD>/part-<run-id>-<seq>.parquet` (the run's
//! extraction date), which DuckDB, Polars, Spark and Trino read as is. Files are
//! staged under `<sink>/_staging/<pipeline>/<stream>/`, inside the sink so that
//! publishing is a rename on one filesystem, and a reader of `<stream>/**`
//! never sees a file before its checkpoint commits.

use super::{Sink, SinkError, StagedFile};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

pub struct HiveSink {
    root: PathBuf,
    /// This pipeline's staging folder.
    staging: PathBuf,
}

impl HiveSink {
    /// The sink at `root` for `pipeline` (a validated name: one path segment).
    pub fn new(root: &Path, pipeline: &str) -> Self {
        HiveSink { root: root.to_path_buf(), staging: root.join("_staging").join(pipeline) }
    }
}

impl Sink for HiveSink {
    fn place(&self, stream: &str, file_name: &str, run_started: DateTime<Utc>) -> StagedFile {
        StagedFile {
            staging: self.staging.join(stream).join(file_name),
            final_path: self.root.join(stream).join(format!("dt={}", run_started.format("%Y-%m-%d"))).join(file_name),
        }
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
}

fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(SinkError::io(format!("syncing {}", dir.display())))
}
