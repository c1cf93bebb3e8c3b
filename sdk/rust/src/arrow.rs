//! Arrow helpers: record batches to the IPC stream bytes that `output.emit` takes
//! ([`to_ipc`], [`emit`]), and record batches built from serde rows and a
//! stream's declared fields ([`batch_from_rows`], [`emit_rows`]), so a connector
//! emits typed Arrow without writing an array builder.
//!
//! A batch built from rows has one column per declared field (the [`Field`](crate::Field)s
//! of the stream's [`StreamInfo`](crate::StreamInfo), in the spelling of the WIT
//! `field` record), with the Arrow type the host gives that spelling, from the
//! row's field of that name (absent or `null`: a null; an error in a column
//! declared not nullable). Fields of a row that are not declared are left out.
//!
//! | declared | Arrow | from |
//! |---|---|---|
//! | `int8` … `int64`, `uint8` … `uint64` | the integer type | integers, floats with no fraction, numeric strings; out of range is an error |
//! | `float32`, `float64` | the float type | numbers, numeric strings |
//! | `bool` | Boolean | `true` / `false` |
//! | `string` | Utf8 | strings; numbers and booleans as their JSON text, arrays and objects as JSON |
//! | `date` | Date32 | `YYYY-MM-DD`, or an integer of days since 1970-01-01 |
//! | `timestamp`, `timestamp(UNIT[, ZONE])` | Timestamp(UNIT, ZONE) | RFC 3339 text (`2025-01-01T10:00:00.5+02:00`; without an offset, UTC; a date alone, its midnight), or an integer of UNITs since the epoch |
//! | `decimal(P, S)`, `binary` | Utf8 | the value's text, which the host casts to the declared type |
//!
//! A value that does not convert is an error naming the column and the row.

mod rows;

use crate::{Error, Result};
use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;

pub use arrow_array;
pub use arrow_schema;
pub use rows::{batch_from_json, batch_from_rows, data_type, emit_rows, schema};

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
