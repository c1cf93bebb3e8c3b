//! Emitting rows and checkpoints. Rows are staged by the host and committed at
//! the next checkpoint of their stream, together with the checkpoint's state.

use crate::bindings::headwater::connector::output as wit;
use crate::load::{LoadOptions, LoadStats};
use crate::{Error, Level, Result};

/// Emits JSON rows, newline-delimited or as one JSON array of objects (e.g. an API
/// page's records array, untouched); the host converts them with the stream's
/// schema. Returns the number of rows.
pub fn emit_json(stream: &str, json: &[u8]) -> Result<u64> {
    wit::emit_json(stream, json)
}

/// Hands an API page's body to the host, which emits the records array at the JSON
/// pointer `records` (empty: the body is the array) without the connector parsing
/// them, and returns the number of records and the rest of the page (the records
/// replaced by `null`), for pagination.
pub fn emit_records(stream: &str, body: &[u8], records: &str) -> Result<(u64, serde_json::Value)> {
    let page = wit::emit_records(stream, body, records)?;
    let rest = serde_json::from_str(&page.rest).map_err(|e| Error::Other(format!("page returned by the host: {e}")))?;
    Ok((page.rows, rest))
}

/// Emits JSON objects as rows.
pub fn emit_json_rows(stream: &str, rows: &[serde_json::Value]) -> Result<u64> {
    let mut buf = Vec::with_capacity(rows.len() * 128);
    for row in rows {
        serde_json::to_writer(&mut buf, row).map_err(|e| Error::Other(e.to_string()))?;
        buf.push(b'\n');
    }
    emit_json(stream, &buf)
}

/// Emits Arrow IPC stream bytes (see [`crate::arrow`] to build them from batches).
pub fn emit_ipc(stream: &str, ipc: &[u8]) -> Result<()> {
    wit::emit(stream, ipc)
}

/// Asks the host to decode a file under a granted root natively and stage its rows
/// for `stream` (the fast path for bulk loads; see [`crate::load`] for the options).
pub fn load(stream: &str, root: &str, path: &str, options: &LoadOptions) -> Result<LoadStats> {
    wit::load(stream, root, path, options)
}

/// Asks the host to decode a file the connector holds whole (a page of CSV an API
/// returned) natively, as [`load`] decodes a granted one; `name` names it in
/// messages, and its extension gives the format unless `options` does.
pub fn load_bytes(stream: &str, name: &str, bytes: &[u8], options: &LoadOptions) -> Result<LoadStats> {
    wit::load_bytes(stream, name, bytes, options)
}

/// Commits everything emitted for `stream` since its last checkpoint, with `state`.
pub fn checkpoint<S: serde::Serialize>(stream: &str, state: &S) -> Result<()> {
    let state = serde_json::to_string(state).map_err(|e| Error::Other(e.to_string()))?;
    wit::checkpoint(stream, &state)
}

pub fn log(level: Level, message: &str) {
    wit::log(level, message)
}

pub fn info(message: &str) {
    wit::log(Level::Info, message)
}

pub fn progress(stream: &str, done: u64, total: Option<u64>) {
    wit::progress(stream, done, total)
}
