//! The delivery protocol: how a checkpoint's files and its state are committed
//! together so that a crash at any point, then a rerun, leaves each row in the
//! sink exactly once and the watermark equal to what the sink holds. It is
//! written against the two seams, [`Sink`] and [`StateStore`]:
//!
//! 1. the sink's writer finishes and fsyncs the checkpoint's files in staging;
//! 2. an intent {files, new state} is recorded durably in the state store;
//! 3. the sink publishes the files (for the Hive sink: renamed into place and
//!    their folders fsynced);
//! 4. the store writes the new state and drops the intent, in one atomic step.
//!
//! On start, [`recover`] completes every intent whose files are all still
//! staged or already published, and clears staging: files staged without an
//! intent belong to a checkpoint that never committed.
//!
//! A table-format sink that keeps its streams' progress in its own log fits the
//! same four steps with one type implementing both traits: publishing is a no-op
//! (staged data files are invisible until the log names them) and completing the
//! intent is the table commit that adds the files and records the state at once.

use crate::fault;
use crate::sink::{Sink, SinkError, StagedFile};
use crate::store::{StateStore, StoreError, StreamState};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A checkpoint between "files staged" and "state written": what recovery completes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intent {
    pub stream: String,
    /// (staging path, final path) of each file of the checkpoint.
    pub files: Vec<(PathBuf, PathBuf)>,
    pub state: StreamState,
    /// A full refresh: the files replace the stream's whole content, as the
    /// snapshot of this name (see `Sink::replace`), rather than adding to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// A commit that did not happen, or did not finish.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The intent was recorded before the step that failed: the commit is not
    /// lost, and recovery completes it when the pipeline next starts.
    #[error("{0}; the commit is recorded, and the next run of the pipeline completes it")]
    Recorded(Box<DeliveryError>),
}

impl DeliveryError {
    /// Whether the commit will still happen (at the next start), though this call failed.
    pub fn recorded(&self) -> bool {
        matches!(self, DeliveryError::Recorded(_))
    }
}

/// `f` (a commit: its renames, fsyncs and store flushes) on tokio's blocking
/// pool, so that it does not hold the runtime thread the other streams share
/// (review D22); a panic in it is raised here, as it would have been in place.
pub async fn off_the_runtime<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Commits `files` and `state` for `stream` (steps 2-4 above).
pub fn commit(
    sink: &dyn Sink,
    store: &dyn StateStore,
    stream: &str,
    files: &[StagedFile],
    state: StreamState,
) -> Result<(), DeliveryError> {
    commit_intent(sink, store, intent(stream, files, state, None))
}

/// Commits a full refresh: `files` become the stream's whole content, named
/// `snapshot`, and `state` its state, through the same four steps with
/// [`Sink::replace`] for step 3. Until step 3, readers see the old snapshot.
pub fn commit_snapshot(
    sink: &dyn Sink,
    store: &dyn StateStore,
    stream: &str,
    snapshot: &str,
    files: &[StagedFile],
    state: StreamState,
) -> Result<(), DeliveryError> {
    commit_intent(sink, store, intent(stream, files, state, Some(snapshot.to_string())))
}

fn intent(stream: &str, files: &[StagedFile], state: StreamState, replaces: Option<String>) -> Intent {
    Intent {
        stream: stream.to_string(),
        files: files.iter().map(|f| (f.staging.clone(), f.final_path.clone())).collect(),
        state,
        replaces,
    }
}

fn commit_intent(sink: &dyn Sink, store: &dyn StateStore, intent: Intent) -> Result<(), DeliveryError> {
    fault::point("commit.before-intent");
    store.put_intent(&intent)?;
    let recorded = |e: DeliveryError| if store.records_intents() { DeliveryError::Recorded(Box::new(e)) } else { e };
    fault::point("commit.after-intent");
    make_visible(sink, &intent).map_err(|e| recorded(e.into()))?;
    fault::point("commit.after-publish");
    store.complete_intent(&intent).map_err(|e| recorded(e.into()))?;
    fault::point("commit.after-state");
    Ok(())
}

/// Step 3 of an intent: its files added to the stream, or replacing it.
fn make_visible(sink: &dyn Sink, intent: &Intent) -> Result<(), SinkError> {
    match &intent.replaces {
        Some(snapshot) => sink.replace(&intent.stream, snapshot, &intent.files),
        None => sink.publish(&intent.stream, &intent.files),
    }
}

/// Commits a new state that no files go with (e.g. a finished backfill handing
/// off), through the same atomic step as a checkpoint's.
pub fn commit_state(store: &dyn StateStore, stream: &str, state: StreamState) -> Result<(), DeliveryError> {
    Ok(store.complete_intent(&intent(stream, &[], state, None))?)
}

/// Completes interrupted commits and clears staging. Returns the streams recovered.
pub fn recover(sink: &dyn Sink, store: &dyn StateStore) -> Result<Vec<String>, DeliveryError> {
    let mut recovered = Vec::new();
    for intent in store.intents()? {
        make_visible(sink, &intent)?;
        fault::point("recover.after-publish");
        store.complete_intent(&intent)?;
        recovered.push(intent.stream);
    }
    sink.clear_staging()?;
    Ok(recovered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::HiveSink;
    use crate::store::SledStore;
    use std::path::Path;

    fn staged(sink: &HiveSink, name: &str) -> StagedFile {
        let file = sink.place("orders", name, chrono::DateTime::UNIX_EPOCH).unwrap();
        std::fs::create_dir_all(file.staging.parent().unwrap()).unwrap();
        std::fs::write(&file.staging, name).unwrap();
        file
    }

    fn setup(dir: &Path) -> (HiveSink, SledStore) {
        (HiveSink::new(&dir.join("lake"), "p"), SledStore::open(&dir.join("state"), "p").unwrap())
    }

    #[test]
    fn commit_moves_files_then_writes_state() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, store) = setup(dir.path());
        let f = staged(&sink, "a.parquet");
        let state = StreamState { rows: 1, ..Default::default() };
        commit(&sink, &store, "orders", std::slice::from_ref(&f), state.clone()).unwrap();
        assert!(f.final_path.exists() && !f.staging.exists());
        assert_eq!(store.get("orders").unwrap(), state);
    }

    /// A crash after the intent was recorded and one of two files moved: recovery
    /// moves the other and writes the state, exactly once.
    #[test]
    fn recovery_completes_a_half_moved_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, store) = setup(dir.path());
        let (a, b) = (staged(&sink, "a.parquet"), staged(&sink, "b.parquet"));
        let state = StreamState { rows: 2, ..Default::default() };
        let intent = Intent {
            stream: "orders".into(),
            files: vec![(a.staging.clone(), a.final_path.clone()), (b.staging.clone(), b.final_path.clone())],
            state: state.clone(),
            replaces: None,
        };
        store.put_intent(&intent).unwrap();
        std::fs::create_dir_all(a.final_path.parent().unwrap()).unwrap();
        std::fs::rename(&a.staging, &a.final_path).unwrap();

        let recovered = recover(&sink, &store).unwrap();
        assert_eq!(recovered, vec!["orders".to_string()]);
        assert!(a.final_path.exists() && b.final_path.exists());
        assert_eq!(store.get("orders").unwrap(), state);
        assert!(store.intents().unwrap().is_empty());
        assert!(!dir.path().join("lake/_staging/p").exists());
    }

    /// Files staged without an intent never committed: recovery discards them.
    #[test]
    fn recovery_discards_uncommitted_staging() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, store) = setup(dir.path());
        let f = staged(&sink, "a.parquet");
        recover(&sink, &store).unwrap();
        assert!(!f.staging.exists() && !f.final_path.exists());
        assert_eq!(store.get("orders").unwrap(), StreamState::default());
    }

    /// An intent whose file is gone from staging and from the sink cannot be
    /// completed: recovery says which file, rather than writing a state that lies.
    #[test]
    fn recovery_refuses_an_intent_whose_files_are_lost() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, store) = setup(dir.path());
        let a = staged(&sink, "a.parquet");
        let intent = Intent {
            stream: "orders".into(),
            files: vec![(a.staging.clone(), a.final_path.clone())],
            state: StreamState { rows: 1, ..Default::default() },
            replaces: None,
        };
        store.put_intent(&intent).unwrap();
        std::fs::remove_file(&a.staging).unwrap();
        let err = recover(&sink, &store).unwrap_err().to_string();
        assert!(err.contains("lost its file") && err.contains("a.parquet"), "{err}");
        assert_eq!(store.get("orders").unwrap(), StreamState::default());
    }

    /// A full refresh interrupted after its intent and before its swap: readers
    /// still see the old snapshot; recovery completes the swap, and the old files go.
    #[test]
    fn recovery_completes_an_interrupted_full_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, store) = setup(dir.path());
        let old = staged(&sink, "old.parquet");
        commit(&sink, &store, "orders", std::slice::from_ref(&old), StreamState { rows: 5, ..Default::default() })
            .unwrap();
        let new = staged(&sink, "new.parquet");
        let state = StreamState { rows: 2, ..Default::default() };
        let intent = Intent {
            stream: "orders".into(),
            files: vec![(new.staging.clone(), new.final_path.clone())],
            state: state.clone(),
            replaces: Some("run-2".into()),
        };
        store.put_intent(&intent).unwrap();
        assert!(
            old.final_path.exists() && !new.final_path.exists(),
            "before the swap, the old snapshot is what readers see"
        );

        assert_eq!(recover(&sink, &store).unwrap(), vec!["orders".to_string()]);
        assert!(new.final_path.exists() && !old.final_path.exists());
        assert_eq!(store.get("orders").unwrap(), state);
        assert!(!dir.path().join("lake/_staging/p").exists());
    }

    /// The Hive sink, whose `replace` fails once (a full disk at the swap).
    struct FailingSwap(HiveSink);

    impl Sink for FailingSwap {
        fn place(&self, s: &str, f: &str, t: chrono::DateTime<chrono::Utc>) -> Result<StagedFile, SinkError> {
            self.0.place(s, f, t)
        }
        fn publish(&self, s: &str, f: &[(PathBuf, PathBuf)]) -> Result<(), SinkError> {
            self.0.publish(s, f)
        }
        fn replace(&self, _: &str, _: &str, _: &[(PathBuf, PathBuf)]) -> Result<(), SinkError> {
            Err(SinkError::Io { context: "swapping the snapshot".into(), reason: "No space left on device".into() })
        }
        fn discard(&self, f: &[StagedFile]) {
            self.0.discard(f)
        }
        fn clear_staging(&self) -> Result<(), SinkError> {
            self.0.clear_staging()
        }
        fn scratch(&self) -> PathBuf {
            self.0.scratch()
        }
        fn location(&self) -> String {
            self.0.location()
        }
        fn claim(&self) -> Result<crate::sink::Claim, SinkError> {
            self.0.claim()
        }
    }

    /// Review D9: a refresh whose swap failed after its intent was recorded was
    /// reported "not applied", and then the next start applied it. The error says
    /// it is recorded, and recovery does complete it.
    #[test]
    fn a_commit_that_fails_after_its_intent_says_it_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, store) = setup(dir.path());
        let failing = FailingSwap(HiveSink::new(&dir.path().join("lake"), "p"));
        let new = staged(&sink, "new.parquet");
        let state = StreamState { rows: 2, ..Default::default() };
        let e = commit_snapshot(&failing, &store, "orders", "run-2", std::slice::from_ref(&new), state.clone())
            .unwrap_err();
        assert!(e.recorded() && e.to_string().contains("the next run of the pipeline completes it"), "{e}");
        assert_eq!(recover(&sink, &store).unwrap(), vec!["orders".to_string()]);
        assert!(new.final_path.exists());
        assert_eq!(store.get("orders").unwrap(), state);

        // Before the intent is recorded, a failure is a commit that did not happen.
        let unrecorded =
            DeliveryError::Store(StoreError { path: "s".into(), message: "full".into(), incompatible: false });
        assert!(!unrecorded.recorded());
    }
}
