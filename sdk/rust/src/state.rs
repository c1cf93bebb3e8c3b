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
