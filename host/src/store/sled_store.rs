//! The sled implementation of [`StateStore`]: one database at `[state] path`,
//! keys `<kind>\0<pipeline>\0<stream>` so several pipelines may share it. One
//! process at a time holds it; a second run of the same pipeline is refused
//! with a message saying so.

use super::{StateStore, StoreError, StreamState};
use crate::delivery::Intent;
use std::path::{Path, PathBuf};

pub struct SledStore {
    db: sled::Db,
    path: PathBuf,
    pipeline: String,
}

const STREAM: &str = "stream";
const INTENT: &str = "intent";
const SECRET: &str = "secret";
/// The key of the store's format stamp, outside every `<kind>\0<pipeline>\0` range.
const FORMAT_KEY: &[u8] = b"format";
/// The layout of keys and values this build writes; bumped on any incompatible change.
const FORMAT: u32 = 1;

impl SledStore {
    /// Opens (creating) the store of `pipeline` at `path`.
    pub fn open(path: &Path, pipeline: &str) -> Result<SledStore, StoreError> {
        remove_unfinished_snapshots(path);
        remove_unfinished_config(path);
        let db = sled::Config::new().path(path).open().map_err(|e| {
            let message = if e.to_string().contains("lock") {
                format!("{e}: another headwater process is using this state store; wait for it to finish")
            } else {
                e.to_string()
            };
            StoreError { path: path.to_path_buf(), message, incompatible: false }
        })?;
        let store = SledStore { db, path: path.to_path_buf(), pipeline: pipeline.to_string() };
        store.check_format()?;
        Ok(store)
    }

    /// Stamps a new store with [`FORMAT`] and refuses one of another format, so that
    /// a store written by a later headwater (or by something else) is never misread.
    /// A store without a stamp predates it and is format 1.
    fn check_format(&self) -> Result<(), StoreError> {
        let stamped = self.db.get(FORMAT_KEY).map_err(|e| self.err(e))?;
        match stamped.as_deref() {
            None => {
                self.db.insert(FORMAT_KEY, FORMAT.to_string().as_bytes()).map_err(|e| self.err(e))?;
                self.flush()
            }
            Some(v) if v == FORMAT.to_string().as_bytes() => Ok(()),
            Some(v) => Err(StoreError {
                path: self.path.clone(),
                message: format!(
                    "it is a state store of format {}, and this headwater reads format {FORMAT}: run the headwater \
                     that wrote it, or point `[state] path` at another folder",
                    crate::untrusted_text::one_line(&String::from_utf8_lossy(v))
                ),
                incompatible: true,
            }),
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError { path: self.path.clone(), message: e.to_string(), incompatible: false }
    }

    fn key(&self, kind: &str, stream: &str) -> Vec<u8> {
        format!("{kind}\0{}\0{stream}", self.pipeline).into_bytes()
    }

    fn prefix(&self, kind: &str) -> Vec<u8> {
        format!("{kind}\0{}\0", self.pipeline).into_bytes()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }
}

/// sled writes its `conf` file when a store is first opened, in two writes (the
/// settings, then their checksum), neither renamed into place nor fsynced, and
/// before it creates `db`: a process killed in between (or a full disk) leaves a
/// `conf` whose checksum fails, and sled then refuses to open the store ("Read
/// corrupted data") for good. Without `db` no open ever got past writing `conf`,
/// and nothing was stored: the leftover is removed, and sled writes it again.
fn remove_unfinished_config(path: &Path) {
    let conf = path.join("conf");
    if conf.exists() && !path.join("db").exists() {
        match std::fs::remove_file(&conf) {
            Ok(()) => tracing::info!("state store {}: removed the conf of an unfinished first open", path.display()),
            Err(e) => {
                tracing::warn!("state store {}: cannot remove the unfinished {}: {e}", path.display(), conf.display())
            }
        }
    }
}

/// sled writes a snapshot as `snap.<n>.generating` and renames it when complete;
/// a process killed meanwhile (or a full disk) leaves the partial file, and sled
/// then refuses to open the store ("Read corrupted data") for good. Such a file
/// is never a snapshot sled could use, so it is removed before opening.
fn remove_unfinished_snapshots(path: &Path) {
    let Ok(entries) = std::fs::read_dir(path) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!("state store {}: removed an unfinished snapshot {name}", path.display()),
                Err(e) => {
                    tracing::warn!("state store {}: cannot remove the unfinished snapshot {name}: {e}", path.display())
                }
            }
        }
    }
}

impl StateStore for SledStore {
    fn get(&self, stream: &str) -> Result<StreamState, StoreError> {
        match self.db.get(self.key(STREAM, stream)).map_err(|e| self.err(e))? {
            None => Ok(StreamState::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| self.err(format!("state of stream `{stream}` is unreadable: {e}"))),
        }
    }

    fn streams(&self) -> Result<Vec<(String, StreamState)>, StoreError> {
        let prefix = self.prefix(STREAM);
        self.db
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                let state = serde_json::from_slice(&v).map_err(|e| self.err(e))?;
                Ok((name, state))
            })
            .collect()
    }

    fn remove(&self, stream: &str) -> Result<(), StoreError> {
        self.db.remove(self.key(STREAM, stream)).map_err(|e| self.err(e))?;
        self.flush()
    }

    fn put_intent(&self, intent: &Intent) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(intent).map_err(|e| self.err(e))?;
        self.db.insert(self.key(INTENT, &intent.stream), bytes).map_err(|e| self.err(e))?;
        self.flush()
    }

    fn complete_intent(&self, intent: &Intent) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        batch.insert(self.key(STREAM, &intent.stream), serde_json::to_vec(&intent.state).map_err(|e| self.err(e))?);
        batch.remove(self.key(INTENT, &intent.stream));
        self.db.apply_batch(batch).map_err(|e| self.err(e))?;
        self.flush()
    }

    fn intents(&self) -> Result<Vec<Intent>, StoreError> {
        self.db
            .scan_prefix(self.prefix(INTENT))
            .map(|kv| {
                let (_, v) = kv.map_err(|e| self.err(e))?;
                serde_json::from_slice(&v).map_err(|e| self.err(e))
            })
            .collect()
    }

    fn drop_intent(&self, stream: &str) -> Result<(), StoreError> {
        self.db.remove(self.key(INTENT, stream)).map_err(|e| self.err(e))?;
        self.flush()
    }

    fn get_secret(&self, credential: &str) -> Result<Option<String>, StoreError> {
        let v = self.db.get(self.key(SECRET, credential)).map_err(|e| self.err(e))?;
        Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    fn put_secret(&self, credential: &str, value: &str) -> Result<(), StoreError> {
        self.db.insert(self.key(SECRET, credential), value.as_bytes()).map_err(|e| self.err(e))?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::Watermark;

    #[test]
    fn intent_completion_writes_state_and_drops_intent() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("s"), "p").unwrap();
        let state = StreamState { rows: 5, watermark: Some(Watermark::Int(9)), ..Default::default() };
        let intent = Intent { stream: "orders".into(), files: vec![], state: state.clone(), replaces: None };
        store.put_intent(&intent).unwrap();
        assert_eq!(store.intents().unwrap().len(), 1);
        store.complete_intent(&intent).unwrap();
        assert!(store.intents().unwrap().is_empty());
        assert_eq!(store.get("orders").unwrap(), state);
        assert_eq!(store.streams().unwrap(), vec![("orders".to_string(), state)]);
    }

    /// Regression: a kill while sled wrote a snapshot at open left a partial
    /// `snap.*.generating`, and every later open failed with "Read corrupted data".
    #[test]
    fn an_unfinished_snapshot_does_not_break_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let state = StreamState { rows: 3, ..Default::default() };
        {
            let s = SledStore::open(&path, "p").unwrap();
            s.complete_intent(&Intent { stream: "a".into(), files: vec![], state: state.clone(), replaces: None })
                .unwrap();
        }
        drop(SledStore::open(&path, "p").unwrap());
        std::fs::write(path.join("snap.0000000000000131.generating"), b"cut short").unwrap();
        assert_eq!(SledStore::open(&path, "p").unwrap().get("a").unwrap(), state);
    }

    /// Regression: a kill between sled's two writes of `conf`, at a store's first
    /// open, left a torn `conf`, and every later open failed with "Read corrupted data".
    #[test]
    fn a_torn_conf_of_a_first_open_does_not_break_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("conf"), b"segment_size: 524288\nuse_").unwrap();
        let store = SledStore::open(&path, "p").unwrap();
        assert_eq!(store.get("a").unwrap(), StreamState::default());
    }

    #[test]
    fn pipelines_do_not_see_each_others_streams() {
        let dir = tempfile::tempdir().unwrap();
        {
            let a = SledStore::open(&dir.path().join("s"), "a").unwrap();
            let intent =
                Intent { stream: "orders".into(), files: vec![], state: StreamState::default(), replaces: None };
            a.complete_intent(&intent).unwrap();
        }
        let b = SledStore::open(&dir.path().join("s"), "b").unwrap();
        assert!(b.streams().unwrap().is_empty());
    }
}
