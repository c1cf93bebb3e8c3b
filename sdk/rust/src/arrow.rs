//! Arrow helpers: record batches to the IPC stream bytes that `output.emit` takes.

use crate::{Error, Result};
use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;

pub use arrow_array;
pub use arrow_schema;

/// Encodes batches (which must share one schema) as one Arrow IPC stream.
pub fn to_ipc(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let mut buf = Vec::new();
    let mut writer = StreamWriter::try_new(&mut buf, &first.schema()).map_err(arrow_err)?;
    for batch in batches {
        writer.write(batch).map_err(arrow_err)?;
    }
    writer.finish().map_err(arrow_err)?;
    drop(writer);
    Ok(buf)
}

/// Emits batches to `stream`.
pub fn emit(stream: &str, batches: &[RecordBatch]) -> Result<()> {
    if batches.is_empty() {
        return Ok(());
    }
    crate::output::emit_ipc(stream, &to_ipc(batches)?)
}

fn arrow_err(e: arrow_schema::ArrowError) -> Error {
    Error::Data(format!("arrow: {e}"))
}
