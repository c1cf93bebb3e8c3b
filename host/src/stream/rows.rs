//! Bytes a connector hands over, turned into Arrow batches: Arrow IPC streams
//! (`emit`) and JSON rows (`emit-json`, the records of `emit-records`, and the
//! lines of an NDJSON file `load`ed by the host). JSON has one decoder and one
//! rule, whichever way the rows came: columns the stream declares are decoded
//! with their declared types; a field the stream does not declare is kept, as a
//! nullable column typed by inference over the whole input, so a field that
//! first appears late is never dropped. Across inputs, the stream's schema
//! evolves as `schema::evolve` says (new columns, safe widening).

use super::Intake;
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use std::io::Cursor;
use std::sync::Arc;

/// Rows per batch decoded from JSON.
const BATCH_ROWS: usize = 64 * 1024;
/// The most tape elements arrow-json is asked to reserve for one batch (16 bytes
/// each): 64 MiB, whatever the width of the rows.
const MAX_TAPE: usize = 4 << 20;

/// Bytes that are not rows of the stream.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RowsError {
    #[error("emitted bytes are not an Arrow IPC stream: {0}")]
    NotIpc(String),
    #[error("bad Arrow IPC batch: {0}")]
    BadIpc(String),
    #[error("emitted JSON is malformed: {0}")]
    Malformed(String),
    #[error("a record does not fit the stream's schema: {0}")]
    DoesNotFit(String),
    #[error("the JSON nests deeper than [limits] max_json_depth = {0}")]
    TooDeep(usize),
    #[error(
        "the JSON rows make batches of {rows} rows × {columns} columns, more than [limits] max_emit_cells = \
         {max_cells}: are record keys data (ids, dates)? emit fewer rows at a time, or raise the limit"
    )]
    TooWide { rows: usize, columns: u64, max_cells: u64 },
}

/// The batches of an Arrow IPC stream (a schema message and its batches), none
/// of which may hold more than `max_cells` rows × columns.
pub fn ipc(bytes: &[u8], max_cells: u64) -> Result<Vec<RecordBatch>, RowsError> {
    check_batch_sizes(bytes, max_cells)?;
    // arrow-ipc panics on some malformed bodies (a buffer sliced past its end, found
    // by `just fuzz`) rather than returning an error: the panic stays here, as the
    // stream's error, instead of unwinding through the host call and the host.
    let decoded = std::panic::catch_unwind(|| {
        let reader = arrow::ipc::reader::StreamReader::try_new(Cursor::new(bytes), None)
            .map_err(|e| RowsError::NotIpc(e.to_string()))?;
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| RowsError::BadIpc(e.to_string()))
    });
    decoded.unwrap_or_else(|panic| {
        let why = crate::untrusted_text::panic_message(panic.as_ref()).unwrap_or("the decoder gave up");
        Err(RowsError::BadIpc(format!("the Arrow IPC stream is malformed ({why})")))
    })
}

/// Reads each message's header before arrow decodes it. A record batch's row
/// count is the connector's number, and arrow sizes buffers from it (null masks,
/// offsets of a string column, casts) before checking it against the body, so a
/// few hundred bytes claiming four billion rows would make the host allocate
/// gigabytes. arrow-ipc has no API to read the headers alone, so the framing
/// (continuation marker, length, flatbuffer, body) is walked here.
fn check_batch_sizes(bytes: &[u8], max_cells: u64) -> Result<(), RowsError> {
    const CONTINUATION: u32 = 0xFFFF_FFFF;
    let word = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("four bytes")));
    let (mut at, mut columns) = (0usize, 0u64);
    while let Some(first) = word(at) {
        // Since format 0.15 a message starts with a continuation marker; before, with its length.
        let (len, meta_at) = match first {
            CONTINUATION => match word(at + 4) {
                Some(len) => (len as usize, at + 8),
                None => break,
            },
            len => (len as usize, at + 4),
        };
        if len == 0 {
            break; // end of stream
        }
        // arrow's reader allocates a message's header, then its body, at the sizes
        // claimed before reading them: a few bytes claiming gigabytes would take them
        // (found by `just fuzz`). Neither may run past the end of what was emitted.
        let Some(meta) = bytes.get(meta_at..meta_at.saturating_add(len)) else {
            if at == 0 {
                // Not even a first message: most likely not Arrow at all.
                return Err(RowsError::NotIpc(format!(
                    "its first message would have a header of {len} bytes, but {} bytes were emitted",
                    bytes.len()
                )));
            }
            return Err(past_the_end("header", len as u64, bytes.len().saturating_sub(meta_at)));
        };
        // Not a message is for arrow's reader to report.
        let Ok(message) = arrow::ipc::root_as_message(meta) else { break };
        let body_len = message.bodyLength();
        let body_at = meta_at + len;
        if usize::try_from(body_len).map_or(true, |body| body > bytes.len() - body_at) {
            return Err(past_the_end("body", body_len as u64, bytes.len() - body_at));
        }
        let batch = match message.header_type() {
            arrow::ipc::MessageHeader::Schema => {
                columns = message.header_as_schema().and_then(|s| s.fields()).map_or(0, |f| ipc_leaf_columns(f.iter()));
                None
            }
            arrow::ipc::MessageHeader::RecordBatch => message.header_as_record_batch(),
            arrow::ipc::MessageHeader::DictionaryBatch => message.header_as_dictionary_batch().and_then(|d| d.data()),
            _ => None,
        };
        if let Some(batch) = batch {
            // Every buffer must lie inside the message's body: arrow-ipc slices them as
            // the header says and panics past the end (found by `just fuzz`).
            let outside = batch.buffers().is_some_and(|buffers| {
                buffers.iter().any(|b| {
                    b.offset() < 0
                        || b.length() < 0
                        || b.offset().checked_add(b.length()).is_none_or(|end| end > body_len)
                })
            });
            if outside {
                return Err(RowsError::BadIpc(
                    "a record batch names a buffer outside its message body: the Arrow IPC stream is malformed".into(),
                ));
            }
            let rows = batch.length();
            let cells = u64::try_from(rows).unwrap_or(u64::MAX).saturating_mul(columns.max(1));
            if rows < 0 || cells > max_cells {
                return Err(RowsError::BadIpc(format!(
                    "a record batch claims {rows} rows × {columns} columns, more than [limits] max_emit_cells = \
                     {max_cells}: emit fewer rows at a time"
                )));
            }
            // Every array's own length, children included: a one-row list column can
            // claim billions of children (a `Null` child has no buffers to contradict
            // it), and Parquet's level builder would materialise each (review D15).
            let values = batch.nodes().map_or(0u64, |nodes| {
                nodes.iter().fold(0u64, |sum, n| sum.saturating_add(u64::try_from(n.length()).unwrap_or(u64::MAX)))
            });
            if values > max_cells {
                return Err(RowsError::BadIpc(format!(
                    "a record batch claims {values} values in its columns and their children, more than [limits] \
                     max_emit_cells = {max_cells}: emit fewer rows at a time"
                )));
            }
        }
        // In the input, as checked above.
        at = body_at + body_len as usize;
    }
    Ok(())
}

/// A message whose header or body claims more bytes than the stream has left.
fn past_the_end(part: &str, claimed: u64, left: usize) -> RowsError {
    RowsError::BadIpc(format!(
        "a message claims a {part} of {claimed} bytes, but the stream has {left} left: the Arrow IPC stream is \
         truncated or malformed"
    ))
}

/// The columns arrow builds for an IPC schema's fields: every leaf of every nested
/// field (a struct of a thousand children is a thousand columns), walked with a
/// stack since the nesting is the connector's.
fn ipc_leaf_columns<'a>(fields: impl Iterator<Item = arrow::ipc::Field<'a>>) -> u64 {
    let mut stack: Vec<_> = fields.collect();
    let mut columns = 0u64;
    while let Some(field) = stack.pop() {
        columns += 1;
        if let Some(children) = field.children() {
            stack.extend(children.iter());
        }
    }
    columns
}

/// JSON rows, newline-delimited or one array of objects, as batches (see the
/// module doc), within `intake`'s bounds, each checked before the decoder
/// allocates: nesting deeper than `max_json_depth` (arrow-json recurses per
/// level and would overflow the host's stack), and batches of more than
/// `max_emit_cells` rows × inferred columns (rows that each bring their own keys
/// make a schema as wide as the input is long, and a batch its square).
///
/// `known` is the stream's schema so far (when it declares no columns): rows that
/// fit it decode straight into it, strictly, with no inference (review D27). Any
/// field it lacks or any value of another type fails that attempt, and the rows
/// are then inferred as they would have been. A decimal number where `known` has
/// an integer column goes to inference at once: arrow-json would truncate it.
pub fn json(
    bytes: &[u8],
    declared: Option<&SchemaRef>,
    known: Option<&Schema>,
    intake: &Intake,
) -> Result<Vec<RecordBatch>, RowsError> {
    let max_depth = intake.max_json_depth;
    let json_columns: Vec<&str> = declared
        .map(|d| d.fields().iter().filter(|f| super::schema::is_json(f)).map(|f| f.name().as_str()).collect())
        .unwrap_or_default();
    if json_columns.is_empty()
        && let Some(batches) = known_rows(bytes, declared, known, max_depth)
    {
        return Ok(batches);
    }
    let scan = scan(bytes, max_depth);
    if scan.too_deep {
        return Err(RowsError::TooDeep(max_depth));
    }
    if !json_columns.is_empty() {
        let rewritten = json_values_as_text(bytes, &json_columns)?;
        return decode_rows(&rewritten, declared, known, intake, &scan);
    }
    decode_rows(bytes, declared, known, intake, &scan)
}

/// The rows decoded straight into the schema they are expected to fit (the
/// declared one, or the stream's so far), when every value plainly fits it
/// (`known_rows`): what strict decoding into that schema would give, without
/// arrow-json's tape. Rows this schema could not hold nest no deeper than it, so
/// the depth limit holds without a scan.
fn known_rows(
    bytes: &[u8],
    declared: Option<&SchemaRef>,
    known: Option<&Schema>,
    max_depth: usize,
) -> Option<Vec<RecordBatch>> {
    let schema = match (declared, known) {
        (Some(declared), _) => declared.clone(),
        (None, Some(known)) => Arc::new(nullable(known)),
        (None, None) => return None,
    };
    // One more level for the array a page's records come in.
    if super::known_rows::depth(schema.fields()) + 1 > max_depth {
        return None;
    }
    super::known_rows::decode(bytes, &schema, batch_rows(&schema))
}

/// [`known_rows`] checked against arrow-json on the same rows and schema, for
/// the fuzzer: whatever the first decodes, the second decodes alike (strictly).
/// The rows it decoded, or `None` when it gave them back.
#[cfg(feature = "fuzzing")]
pub fn known_rows_agree(bytes: &[u8], schema: &SchemaRef) -> Option<usize> {
    let ours = super::known_rows::decode(bytes, schema, batch_rows(schema))?;
    let theirs = decode(bytes, schema.clone(), true)
        .unwrap_or_else(|e| panic!("known_rows decoded rows that arrow-json refuses: {e}"));
    let whole = |batches: &[RecordBatch]| arrow::compute::concat_batches(schema, batches).expect("one schema");
    assert_eq!(whole(&ours), whole(&theirs), "known_rows and arrow-json decode the same rows differently");
    Some(ours.iter().map(RecordBatch::num_rows).sum())
}

/// `schema` with every column nullable: a row may lack any field the stream has seen.
fn nullable(schema: &Schema) -> Schema {
    Schema::new(schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>())
}

/// Rows whose `columns` (declared `json`) hold any JSON value, rewritten as NDJSON
/// with each of those values (an object, an array, a number, a string) replaced by
/// a string of its JSON text (compact, an object's keys sorted), so that it lands
/// whole in the text column; `null` stays null. Only streams that declare a `json` column pay for
/// parsing each row.
fn json_values_as_text(bytes: &[u8], columns: &[&str]) -> Result<Vec<u8>, RowsError> {
    let malformed = |e: &dyn std::fmt::Display| RowsError::Malformed(e.to_string());
    let mut out = Vec::with_capacity(bytes.len().saturating_add(bytes.len() / 8));
    let mut push = |mut row: serde_json::Value| -> Result<(), RowsError> {
        if let Some(object) = row.as_object_mut() {
            for column in columns {
                if let Some(value) = object.get_mut(*column)
                    && !value.is_null()
                {
                    *value = serde_json::Value::String(value.to_string());
                }
            }
        }
        serde_json::to_writer(&mut out, &row).map_err(|e| malformed(&e))?;
        out.push(b'\n');
        Ok(())
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        for element in super::page::array_elements(bytes) {
            push(serde_json::from_slice(element.map_err(RowsError::Malformed)?).map_err(|e| malformed(&e))?)?;
        }
    } else {
        for row in serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::Value>() {
            push(row.map_err(|e| malformed(&e))?)?;
        }
    }
    Ok(out)
}

/// [`json`] once the rows are as arrow-json reads them.
fn decode_rows(
    bytes: &[u8],
    declared: Option<&SchemaRef>,
    known: Option<&Schema>,
    intake: &Intake,
    scan: &Scan,
) -> Result<Vec<RecordBatch>, RowsError> {
    let infer = || -> Result<Schema, RowsError> {
        let (schema, rows) = infer(bytes)?;
        let columns = leaf_columns(schema.fields());
        let cells = (rows.min(BATCH_ROWS) as u64).saturating_mul(columns);
        if cells > intake.max_emit_cells {
            return Err(RowsError::TooWide { rows: rows.min(BATCH_ROWS), columns, max_cells: intake.max_emit_cells });
        }
        Ok(schema)
    };
    let Some(declared) = declared else {
        if let Some(known) = known
            && let Ok(batches) = decode_exactly(bytes, &nullable(known), scan, true)
        {
            return Ok(batches);
        }
        return with_timestamps(decode(bytes, Arc::new(infer()?), false)?, None);
    };
    // The fast path: strict decoding costs nothing more when no field is new.
    match decode_exactly(bytes, declared, scan, true) {
        Err(RowsError::DoesNotFit(message)) if names_an_unknown_field(&message) => {
            let with_undeclared = super::schema::with_undeclared(declared, &infer()?);
            with_timestamps(decode_exactly(bytes, &with_undeclared, scan, false)?, Some(declared))
        }
        other => other,
    }
}

/// Rows into `schema`, each integer and decimal column's values exactly as
/// written (`stream::exact`): when the rows hold decimals, arrow-json would
/// truncate one that meets an integer column, and its decimal parser wraps on
/// long text, so those columns decode as text first and are taken back, or
/// refused naming the column.
fn decode_exactly(bytes: &[u8], schema: &Schema, scan: &Scan, strict: bool) -> Result<Vec<RecordBatch>, RowsError> {
    use super::exact;
    if !((scan.decimals && exact::any_integer(schema)) || exact::any_decimal(schema)) {
        return decode(bytes, Arc::new(schema.clone()), strict);
    }
    let batches = decode(bytes, Arc::new(exact::as_text(schema)), strict)?;
    batches.into_iter().map(|b| exact::narrow(b, schema).map_err(RowsError::DoesNotFit)).collect()
}

/// Inferred text columns whose every value is an ISO 8601 date-time become
/// timestamps, by the one rule CSV inference follows too (`crate::temporal`),
/// so that the same values type alike in every format (`""` is no value). A
/// declared column stays as declared; a value arrow then refuses keeps the text.
fn with_timestamps(batches: Vec<RecordBatch>, declared: Option<&SchemaRef>) -> Result<Vec<RecordBatch>, RowsError> {
    use arrow::array::{AsArray, StringArray};
    use arrow::datatypes::DataType;
    let Some(first) = batches.first() else { return Ok(batches) };
    let schema = first.schema();
    let retype: Vec<(usize, DataType)> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.data_type() == &DataType::Utf8)
        .filter(|(_, f)| declared.is_none_or(|d| d.field_with_name(f.name()).is_err()))
        .filter_map(|(i, _)| {
            let values = batches.iter().flat_map(|b| b.column(i).as_string::<i32>().iter().flatten());
            crate::temporal::inferred_type(values).map(|t| (i, t))
        })
        .collect();
    if retype.is_empty() {
        return Ok(batches);
    }
    let strict = arrow::compute::CastOptions { safe: false, ..Default::default() };
    let cast = |batch: &RecordBatch| -> Option<RecordBatch> {
        let mut columns = batch.columns().to_vec();
        let mut fields: Vec<_> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        for (i, t) in &retype {
            let text: StringArray =
                columns[*i].as_string::<i32>().iter().map(|v| v.filter(|s| !s.is_empty())).collect();
            columns[*i] = arrow::compute::cast_with_options(&text, t, &strict).ok()?;
            fields[*i] = fields[*i].clone().with_data_type(t.clone()).with_nullable(true);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).ok()
    };
    match batches.iter().map(cast).collect::<Option<Vec<_>>>() {
        Some(typed) => Ok(typed),
        None => Ok(batches),
    }
}

/// The columns Arrow builds for `fields`: every leaf of every struct, list and
/// map counts, since each gets its own buffers. A connector's nesting is
/// bounded (`max_json_depth`, arrow-ipc's flatbuffer depth), so recursion is too.
pub fn leaf_columns(fields: &arrow::datatypes::Fields) -> u64 {
    use arrow::datatypes::DataType;
    fn leaves(t: &DataType) -> u64 {
        match t {
            DataType::Struct(children) => leaf_columns(children).max(1),
            DataType::List(f)
            | DataType::LargeList(f)
            | DataType::ListView(f)
            | DataType::LargeListView(f)
            | DataType::FixedSizeList(f, _)
            | DataType::Map(f, _) => 1 + leaves(f.data_type()),
            DataType::Dictionary(_, values) => 1 + leaves(values),
            DataType::RunEndEncoded(ends, values) => leaves(ends.data_type()) + leaves(values.data_type()),
            _ => 1,
        }
    }
    fields.iter().map(|f| leaves(f.data_type())).sum()
}

/// Rows into `schema`. A number or a boolean where the column is text lands as its
/// text (real JSON has fields that are a number here and a string there, as
/// Zendesk's `custom_fields[].value`; inference makes such a column text).
fn decode(bytes: &[u8], schema: SchemaRef, strict: bool) -> Result<Vec<RecordBatch>, RowsError> {
    let batch_rows = batch_rows(&schema);
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return decode_array(bytes, schema, strict, batch_rows);
    }
    arrow::json::ReaderBuilder::new(schema)
        .with_batch_size(batch_rows)
        .with_strict_mode(strict)
        .with_coerce_primitive(true)
        .build(Cursor::new(bytes))
        .and_then(|reader| reader.collect::<Result<Vec<_>, _>>())
        .map_err(|e| RowsError::DoesNotFit(arrow_message(e)))
}

/// Rows per batch for `schema`. arrow-json sizes its tape for a whole batch up
/// front, rows × (2 + 2 × fields) elements: rows that bring thousands of keys would
/// make it allocate gigabytes (found by `just fuzz`), so wide rows decode in
/// smaller batches.
fn batch_rows(schema: &Schema) -> usize {
    let fields = usize::try_from(leaf_columns(schema.fields())).unwrap_or(usize::MAX);
    (MAX_TAPE / fields.saturating_mul(2).saturating_add(2)).clamp(1, BATCH_ROWS)
}

/// A JSON array of rows (an API page's records as served) into `schema`, in
/// batches of `batch_rows`: the elements are found by scanning (`page::array_elements`)
/// and fed to arrow-json's decoder one by one, so decoding holds one batch, not
/// the whole page, at a time. An element that is not an object does not fit.
fn decode_array(
    bytes: &[u8],
    schema: SchemaRef,
    strict: bool,
    batch_rows: usize,
) -> Result<Vec<RecordBatch>, RowsError> {
    let fit = |e: ArrowError| RowsError::DoesNotFit(arrow_message(e));
    let mut decoder = arrow::json::ReaderBuilder::new(schema)
        .with_batch_size(batch_rows)
        .with_strict_mode(strict)
        .with_coerce_primitive(true)
        .build_decoder()
        .map_err(fit)?;
    let mut batches = Vec::new();
    for element in super::page::array_elements(bytes) {
        let element = element.map_err(RowsError::Malformed)?;
        if element.first() != Some(&b'{') {
            let shown = crate::untrusted_text::excerpt(&String::from_utf8_lossy(element), 40);
            return Err(RowsError::DoesNotFit(format!("a record is `{shown}`, not an object")));
        }
        let mut rest = element;
        while !rest.is_empty() {
            let read = decoder.decode(rest).map_err(fit)?;
            rest = &rest[read..];
            if decoder.len() >= batch_rows || read == 0 {
                match decoder.flush().map_err(fit)? {
                    Some(batch) => batches.push(batch),
                    None if read == 0 => return Err(RowsError::DoesNotFit("a record the decoder cannot read".into())),
                    None => {}
                }
            }
        }
    }
    batches.extend(decoder.flush().map_err(fit)?);
    Ok(batches)
}

/// The types of every field of the rows, inferred over all of them, in the order
/// the rows give their keys, and how many rows there are.
fn infer(bytes: &[u8]) -> Result<(Schema, usize), RowsError> {
    let malformed = |e: &dyn std::fmt::Display| RowsError::Malformed(e.to_string());
    let (schema, rows) = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        // One element parsed at a time: a page's records never stand as values all at once
        // (they took about five times the page's size).
        let mut rows = 0usize;
        let mut failed = None;
        let values = super::page::array_elements(bytes).map_while(|element| {
            match element.and_then(|e| serde_json::from_slice::<serde_json::Value>(e).map_err(|e| e.to_string())) {
                Ok(value) => {
                    rows += 1;
                    Some(Ok(value))
                }
                Err(e) => {
                    failed = Some(e);
                    None
                }
            }
        });
        let schema = arrow::json::reader::infer_json_schema_from_iterator(values).map_err(|e| malformed(&e))?;
        if let Some(e) = failed {
            return Err(malformed(&e));
        }
        (schema, rows)
    } else {
        arrow::json::reader::infer_json_schema(Cursor::new(bytes), None).map_err(|e| malformed(&e))?
    };
    Ok((super::key_order::as_written(&without_empty_objects(&schema), bytes), rows))
}

/// The schema without the fields that only ever held `{}` (or lists of it): an
/// object without keys carries no value, Parquet cannot store a struct without
/// fields, and the rows decode without them (non-strictly). Where such an object
/// later brings keys, the field appears then, as any new field does.
fn without_empty_objects(schema: &Schema) -> Schema {
    use arrow::datatypes::{DataType, Field, Fields};
    fn keep(field: &Field) -> Option<Field> {
        match field.data_type() {
            DataType::Struct(children) => {
                let kept: Fields = children.iter().filter_map(|c| keep(c)).collect();
                (!kept.is_empty()).then(|| field.clone().with_data_type(DataType::Struct(kept)))
            }
            DataType::List(item) => keep(item).map(|i| field.clone().with_data_type(DataType::List(Arc::new(i)))),
            _ => Some(field.clone()),
        }
    }
    Schema::new(schema.fields().iter().filter_map(|f| keep(f)).collect::<Vec<_>>())
}

/// What one pass over JSON text finds before any decoder sees it.
struct Scan {
    /// Arrays and objects nest more than the limit.
    too_deep: bool,
    /// A number with a fraction or an exponent occurs (outside strings).
    decimals: bool,
}

/// Whether JSON text nests arrays and objects more than `limit` deep, and whether
/// it holds decimal numbers. Strings are skipped whole (their brackets and dots do
/// not count); malformed text is left to the decoder.
fn scan(bytes: &[u8], limit: usize) -> Scan {
    let mut found = Scan { too_deep: false, decimals: false };
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[i.min(bytes.len())..]) {
                        None => return found,
                        Some(j) if bytes[i + j] == b'\\' => i += j + 2,
                        Some(j) => {
                            i += j + 1;
                            break;
                        }
                    }
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    found.too_deep = true;
                    return found;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'.' | b'e' | b'E' if i > 0 && bytes[i - 1].is_ascii_digit() => found.decimals = true,
            _ => {}
        }
        i += 1;
    }
    found
}

/// arrow-json reports a field the schema lacks (in strict mode) only in its
/// message; this is the one place that reads it (`unknown_fields_are_recognised`
/// pins the wording, so an arrow upgrade that changes it fails a test, not a load).
fn names_an_unknown_field(message: &str) -> bool {
    message.contains("missing from schema")
}

fn arrow_message(e: ArrowError) -> String {
    match e {
        ArrowError::JsonError(m) => m,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field};

    /// A column declared `json` takes any JSON value and holds its JSON text, in
    /// NDJSON and in a records array alike; null stays null, other columns decode
    /// as declared.
    #[test]
    fn a_json_column_holds_each_value_as_its_json_text() {
        let field = |name: &str, data_type: &str| crate::bindings::Field {
            name: name.into(),
            data_type: data_type.into(),
            nullable: true,
        };
        let declared =
            super::super::declared_schema(&[field("id", "int64"), field("custom", "JSON")]).unwrap().unwrap();
        assert!(super::super::schema::is_json(declared.field(1)));
        let rows = [
            r#"{"id": 1, "custom": {"b": [1, 2], "a": null}}"#,
            r#"{"id": 2, "custom": 3.5}"#,
            r#"{"id": 3, "custom": "text"}"#,
            r#"{"id": 4, "custom": null}"#,
            r#"{"id": 5}"#,
        ];
        let limits = Intake::of(&crate::config::Limits::default());
        for bytes in [rows.join("\n"), format!("[{}]", rows.join(","))] {
            let batches = json(bytes.as_bytes(), Some(&declared), None, &limits).unwrap();
            let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
            let custom =
                batch.column_by_name("custom").unwrap().as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
            let got: Vec<Option<&str>> = custom.iter().collect();
            assert_eq!(got, [Some(r#"{"a":null,"b":[1,2]}"#), Some("3.5"), Some(r#""text""#), None, None], "{bytes}");
        }
    }

    /// A page's records array decodes in batches of at most `BATCH_ROWS`, every row
    /// in order (never the whole page as one batch); an element that is not an
    /// object is refused, naming it.
    #[test]
    fn a_records_array_decodes_batch_by_batch() {
        let rows = BATCH_ROWS * 2 + 7;
        let mut page = String::from("[");
        for i in 0..rows {
            if i > 0 {
                page.push_str(",\n ");
            }
            page.push_str(&format!(r#"{{"id": {i}, "name": "n{i}", "tags": ["a", "b"]}}"#));
        }
        page.push(']');
        let batches = json(page.as_bytes(), None, None, &Intake::of(&crate::config::Limits::default())).unwrap();
        assert_eq!(batches.len(), 3);
        assert!(batches.iter().all(|b| b.num_rows() <= BATCH_ROWS));
        let ids: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                b.column_by_name("id")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids, (0..rows as i64).collect::<Vec<_>>());
        let e = json(br#"[{"id": 1}, null]"#, None, None, &Intake::of(&crate::config::Limits::default())).unwrap_err();
        assert!(e.to_string().contains("object") && e.to_string().to_lowercase().contains("null"), "{e}");
    }

    fn declared() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]))
    }

    fn depth(max_json_depth: usize) -> Intake {
        Intake { max_json_depth, max_emit_cells: 1 << 26, max_record_bytes: 1 << 20 }
    }

    /// Regression: a thousand rows that each bring their own key are a 1000 × 1000
    /// batch; the inferred width times the rows is checked before decoding.
    #[test]
    fn rows_whose_keys_are_data_are_refused_before_decoding() {
        let rows: String = (0..1000).map(|i| format!("{{\"k{i}\":{i}}}\n")).collect();
        let small = Intake { max_emit_cells: 100_000, ..depth(64) };
        let err = json(rows.as_bytes(), None, None, &small).unwrap_err().to_string();
        assert!(err.contains("1000 rows × 1000 columns") && err.contains("max_emit_cells = 100000"), "{err}");
        // Nested keys count too: a struct's children are columns.
        let nested: String = (0..1000).map(|i| format!("{{\"s\":{{\"k{i}\":{i}}}}}\n")).collect();
        assert!(json(nested.as_bytes(), None, None, &small).is_err());
        assert!(json(nested.as_bytes(), None, None, &depth(64)).is_ok());
    }

    fn ipc_of(batch: &RecordBatch) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, batch.schema_ref()).unwrap();
        w.write(batch).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    }

    /// Regression: an IPC batch claiming four billion rows is a few hundred bytes
    /// (a null column has no buffers), and arrow sized buffers from the claim.
    #[test]
    fn a_batch_claiming_more_cells_than_the_limit_is_refused_before_decoding() {
        let huge = RecordBatch::try_from_iter([(
            "x",
            arrow::array::new_null_array(&DataType::Null, 4_000_000_000) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let bytes = ipc_of(&huge);
        assert!(bytes.len() < 1024, "the attack is small: {} bytes", bytes.len());
        let err = ipc(&bytes, 64 << 20).unwrap_err().to_string();
        assert!(err.contains("4000000000 rows × 1 columns") && err.contains("max_emit_cells"), "{err}");

        let small = RecordBatch::try_from_iter([(
            "id",
            Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        assert_eq!(ipc(&ipc_of(&small), 3).unwrap()[0].num_rows(), 3);
        assert!(ipc(&ipc_of(&small), 2).is_err(), "3 rows × 1 column is more than 2 cells");
    }

    #[test]
    fn unknown_fields_are_recognised() {
        let err = decode(br#"{"id":1,"extra":2}"#, declared(), true).unwrap_err();
        let RowsError::DoesNotFit(message) = err else { panic!("{err}") };
        assert!(names_an_unknown_field(&message), "arrow-json's wording changed: {message}");
    }

    /// One rule for every way rows come: a field first seen late, in the last row,
    /// becomes a nullable column, declared or not.
    #[test]
    fn late_fields_are_kept_with_or_without_declared_columns() {
        let mut ndjson = String::new();
        for id in 0..5000 {
            ndjson.push_str(&format!("{{\"id\":{id}}}\n"));
        }
        ndjson.push_str("{\"id\":5000,\"late\":\"x\"}\n");
        for declared in [None, Some(declared())] {
            let batches = json(ndjson.as_bytes(), declared.as_ref(), None, &depth(64)).unwrap();
            let late = batches[0].schema().field_with_name("late").cloned().unwrap();
            assert!(late.is_nullable());
            assert_eq!(late.data_type(), &DataType::Utf8);
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            assert_eq!(rows, 5001);
        }
        let array = br#"[{"id":1},{"id":2,"late":true}]"#;
        let batches = json(array, Some(&declared()), None, &depth(64)).unwrap();
        assert_eq!(batches[0].schema().field_with_name("late").unwrap().data_type(), &DataType::Boolean);
    }

    #[test]
    fn a_declared_type_that_does_not_fit_is_named() {
        let err = json(br#"{"id":"one"}"#, Some(&declared()), None, &depth(64)).unwrap_err().to_string();
        assert!(err.contains("does not fit") && err.contains("one"), "{err}");
    }

    /// Regression: JSON nested tens of thousands deep overflowed the stack of the
    /// host's call (arrow-json recurses per level when a schema is declared).
    #[test]
    fn nesting_beyond_the_limit_is_refused_before_decoding() {
        let deep = |depth: usize| format!("{{\"id\":1,\"a\":{}{}}}\n", "[".repeat(depth), "]".repeat(depth));
        for declared in [None, Some(declared())] {
            let err = json(deep(50_000).as_bytes(), declared.as_ref(), None, &depth(128)).unwrap_err();
            assert!(matches!(err, RowsError::TooDeep(128)), "{err}");
        }
        // Brackets inside strings (escaped quotes too) are text, not nesting.
        let text = format!("{{\"id\":1,\"a\":\"\\\"{}\"}}\n", "[".repeat(500));
        assert!(!scan(text.as_bytes(), 2).too_deep);
        assert!(scan(deep(3).as_bytes(), 3).too_deep);
        assert!(!scan(deep(3).as_bytes(), 4).too_deep);
    }

    /// Real-world issue: ISO 8601 timestamps in JSON landed as text while the same
    /// values in CSV landed as timestamps, so a hybrid pipeline without a declared
    /// schema failed at the hand-off ("changed type: Timestamp … Utf8").
    #[test]
    fn iso_timestamps_in_json_rows_type_as_timestamps() {
        use arrow::datatypes::TimeUnit;
        let rows = br#"[{"id":1,"at":"2025-01-02T14:19:00Z","note":"2025-01-02T14:19:00Z"},{"id":2,"at":"2025-01-02 15:00:00+01:00","note":"later"}]"#;
        let batches = json(rows, None, None, &depth(64)).unwrap();
        let schema = batches[0].schema();
        assert_eq!(
            schema.field_with_name("at").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(schema.field_with_name("note").unwrap().data_type(), &DataType::Utf8, "not every value is a time");
        use arrow::array::AsArray;
        let at = batches[0].column_by_name("at").unwrap().as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(at.value(0) - at.value(1), 19 * 60 * 1_000_000, "15:00+01:00 is 14:00Z, 19 minutes before 14:19Z");
        // A declared text column stays text.
        let declared = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("at", DataType::Utf8, true),
        ]));
        let kept = json(
            br#"[{"id":1,"at":"2025-01-02T14:19:00Z","x":"2025-01-02T14:19:00Z"}]"#,
            Some(&declared),
            None,
            &depth(64),
        )
        .unwrap();
        assert_eq!(kept[0].schema().field_with_name("at").unwrap().data_type(), &DataType::Utf8);
        assert!(matches!(kept[0].schema().field_with_name("x").unwrap().data_type(), DataType::Timestamp(..)));
    }

    /// Found by `just fuzz` (ipc_intake): an IPC body that makes arrow-ipc slice a
    /// buffer past its end panicked inside the host call; it is the stream's error.
    #[test]
    fn a_malformed_ipc_body_is_an_error_not_a_panic() {
        for input in [
            &include_bytes!("../../../fuzz/corpus/ipc_intake/crash-ipc-slice-panic")[..],
            // A buffer inside the body, shorter than its array needs: caught, not yet refused from the header.
            &include_bytes!("../../../fuzz/corpus/ipc_intake/crash-ipc-short-buffer")[..],
        ] {
            let err = ipc(input, 64 << 20).unwrap_err().to_string();
            assert!(err.contains("malformed") || err.contains("IPC"), "{err}");
        }
    }

    /// Found by `just fuzz` (ipc_intake): a 716-byte stream whose second message
    /// claims a header of 1.8 GB made arrow-ipc allocate it before reading it. A
    /// header or a body that claims more than the stream holds is refused first.
    #[test]
    fn a_message_claiming_more_bytes_than_the_stream_holds_is_refused() {
        let err = ipc(include_bytes!("../../../fuzz/corpus/ipc_intake/crash-ipc-header-oom"), 64 << 20).unwrap_err();
        assert!(err.to_string().contains("claims a header of 1869574856 bytes"), "{err}");
        let batch = RecordBatch::try_from_iter([(
            "id",
            Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let whole = ipc_of(&batch);
        assert_eq!(ipc(&whole, 64 << 20).unwrap()[0], batch);
        // A valid schema message, then a batch whose header claims 2 GB.
        let schema_only = {
            let mut out = Vec::new();
            arrow::ipc::writer::StreamWriter::try_new(&mut out, batch.schema_ref()).unwrap().finish().unwrap();
            out.truncate(out.len() - 8); // its end-of-stream marker
            out
        };
        let mut claims = schema_only.clone();
        claims.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0xF0, 0xFF, 0xFF, 0x7F]);
        let err = ipc(&claims, 64 << 20).unwrap_err().to_string();
        assert!(err.contains("claims a header of 2147483632 bytes, but the stream has 0 left"), "{err}");
        // The stream cut inside its batch's body: the body is past the end.
        let cut = &whole[..whole.len() - 8 - 4];
        let err = ipc(cut, 64 << 20).unwrap_err().to_string();
        assert!(err.contains("claims a body of") && err.contains("truncated"), "{err}");
    }

    /// Found by `just fuzz` (json_intake): rows with thousands of keys made arrow-json
    /// reserve its tape for 65,536 rows of that width, gigabytes, and the allocator
    /// aborted the process. Wide rows decode in batches the tape bound allows.
    #[test]
    fn rows_of_thousands_of_keys_decode_in_small_batches() {
        let wide: String = (0..20_000).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(",");
        let rows = format!("[{{{wide}}},{{\"k0\":1}}]");
        let intake = Intake { max_json_depth: 64, max_emit_cells: u64::MAX, max_record_bytes: 1 << 20 };
        let batches = json(rows.as_bytes(), None, None, &intake).unwrap();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
        let input = include_bytes!("../../../fuzz/corpus/json_intake/crash-json-tape-oom");
        let _ = json(input, None, None, &depth(128));
    }

    /// Real-world issue: Zendesk's `custom_fields[].value` is a string, a boolean,
    /// a number or null from one record to the next; decoding failed ("expected
    /// string got true"). Such a field lands as text, each value as written.
    #[test]
    fn a_field_of_varying_types_lands_as_text() {
        use arrow::array::{Array, AsArray, ListArray, StructArray};
        let rows = br#"[{"id":1,"custom_fields":[{"id":7,"value":"a"},{"id":8,"value":true}]},{"id":2,"custom_fields":[{"id":7,"value":3.5},{"id":8,"value":null}]},{"id":3,"custom_fields":null}]"#;
        let batches = json(rows, None, None, &depth(64)).unwrap();
        let fields = batches[0].column_by_name("custom_fields").unwrap().as_any().downcast_ref::<ListArray>().unwrap();
        let values = fields.values().as_any().downcast_ref::<StructArray>().unwrap();
        let text: Vec<Option<&str>> = values.column_by_name("value").unwrap().as_string::<i32>().iter().collect();
        assert_eq!(text, [Some("a"), Some("true"), Some("3.5"), None]);
        assert!(fields.is_null(2));
    }

    /// Real-world issue: `"metadata": {}` (Stripe, Zendesk) inferred a struct
    /// without fields, which Parquet refuses, and the stream failed. Fields that
    /// only hold empty objects are left out until they bring keys.
    #[test]
    fn empty_objects_do_not_make_columns_until_they_hold_keys() {
        let rows = br#"[{"id":1,"metadata":{},"tags":[{}],"nested":{"a":{}}},{"id":2,"metadata":{}}]"#;
        let batches = json(rows, None, None, &depth(64)).unwrap();
        let names: Vec<String> = batches[0].schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["id"]);
        let later = json(br#"[{"id":3,"metadata":{"k":"v"}}]"#, None, None, &depth(64)).unwrap();
        assert!(later[0].column_by_name("metadata").is_some());
    }

    /// Found while fixing review D27: a declared integer column took `1.5` as 1,
    /// silently; `2.0` is a whole number and lands as 2.
    #[test]
    fn a_decimal_in_a_declared_integer_column_is_refused_not_truncated() {
        use arrow::array::AsArray;
        let err = json(br#"[{"id":1.5,"name":"a"}]"#, Some(&declared()), None, &depth(64)).unwrap_err().to_string();
        assert!(err.contains("column `id`: 1.5 is not a whole number"), "{err}");
        let whole =
            json(br#"[{"id":2.0,"name":"a"},{"id":3,"name":"b"}]"#, Some(&declared()), None, &depth(64)).unwrap();
        let ids = whole[0].column_by_name("id").unwrap().as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(ids.values().to_vec(), vec![2, 3]);
    }

    /// Found by `just fuzz` (`json_intake`): arrow's decimal parser counts digits in a
    /// `u8` and an exponent in an `i16`, so `1e65546` would land as 10,000,000,000 and
    /// 300 digits as whatever wrapped (a panic in a debug build). Such values are
    /// refused naming the column, by the fast decoder and arrow-json's path alike.
    #[test]
    fn a_decimal_too_long_for_arrows_parser_is_refused_not_wrapped() {
        use arrow::array::AsArray;
        let field = |name: &str, data_type: &str| crate::bindings::Field {
            name: name.into(),
            data_type: data_type.into(),
            nullable: true,
        };
        let declared =
            super::super::declared_schema(&[field("id", "int64"), field("amount", "decimal(18, 2)")]).unwrap().unwrap();
        let huge = format!("1{}", "0".repeat(300));
        for value in ["1e65546", "\"1e65546\"", huge.as_str(), "\"E32222222232223\""] {
            for (declared, known) in [(Some(&declared), None), (None, Some(declared.as_ref()))] {
                let rows = format!(r#"[{{"id":1,"amount":{value}}}]"#);
                let shown = &value[..value.len().min(20)];
                match json(rows.as_bytes(), declared, known, &depth(64)) {
                    // Without a declared type, a value no decimal can hold is inferred anew
                    // (text, or a float), never a decimal of a wrapped value.
                    Ok(batches) if declared.is_none() => {
                        let amount = batches[0].column_by_name("amount").unwrap();
                        assert!(!matches!(amount.data_type(), arrow::datatypes::DataType::Decimal128(..)), "{shown}");
                    }
                    Ok(_) => panic!("{shown} was taken"),
                    // Named by its column, or (inferring) as a number out of range.
                    Err(e) => {
                        let e = e.to_string();
                        assert!(e.contains("amount") || e.contains("out of range"), "{shown}: {e}");
                    }
                }
            }
        }
        let fine =
            json(br#"[{"id":1,"amount":12.5},{"id":2,"amount":"3"}]"#, Some(&declared), None, &depth(64)).unwrap();
        let amounts = fine[0].column_by_name("amount").unwrap().as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!(amounts.values().to_vec(), vec![1250, 300]);
    }

    /// Found while measuring pages without a declared schema: where a page held any
    /// decimal, integer columns went through `f64`, so an id past 2^53 beside a
    /// decimal amount landed as another id (declared), and every page was inferred
    /// again (known). Both now take the id exactly, nested integers too.
    #[test]
    fn integers_beside_decimals_land_exactly_without_inference() {
        use arrow::array::AsArray;
        use arrow::datatypes::Int64Type;
        let rows = br#"[{"id":9007199254740993,"amount":1.25,"user":{"n":9007199254740995,"tags":[1,2]}},{"id":3,"amount":2}]"#;
        let declared = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Float64, true),
        ]));
        let batches = json(rows, Some(&declared), None, &depth(64)).unwrap();
        assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().values().to_vec(), vec![9_007_199_254_740_993, 3]);
        // Inferred on the first page; the next page decodes into what was inferred.
        let first = json(rows, None, None, &depth(64)).unwrap();
        let known = first[0].schema();
        let user = known.field_with_name("user").unwrap().data_type().clone();
        let again = json(rows, None, Some(&known), &depth(64)).unwrap();
        assert_eq!(again[0].schema(), known, "the known schema is kept, not re-inferred");
        let n = again[0].column_by_name("user").unwrap().as_struct().column_by_name("n").unwrap().clone();
        assert_eq!(n.as_primitive::<Int64Type>().value(0), 9_007_199_254_740_995, "{user}");
        let ids = again[0].column_by_name("id").unwrap().as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(ids, vec![9_007_199_254_740_993, 3]);
        // A nested decimal where the known schema has an integer: inferred again, not truncated.
        let nested =
            json(br#"[{"id":4,"amount":1.5,"user":{"n":2.5,"tags":[]}}]"#, None, Some(&known), &depth(64)).unwrap();
        let n = nested[0].column_by_name("user").unwrap().as_struct().column_by_name("n").unwrap().clone();
        assert_eq!(n.data_type(), &DataType::Float64);
    }

    /// Review D27: rows that fit the stream's schema so far decode into it without
    /// inference; a new field, a value of another type or a decimal where the
    /// schema has an integer are inferred as before, never truncated or dropped.
    #[test]
    fn rows_that_fit_the_known_schema_skip_inference_and_others_do_not() {
        use arrow::array::{AsArray, Float64Array};
        let known = Schema::new(vec![Field::new("id", DataType::Int64, true), Field::new("s", DataType::Utf8, true)]);
        let fits = json(br#"[{"id":1,"s":"a"},{"s":"b","id":2}]"#, None, Some(&known), &depth(64)).unwrap();
        assert_eq!(fits[0].schema().fields().len(), 2);
        assert_eq!(fits[0].column(0).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec(), vec![1, 2]);
        // A decimal in the integer column: inferred as Float64, not truncated to 1.
        let decimal = json(br#"[{"id":1.5,"s":"a"}]"#, None, Some(&known), &depth(64)).unwrap();
        let id = decimal[0].column_by_name("id").unwrap();
        assert_eq!(id.as_any().downcast_ref::<Float64Array>().unwrap().value(0), 1.5);
        // A field the schema lacks is kept.
        let new = json(br#"{"id":3,"s":"c","coupon":"X"}"#, None, Some(&known), &depth(64)).unwrap();
        assert!(new[0].column_by_name("coupon").is_some());
        // A string where the schema has an integer: inferred (and the stream then says it conflicts).
        let text = json(br#"{"id":"seven"}"#, None, Some(&known), &depth(64)).unwrap();
        assert_eq!(text[0].column_by_name("id").unwrap().data_type(), &DataType::Utf8);
        // Dots inside strings are not decimals.
        assert!(!scan(br#"{"s":"1.5e3"}"#, 8).decimals && scan(b"[1e3]", 8).decimals);
    }
}
