//! `headwater:connector/state`: a read-only snapshot of the streams' committed
//! state, taken when the call starts. A connector changes state only through
//! `output.checkpoint`, which commits it together with the rows it covers.
//! With a [`Tape`], the snapshot is recorded, or taken from a recording.

use super::tape::Tape;
use crate::bindings::headwater::connector::state::Host;
use crate::config::PhaseKind;
use crate::store::StreamState;
use std::collections::BTreeMap;

pub struct StateCtx {
    /// What `get` and `watermark` answer, by stream.
    answers: BTreeMap<String, (Option<String>, Option<String>)>,
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
        StateCtx { answers }
    }

    /// No state at all (calls other than `read`).
    pub fn none() -> Self {
        StateCtx { answers: BTreeMap::new() }
    }
}

impl Host for StateCtx {
    async fn get(&mut self, stream: String) -> wasmtime::Result<Option<String>> {
        Ok(self.answers.get(&stream).and_then(|(state, _)| state.clone()))
    }

    async fn watermark(&mut self, stream: String) -> wasmtime::Result<Option<String>> {
        Ok(self.answers.get(&stream).and_then(|(_, watermark)| watermark.clone()))
    }
}
