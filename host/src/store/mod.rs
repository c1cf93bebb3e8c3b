//! The state store: each stream's committed state and watermark, the delivery
//! intents of checkpoints in flight, and the few secrets the host keeps between
//! runs. [`StateStore`] is the seam: [`SledStore`] (a sled database at
//! `[state] path`) is the first implementation; a table-format sink that keeps
//! its streams' progress in its own commits implements the same trait (see
//! [`crate::delivery`] for how the two meet).

mod sled_store;

pub use sled_store::SledStore;

use crate::config::{PhaseKind, Pipeline};
use crate::delivery::Intent;
use crate::stream::{SeamState, Watermark};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// The state store a pipeline's file names (`[state] path`, sled).
pub fn open(pipeline: &Pipeline) -> Result<Arc<dyn StateStore>, StoreError> {
    Ok(Arc::new(SledStore::open(&pipeline.state_path, &pipeline.name)?))
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
    /// Keys of the committed rows whose cursor equals the watermark (see `stream::seam`).
    #[serde(default)]
    pub seam: Option<SeamState>,
    /// The union of the columns committed so far, with their (widened) types.
    #[serde(default)]
    pub schema: Option<arrow_schema::Schema>,
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

/// Where a pipeline's committed state lives. Implementations are shared by a
/// run's streams (`Send + Sync`) and must make each write durable before it returns.
pub trait StateStore: Send + Sync {
    /// A stream's committed state (the default state when it has none).
    fn get(&self, stream: &str) -> Result<StreamState, StoreError>;
    /// Every stream with committed state, by name.
    fn streams(&self) -> Result<Vec<(String, StreamState)>, StoreError>;
    /// Forgets a stream's state (`state reset`; a full refresh replaces the state through an intent instead).
    fn remove(&self, stream: &str) -> Result<(), StoreError>;
    /// Durably records an intent before its files are published.
    fn put_intent(&self, intent: &Intent) -> Result<(), StoreError>;
    /// Whether [`put_intent`](Self::put_intent) records anything, so that a commit
    /// failing after it is completed at the next start. A table sink's commit is one
    /// atomic step with nothing recorded before it: its failure is a commit that did
    /// not happen.
    fn records_intents(&self) -> bool {
        true
    }
    /// Writes the intent's state and drops the intent, atomically: after a crash
    /// either both happened or neither did.
    fn complete_intent(&self, intent: &Intent) -> Result<(), StoreError>;
    /// Intents recorded and not completed (checkpoints a crash interrupted).
    fn intents(&self) -> Result<Vec<Intent>, StoreError>;
    /// Drops a stream's intent without completing it (`state reset`).
    fn drop_intent(&self, stream: &str) -> Result<(), StoreError>;
    /// A secret the host keeps between runs (a rotated OAuth2 refresh token), by
    /// credential name. Never listed by [`streams`](Self::streams).
    fn get_secret(&self, credential: &str) -> Result<Option<String>, StoreError>;
    fn put_secret(&self, credential: &str, value: &str) -> Result<(), StoreError>;
}

/// The state store failed: where, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("state store {}: {message}", path.display())]
pub struct StoreError {
    pub path: PathBuf,
    pub message: String,
    /// The store is of a format this build does not read: the user's to act on
    /// (exit code 2), not a fault of the run.
    pub incompatible: bool,
}
