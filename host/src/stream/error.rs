//! What can go wrong on a stream's data path, with the stream named. The
//! capability layer maps each variant to the WIT error a connector sees
//! (`capability::error`).

use super::rows::RowsError;
use crate::delivery::DeliveryError;
use crate::load::LoadError;
use crate::roots::RootError;
use crate::sink::SinkError;
use std::sync::Arc;

/// The step of a stream's output that failed, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Emit,
    Load,
    Checkpoint,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Emit => "emit",
            Step::Load => "load",
            Step::Checkpoint => "checkpoint",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamError {
    /// The call writes only the streams it was asked to read.
    #[error("stream `{stream}` is not being read by this call (streams: {reading})")]
    NotRead { stream: String, reading: String },
    /// Rows a connector handed over that are not rows (not Arrow IPC, malformed JSON, …).
    #[error("stream `{stream}`: {source}")]
    Rows {
        stream: String,
        #[source]
        source: RowsError,
    },
    /// The records of an API page that `emit-records` took and decoded while the
    /// connector went on (found at the stream's next step): `page` counts this
    /// call's `emit-records` of the stream, from 1.
    #[error("stream `{stream}`, page {page} of this call's emit-records: {source}")]
    PageRows {
        stream: String,
        page: u64,
        #[source]
        source: RowsError,
    },
    /// Rows that do not fit the stream: a declared type, a type change, a missing cursor.
    #[error("stream `{stream}`: {reason}")]
    Schema { stream: String, reason: String },
    /// A file to `load` could not be opened under its root.
    #[error(transparent)]
    Root(#[from] RootError),
    /// A file to `load` does not decode as asked.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A batch of a loaded file that the stream refused, with the file named.
    #[error("{file}: {source}")]
    InFile {
        file: String,
        #[source]
        source: Box<StreamError>,
    },
    /// A checkpoint's state is not a JSON document.
    #[error("checkpoint of `{stream}`: state is not a JSON document")]
    StateNotJson { stream: String },
    /// The stream's files could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The checkpoint could not be committed (recovery completes what it recorded).
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// An earlier step failed and the connector went on: nothing more of this call
    /// commits, so a connector that ignores an error cannot commit part of what failed.
    #[error("{refused} refused: an earlier {step} of stream `{stream}` failed: {cause}")]
    Poisoned { refused: Step, step: Step, stream: String, cause: Arc<StreamError> },
}
