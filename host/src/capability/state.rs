//! `headwater:connector/state`: a read-only snapshot of the streams' committed
//! state, taken when the call starts. A connector changes state only through
//! `output.checkpoint`, which commits it together with the rows it covers.

use crate::bindings::headwater::connector::state::Host;
use crate::config::PhaseKind;
use crate::store::StreamState;
use std::collections::BTreeMap;

pub struct StateCtx {
    phase: PhaseKind,
    streams: BTreeMap<String, StreamState>,
}

impl StateCtx {
    /// The committed state of `streams`, as the connector of `phase` sees it.
    pub fn new(phase: PhaseKind, streams: BTreeMap<String, StreamState>) -> Self {
        StateCtx { phase, streams }
    }

    /// No state at all (calls other than `read`).
    pub fn none() -> Self {
        StateCtx { phase: PhaseKind::Source, streams: BTreeMap::new() }
    }
}

impl Host for StateCtx {
    async fn get(&mut self, stream: String) -> wasmtime::Result<Option<String>> {
        Ok(self.streams.get(&stream).and_then(|s| s.connector_state(self.phase)).cloned())
    }

    async fn watermark(&mut self, stream: String) -> wasmtime::Result<Option<String>> {
        Ok(self.streams.get(&stream).and_then(|s| s.watermark.as_ref()).map(|w| w.as_text()))
    }
}
