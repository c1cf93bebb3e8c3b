//! The stream state this connector committed on earlier runs, and the host's
//! watermark (the highest cursor value the sink holds for a stream).

use crate::bindings::headwater::connector::state as wit;
use crate::{Error, Result};
use serde::de::DeserializeOwned;

/// The raw state string last committed for `stream` in this phase.
pub fn get(stream: &str) -> Option<String> {
    wit::get(stream)
}

/// The committed state parsed as `T`; `None` on a first run.
pub fn get_json<T: DeserializeOwned>(stream: &str) -> Result<Option<T>> {
    match wit::get(stream) {
        None => Ok(None),
        Some(s) => serde_json::from_str(&s).map(Some).map_err(|e| {
            Error::Other(format!("stored state of stream {stream} is not what this connector wrote: {e}"))
        }),
    }
}

/// The highest committed value of the stream's cursor field, as text.
pub fn watermark(stream: &str) -> Option<String> {
    wit::watermark(stream)
}

/// The slice of `stream` this worker owns when the pipeline shards the stream
/// (`[sharding] slice`): `(index, count)`, 0-based. `None`: the whole stream.
pub fn slice(stream: &str) -> Option<(u32, u32)> {
    wit::slice(stream).map(|s| (s.index, s.count))
}

/// Whether this worker owns `key` of `stream` (a parent's id, a date, a region):
/// the host's stable hash of the key picks one slice, the same in every worker.
/// Always true when the stream is not sliced.
pub fn owns(stream: &str, key: &str) -> bool {
    wit::owns(stream, key)
}
