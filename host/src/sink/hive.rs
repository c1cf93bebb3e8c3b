//! The Hive-layout Parquet sink on a local folder: a stream's committed files
//! are `<sink>/<stream>/dt=<YYYY-MM-DD>/part-<run-id>-<seq>.parquet` (the run's
//! extraction date), which DuckDB, Polars, Spark and Trino read as is. Files are
//! staged under `<sink>/_staging/<pipeline>/<stream>/` as `*.parquet.staged`,
//! inside the sink so that publishing is a rename on one filesystem, and out of
//! every reader's sight: Hive-style readers skip `_`-prefixed folders, and a
//! glob of the whole lake (`lake/**/*.parquet`) does not match the suffix.
//! A run holds `<sink>/_staging/_locks/<pipeline>.lock`, so two runs of one
//! pipeline never share a sink, whatever their state paths. The sink's own
//! folders (`_locks`, and a full refresh's `_next/<stream>` and `_old/<stream>`)
//! start with `_`, which no pipeline or stream name may: a stream `x.next` or a
//! pipeline `p.lock` never meets them (review D13).

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

    fn replace(&self, stream: &str, snapshot: &str, files: &[(PathBuf, PathBuf)]) -> Result<(), SinkError> {
        names::check(names::Kind::Stream, stream)?;
        let live = self.root.join(stream);
        let next = self.staging.join(NEXT).join(stream);
        if read_marker(&live).as_deref() == Some(snapshot) {
            // Swapped already (a crash came after it): only the old files are left to delete.
            return remove_old(&next);
        }
        // Gather the new snapshot as the stream's folder will be, out of every stream reader's sight.
        let mut dirs = std::collections::BTreeSet::from([next.clone()]);
        for (staging, final_path) in files {
            let relative = final_path.strip_prefix(&live).map_err(|_| SinkError::Io {
                context: format!("replacing stream `{stream}`"),
                reason: format!("{} is not inside {}", final_path.display(), live.display()),
            })?;
            let target = next.join(relative);
            let dir = target.parent().expect("a file inside the stream's folder").to_path_buf();
            if staging.exists() {
                std::fs::create_dir_all(&dir).map_err(SinkError::io(format!("creating {}", dir.display())))?;
                std::fs::rename(staging, &target).map_err(SinkError::io(format!(
                    "moving {} to {}",
                    staging.display(),
                    target.display()
                )))?;
            } else if !target.exists() {
                return Err(SinkError::Lost { stream: stream.to_string(), path: final_path.clone() });
            }
            dirs.insert(dir);
        }
        std::fs::create_dir_all(&next).map_err(SinkError::io(format!("creating {}", next.display())))?;
        let marker = next.join(MARKER);
        std::fs::write(&marker, snapshot)
            .and_then(|()| std::fs::File::open(&marker)?.sync_all())
            .map_err(SinkError::io(format!("writing {}", marker.display())))?;
        for dir in dirs.iter().rev() {
            sync_dir(dir)?;
        }
        crate::fault::point("replace.before-swap");
        swap(&next, &live, &self.staging.join(OLD).join(stream), exchange)?;
        sync_dir(&self.root)?;
        sync_dir(next.parent().expect("`_next` holds it"))?;
        crate::fault::point("replace.after-swap");
        remove_old(&next)
    }

    fn discard(&self, files: &[StagedFile]) {
        for f in files {
            if let Err(e) = std::fs::remove_file(&f.staging) {
                tracing::warn!("could not delete {} (the next run clears it): {e}", f.staging.display());
            }
        }
    }

    fn clear_staging(&self) -> Result<(), SinkError> {
        if self.staging.exists() {
            std::fs::remove_dir_all(&self.staging)
                .map_err(SinkError::io(format!("clearing staging {}", self.staging.display())))?;
        }
        Ok(())
    }

    fn scratch(&self) -> PathBuf {
        self.staging.join(REMOTE)
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn claim(&self) -> Result<Claim, SinkError> {
        let folder = self.root.join("_staging").join(LOCKS);
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

/// The folder of a pipeline's staging where a full refresh gathers a stream's
/// new snapshot (`_next/<stream>`), and where the fallback swap moves the old
/// one aside (`_old/<stream>`); and the sink's folder of run locks.
const NEXT: &str = "_next";
const OLD: &str = "_old";
const LOCKS: &str = "_locks";
/// The folder of a pipeline's staging where remote files wait to be decoded.
const REMOTE: &str = "_remote";
/// The file in a stream's folder naming the full refresh that made it (its
/// `snapshot`): how a replacement interrupted after its swap is known to be done.
/// `_`-prefixed and not `.parquet`, so no reader takes it for data.
const MARKER: &str = "_SNAPSHOT";

fn read_marker(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(MARKER)).ok()
}

/// Exchanges `next` and `live` in one step (Linux `renameat2(RENAME_EXCHANGE)`):
/// a reader of `live` sees the old folder or the new, never neither. Where the
/// filesystem cannot exchange, the old folder is moved aside first: a reader may
/// then find the stream empty for that moment, and recovery completes a crash there.
fn swap(
    next: &Path,
    live: &Path,
    aside: &Path,
    exchange: impl Fn(&Path, &Path) -> std::io::Result<()>,
) -> Result<(), SinkError> {
    let failed = |e: std::io::Error| SinkError::Io {
        context: format!("replacing {} with {}", live.display(), next.display()),
        reason: e.to_string(),
    };
    if !live.exists() {
        return std::fs::rename(next, live).map_err(failed);
    }
    match exchange(next, live) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)) => {
            tracing::warn!("{} cannot exchange folders ({e}): replacing in two renames", live.display());
            let parent = aside.parent().expect("`_old` holds it");
            std::fs::create_dir_all(parent).map_err(failed)?;
            std::fs::rename(live, aside).map_err(failed)?;
            crate::fault::point("replace.after-aside");
            std::fs::rename(next, live).map_err(failed)?;
            std::fs::rename(aside, next).map_err(failed)
        }
        Err(e) => Err(failed(e)),
    }
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths, relative to the working directory.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
}

/// Deletes the snapshot a replacement swapped out (now at `next`).
fn remove_old(next: &Path) -> Result<(), SinkError> {
    match std::fs::remove_dir_all(next) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(SinkError::io(format!("deleting the replaced snapshot {}", next.display()))(e))
        }
        _ => Ok(()),
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

    fn staged_file(sink: &HiveSink, name: &str) -> (PathBuf, PathBuf) {
        let f = sink.place("orders", name, chrono::DateTime::UNIX_EPOCH).unwrap();
        std::fs::create_dir_all(f.staging.parent().unwrap()).unwrap();
        std::fs::write(&f.staging, name).unwrap();
        (f.staging, f.final_path)
    }

    fn parquet_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = walkdir::WalkDir::new(dir)
            .into_iter()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_replacement_swaps_the_whole_stream_and_can_be_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let sink = HiveSink::new(&lake, "p");
        let old = [staged_file(&sink, "old-1.parquet"), staged_file(&sink, "old-2.parquet")];
        sink.publish("orders", &old).unwrap();
        let new = [staged_file(&sink, "new-1.parquet")];
        sink.replace("orders", "run-2", &new).unwrap();
        assert_eq!(parquet_names(&lake), ["new-1.parquet"], "only the new snapshot is left, in the whole lake");
        assert_eq!(read_marker(&lake.join("orders")).as_deref(), Some("run-2"));
        // Recovery runs it again: nothing changes, nothing is lost.
        sink.replace("orders", "run-2", &new).unwrap();
        assert_eq!(parquet_names(&lake), ["new-1.parquet"]);
        // An empty snapshot replaces too.
        sink.replace("orders", "run-3", &[]).unwrap();
        assert!(parquet_names(&lake).is_empty());
    }

    /// Review D13 and T5: the sink's own folders took names a valid stream or
    /// pipeline can have (`x.next`, `x.old`, `p.lock`).
    #[test]
    fn the_sinks_own_folders_never_meet_a_valid_name() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let sink = HiveSink::new(&lake, "p");
        for neighbour in ["orders.next", "orders.old", "orders.lock", "next", "old", "locks"] {
            let f = sink.place(neighbour, "a.parquet", chrono::DateTime::UNIX_EPOCH).unwrap();
            for own in [NEXT, OLD] {
                assert!(!f.staging.starts_with(lake.join("_staging/p").join(own)), "{neighbour} in {own}");
            }
        }
        // A stream `orders.next` staged beside a refresh of `orders`: each lands in its own folder.
        let (neighbour, mine) = (
            sink.place("orders.next", "n.parquet", chrono::DateTime::UNIX_EPOCH).unwrap(),
            staged_file(&sink, "r.parquet"),
        );
        std::fs::create_dir_all(neighbour.staging.parent().unwrap()).unwrap();
        std::fs::write(&neighbour.staging, "n").unwrap();
        sink.replace("orders", "run-1", &[mine]).unwrap();
        assert_eq!(parquet_names(&lake.join("orders")), ["r.parquet"]);
        assert!(neighbour.staging.exists(), "the other stream's staged file is untouched");
        // The lock of `p` is not the staging folder of a pipeline `p.lock`.
        let _claim = sink.claim().unwrap();
        let other = HiveSink::new(&lake, "p.lock");
        assert!(!lake.join("_staging/p.lock").exists());
        let _other = other.claim().unwrap();
        other.clear_staging().unwrap();
        assert!(sink.claim().is_err(), "clearing p.lock's staging left p's lock in place");
    }

    /// Review T7: where the filesystem cannot exchange folders (EINVAL), the swap
    /// takes the two-rename path; it must end with the new snapshot live and the
    /// old one where `remove_old` deletes it.
    #[test]
    fn the_two_rename_swap_replaces_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let (next, live, aside) = (dir.path().join("_next/s"), dir.path().join("s"), dir.path().join("_old/s"));
        for (folder, file) in [(&next, "new"), (&live, "old")] {
            std::fs::create_dir_all(folder).unwrap();
            std::fs::write(folder.join(file), file).unwrap();
        }
        let no_exchange = |_: &Path, _: &Path| Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        swap(&next, &live, &aside, no_exchange).unwrap();
        assert!(live.join("new").exists() && !live.join("old").exists());
        assert!(next.join("old").exists(), "the old snapshot is where remove_old deletes it");
        assert!(!aside.exists());
        // Another error is not taken for a missing exchange.
        let denied = |_: &Path, _: &Path| Err(std::io::Error::from_raw_os_error(libc::EACCES));
        assert!(swap(&next, &live, &aside, denied).is_err());
        assert!(live.join("new").exists(), "a failed swap leaves the live snapshot");
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
