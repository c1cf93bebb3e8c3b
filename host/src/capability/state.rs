//! `headwater:connector/state`: a read-only snapshot of the streams' committed
//! state, taken when the call starts. A connector changes state only through
//! `output.checkpoint`, which commits it together with the rows it covers.
//! With a [`Tape`], the snapshot is recorded, or taken from a recording.

use super::tape::Tape;
use crate::bindings::headwater::connector::state::{Host, OwnedSlice};
use crate::config::PhaseKind;
use crate::shard::Shard;
use crate::store::StreamState;
use std::collections::BTreeMap;

pub struct StateCtx {
    /// What `get` and `watermark` answer, by stream.
    answers: BTreeMap<String, (Option<String>, Option<String>)>,
    /// The shard owning a slice of each sliced stream.
    slices: BTreeMap<String, Shard>,
}

impl StateCtx {
    /// The committed state of `streams`, as the connector of `phase` sees it;
    /// with a tape, recorded, or in a replay, as the recorded run saw it.
    pub fn new(phase: PhaseKind, streams: BTreeMap<String, StreamState>, tape: Option<&Tape>) -> Self {
        let answers = streams
            .into_iter()
            .map(|(name, s)| {
                let state = s.connector_state(phase).cloned();
                let watermark = s.watermark.as_ref().map(|w| w.as_text());
                let answer = match tape {
                    Some(tape) => tape.state(phase.section(), &name, state, watermark),
                    None => (state, watermark),
                };
                (name, answer)
            })
            .collect();
        StateCtx { answers, slices: BTreeMap::new() }
    }

    /// `stream` is sliced, and this worker owns `shard`'s slice of it.
    pub fn with_slice(mut self, stream: &str, shard: Option<Shard>) -> Self {
        if let Some(shard) = shard {
            self.slices.insert(stream.to_string(), shard);
        }
        self
    }

    /// No state at all (calls other than `read`).
    pub fn none() -> Self {
        StateCtx { answers: BTreeMap::new(), slices: BTreeMap::new() }
    }
}

impl Host for StateCtx {
    async fn get(&mut self, stream: String) -> wasmtime::Result<Option<String>> {
        Ok(self.answers.get(&stream).and_then(|(state, _)| state.clone()))
    }

    async fn watermark(&mut self, stream: String) -> wasmtime::Result<Option<String>> {
        Ok(self.answers.get(&stream).and_then(|(_, watermark)| watermark.clone()))
    }

    async fn slice(&mut self, stream: String) -> wasmtime::Result<Option<OwnedSlice>> {
        Ok(self.slices.get(&stream).map(|s| OwnedSlice { index: s.index() - 1, count: s.count() }))
    }

    async fn owns(&mut self, stream: String, key: String) -> wasmtime::Result<bool> {
        Ok(self.slices.get(&stream).is_none_or(|s| s.owns_key(&key)))
    }
}
