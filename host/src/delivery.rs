//! The delivery protocol: how a checkpoint's files and its state are committed
//! together so that a crash at any point, then a rerun, leaves each row in the
//! sink exactly once and the watermark equal to what the sink holds.
//!
//! 1. the sink finishes and fsyncs the checkpoint's files in staging;
//! 2. an intent {files, new state} is recorded durably in the state store;
//! 3. the files are renamed into place (and their folders fsynced);
//! 4. the new state is written and the intent dropped, in one atomic batch.
//!
//! On start, [`recover`] completes every intent whose files are all still
//! staged or already in place, and discards staging: files staged without an
//! intent belong to a checkpoint that never committed.

use crate::sink::StagedFile;
use crate::store::{Intent, StateStore, StreamState};
use crate::{Error, Result};
use std::path::Path;

/// Commits `files` and `state` for `stream` (steps 2-4 above).
pub fn commit(store: &StateStore, stream: &str, files: &[StagedFile], state: StreamState) -> Result<()> {
    let intent = Intent {
        stream: stream.to_string(),
        files: files.iter().map(|f| (f.staging.clone(), f.final_path.clone())).collect(),
        state,
    };
    store.put_intent(&intent)?;
    move_into_place(&intent)?;
    store.complete_intent(&intent)
}

/// Completes interrupted commits and clears `staging`. Returns the streams recovered.
pub fn recover(store: &StateStore, staging: &Path) -> Result<Vec<String>> {
    let mut recovered = Vec::new();
    for intent in store.intents()? {
        move_into_place(&intent)?;
        store.complete_intent(&intent)?;
        recovered.push(intent.stream);
    }
    if staging.exists() {
        std::fs::remove_dir_all(staging).map_err(Error::io(format!("clearing staging {}", staging.display())))?;
    }
    Ok(recovered)
}

fn move_into_place(intent: &Intent) -> Result<()> {
    for (staging, final_path) in &intent.files {
        if staging.exists() {
            if final_path.exists() {
                return Err(Error::Sink(format!(
                    "checkpoint of stream `{}`: {} already exists; committed files are never overwritten",
                    intent.stream,
                    final_path.display()
                )));
            }
            let dir = final_path.parent().expect("final paths are inside the sink");
            std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
            std::fs::rename(staging, final_path).map_err(Error::io(format!(
                "moving {} to {}",
                staging.display(),
                final_path.display()
            )))?;
            sync_dir(dir)?;
        } else if !final_path.exists() {
            return Err(Error::Sink(format!(
                "checkpoint of stream `{}` lost its file {}: it is neither staged nor in place",
                intent.stream,
                final_path.display()
            )));
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io(format!("syncing {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(dir: &Path, name: &str) -> StagedFile {
        let staging = dir.join("_staging").join(name);
        std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
        std::fs::write(&staging, name).unwrap();
        StagedFile { staging, final_path: dir.join("orders/dt=2025-01-01").join(name), rows: 1 }
    }

    #[test]
    fn commit_moves_files_then_writes_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state"), "p").unwrap();
        let f = staged(dir.path(), "a.parquet");
        let state = StreamState { rows: 1, ..Default::default() };
        commit(&store, "orders", std::slice::from_ref(&f), state.clone()).unwrap();
        assert!(f.final_path.exists() && !f.staging.exists());
        assert_eq!(store.get("orders").unwrap(), state);
    }

    /// A crash after the intent was recorded and one of two files moved: recovery
    /// moves the other and writes the state, exactly once.
    #[test]
    fn recovery_completes_a_half_moved_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state"), "p").unwrap();
        let (a, b) = (staged(dir.path(), "a.parquet"), staged(dir.path(), "b.parquet"));
        let state = StreamState { rows: 2, ..Default::default() };
        let intent = Intent {
            stream: "orders".into(),
            files: vec![(a.staging.clone(), a.final_path.clone()), (b.staging.clone(), b.final_path.clone())],
            state: state.clone(),
        };
        store.put_intent(&intent).unwrap();
        std::fs::create_dir_all(a.final_path.parent().unwrap()).unwrap();
        std::fs::rename(&a.staging, &a.final_path).unwrap();

        let recovered = recover(&store, &dir.path().join("_staging")).unwrap();
        assert_eq!(recovered, vec!["orders".to_string()]);
        assert!(a.final_path.exists() && b.final_path.exists());
        assert_eq!(store.get("orders").unwrap(), state);
        assert!(store.intents().unwrap().is_empty());
        assert!(!dir.path().join("_staging").exists());
    }

    /// Files staged without an intent never committed: recovery discards them.
    #[test]
    fn recovery_discards_uncommitted_staging() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state"), "p").unwrap();
        let f = staged(dir.path(), "a.parquet");
        recover(&store, &dir.path().join("_staging")).unwrap();
        assert!(!f.staging.exists() && !f.final_path.exists());
        assert_eq!(store.get("orders").unwrap(), StreamState::default());
    }
}
