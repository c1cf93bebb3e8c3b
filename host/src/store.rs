//! The state store: each stream's committed state and watermark, and the
//! delivery intents of checkpoints in flight, in a sled database at `[state] path`.
//! One process at a time holds it; a second run of the same pipeline is refused.

use crate::watermark::Watermark;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which phase of a pipeline a connector runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseKind {
    Backfill,
    Source,
}

impl PhaseKind {
    pub fn name(self) -> &'static str {
        match self {
            PhaseKind::Backfill => "backfill",
            PhaseKind::Source => "source",
        }
    }
}

/// Everything committed for one stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    /// The backfill phase finished for this stream; later runs go straight to `[source]`.
    #[serde(default)]
    pub backfill_done: bool,
    /// Highest cursor value the sink holds for this stream.
    #[serde(default)]
    pub watermark: Option<Watermark>,
    /// The backfill connector's own state (e.g. files loaded).
    #[serde(default)]
    pub backfill_state: Option<String>,
    /// The `[source]` connector's own state.
    #[serde(default)]
    pub source_state: Option<String>,
    /// Rows committed, all runs together.
    #[serde(default)]
    pub rows: u64,
    /// Parquet files committed, all runs together.
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_run_id: Option<String>,
    /// Keys of the committed rows whose cursor equals the watermark (see `seam`).
    #[serde(default)]
    pub seam: Option<SeamState>,
    /// The union of the columns committed so far, with their (widened) types.
    #[serde(default)]
    pub schema: Option<arrow_schema::Schema>,
}

/// The committed rows at the watermark: their cursor as text and their primary keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeamState {
    pub cursor: String,
    pub keys: Vec<String>,
}

impl StreamState {
    pub fn connector_state(&self, phase: PhaseKind) -> Option<&String> {
        match phase {
            PhaseKind::Backfill => self.backfill_state.as_ref(),
            PhaseKind::Source => self.source_state.as_ref(),
        }
    }

    pub fn set_connector_state(&mut self, phase: PhaseKind, state: String) {
        match phase {
            PhaseKind::Backfill => self.backfill_state = Some(state),
            PhaseKind::Source => self.source_state = Some(state),
        }
    }

    /// The phase the next run of this stream starts in.
    pub fn next_phase(&self, has_backfill: bool) -> PhaseKind {
        if has_backfill && !self.backfill_done { PhaseKind::Backfill } else { PhaseKind::Source }
    }
}

/// A checkpoint between "files staged" and "state written": what recovery completes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intent {
    pub stream: String,
    /// (staging path, final path) of each file of the checkpoint.
    pub files: Vec<(PathBuf, PathBuf)>,
    pub state: StreamState,
}

pub struct StateStore {
    db: sled::Db,
    path: PathBuf,
    pipeline: String,
}

const STREAM: &str = "stream";
const INTENT: &str = "intent";
const SECRET: &str = "secret";

impl StateStore {
    /// Opens (creating) the store of `pipeline` at `path`.
    pub fn open(path: &Path, pipeline: &str) -> Result<StateStore> {
        let db = sled::Config::new().path(path).open().map_err(|e| {
            let message = if e.to_string().contains("lock") {
                format!("{e}: another headwater process is using this state store; wait for it to finish")
            } else {
                e.to_string()
            };
            Error::Store { path: path.to_path_buf(), message }
        })?;
        Ok(StateStore { db, path: path.to_path_buf(), pipeline: pipeline.to_string() })
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Store { path: self.path.clone(), message: e.to_string() }
    }

    fn key(&self, kind: &str, stream: &str) -> Vec<u8> {
        format!("{kind}\0{}\0{stream}", self.pipeline).into_bytes()
    }

    fn prefix(&self, kind: &str) -> Vec<u8> {
        format!("{kind}\0{}\0", self.pipeline).into_bytes()
    }

    pub fn get(&self, stream: &str) -> Result<StreamState> {
        match self.db.get(self.key(STREAM, stream)).map_err(|e| self.err(e))? {
            None => Ok(StreamState::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| self.err(format!("state of stream `{stream}` is unreadable: {e}"))),
        }
    }

    /// Every stream with committed state, by name.
    pub fn streams(&self) -> Result<Vec<(String, StreamState)>> {
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

    /// Writes a stream's state directly (used when no files go with it, e.g. a
    /// finished backfill handing off).
    pub fn put(&self, stream: &str, state: &StreamState) -> Result<()> {
        let bytes = serde_json::to_vec(state).map_err(|e| self.err(e))?;
        self.db.insert(self.key(STREAM, stream), bytes).map_err(|e| self.err(e))?;
        self.flush()
    }

    pub fn remove(&self, stream: &str) -> Result<()> {
        self.db.remove(self.key(STREAM, stream)).map_err(|e| self.err(e))?;
        self.flush()
    }

    /// Durably records an intent before its files are moved into place.
    pub fn put_intent(&self, intent: &Intent) -> Result<()> {
        let bytes = serde_json::to_vec(intent).map_err(|e| self.err(e))?;
        self.db.insert(self.key(INTENT, &intent.stream), bytes).map_err(|e| self.err(e))?;
        self.flush()
    }

    /// Writes the intent's state and drops the intent, atomically.
    pub fn complete_intent(&self, intent: &Intent) -> Result<()> {
        let mut batch = sled::Batch::default();
        batch.insert(self.key(STREAM, &intent.stream), serde_json::to_vec(&intent.state).map_err(|e| self.err(e))?);
        batch.remove(self.key(INTENT, &intent.stream));
        self.db.apply_batch(batch).map_err(|e| self.err(e))?;
        self.flush()
    }

    pub fn intents(&self) -> Result<Vec<Intent>> {
        self.db
            .scan_prefix(self.prefix(INTENT))
            .map(|kv| {
                let (_, v) = kv.map_err(|e| self.err(e))?;
                serde_json::from_slice(&v).map_err(|e| self.err(e))
            })
            .collect()
    }

    /// A secret the host keeps between runs (a rotated OAuth2 refresh token),
    /// under the credential's name. Never listed by [`streams`](Self::streams).
    pub fn get_secret(&self, credential: &str) -> Result<Option<String>> {
        let v = self.db.get(self.key(SECRET, credential)).map_err(|e| self.err(e))?;
        Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    pub fn put_secret(&self, credential: &str, value: &str) -> Result<()> {
        self.db.insert(self.key(SECRET, credential), value.as_bytes()).map_err(|e| self.err(e))?;
        self.flush()
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_completion_writes_state_and_drops_intent() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("s"), "p").unwrap();
        let state = StreamState { rows: 5, watermark: Some(Watermark::Int(9)), ..Default::default() };
        let intent = Intent { stream: "orders".into(), files: vec![], state: state.clone() };
        store.put_intent(&intent).unwrap();
        assert_eq!(store.intents().unwrap().len(), 1);
        store.complete_intent(&intent).unwrap();
        assert!(store.intents().unwrap().is_empty());
        assert_eq!(store.get("orders").unwrap(), state);
        assert_eq!(store.streams().unwrap(), vec![("orders".to_string(), state)]);
    }

    #[test]
    fn pipelines_do_not_see_each_others_streams() {
        let dir = tempfile::tempdir().unwrap();
        {
            let a = StateStore::open(&dir.path().join("s"), "a").unwrap();
            a.put("orders", &StreamState { rows: 1, ..Default::default() }).unwrap();
        }
        let b = StateStore::open(&dir.path().join("s"), "b").unwrap();
        assert!(b.streams().unwrap().is_empty());
    }
}
