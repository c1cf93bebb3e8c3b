//! Stream schemas: the language-neutral column types of the WIT `field` record
//! parsed into Arrow types, and emitted batches conformed to a stream's declared
//! columns, so that every connector, in any language, lands the same types.

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

/// Parses a column type as spelled in a `field` record: `int64`, `string`,
/// `timestamp`, `timestamp(ms, UTC)`, `decimal(18, 2)`, …
pub fn parse_data_type(spelling: &str) -> Result<DataType, String> {
    let s = spelling.trim().to_ascii_lowercase();
    let (name, args) = match s.split_once('(') {
        Some((n, rest)) => {
            let args = rest.strip_suffix(')').ok_or_else(|| format!("type `{spelling}` has an unclosed `(`"))?;
            (n.trim().to_string(), args.split(',').map(|a| a.trim().to_string()).collect::<Vec<_>>())
        }
        None => (s.clone(), Vec::new()),
    };
    let simple = match name.as_str() {
        "int8" => Some(DataType::Int8),
        "int16" => Some(DataType::Int16),
        "int32" => Some(DataType::Int32),
        "int64" | "int" | "integer" => Some(DataType::Int64),
        "uint8" => Some(DataType::UInt8),
        "uint16" => Some(DataType::UInt16),
        "uint32" => Some(DataType::UInt32),
        "uint64" => Some(DataType::UInt64),
        "float32" => Some(DataType::Float32),
        "float64" | "float" | "double" => Some(DataType::Float64),
        "bool" | "boolean" => Some(DataType::Boolean),
        "string" | "utf8" | "text" => Some(DataType::Utf8),
        // Any JSON value, landed as its JSON text (see `declared_schema`).
        "json" => Some(DataType::Utf8),
        "binary" => Some(DataType::Binary),
        "date" | "date32" => Some(DataType::Date32),
        _ => None,
    };
    if let Some(t) = simple {
        if !args.is_empty() {
            return Err(format!("type `{spelling}` takes no arguments"));
        }
        return Ok(t);
    }
    match name.as_str() {
        "timestamp" => {
            let unit = match args.first().map(String::as_str) {
                None | Some("us") => TimeUnit::Microsecond,
                Some("s") => TimeUnit::Second,
                Some("ms") => TimeUnit::Millisecond,
                Some("ns") => TimeUnit::Nanosecond,
                Some(other) => return Err(format!("type `{spelling}`: unit `{other}` is not one of s, ms, us, ns")),
            };
            // Keep the zone as the user wrote it (case matters for names like Europe/Paris).
            let tz = spelling
                .split_once('(')
                .and_then(|(_, rest)| rest.trim_end_matches(')').split(',').nth(1))
                .map(|t| t.trim().to_string());
            let tz = match (args.len(), tz) {
                (0, _) => Some("UTC".to_string()),
                (1, _) => None,
                (2, tz) => tz,
                _ => return Err(format!("type `{spelling}`: expected timestamp(unit[, zone])")),
            };
            Ok(DataType::Timestamp(unit, tz.map(Into::into)))
        }
        "decimal" => {
            let [p, s] = args.as_slice() else {
                return Err(format!("type `{spelling}`: expected decimal(precision, scale)"));
            };
            let p: u8 = p.parse().map_err(|_| format!("type `{spelling}`: bad precision `{p}`"))?;
            let s: i8 = s.parse().map_err(|_| format!("type `{spelling}`: bad scale `{s}`"))?;
            if p == 0 || p > 38 {
                return Err(format!("type `{spelling}`: precision must be 1..=38"));
            }
            Ok(DataType::Decimal128(p, s))
        }
        _ => Err(format!(
            "unknown column type `{spelling}` (expected int64, float64, bool, string, date, timestamp, decimal(P, S), …)"
        )),
    }
}

/// The Arrow schema of declared fields; `None` when none are declared.
pub fn declared_schema(fields: &[crate::bindings::Field]) -> Result<Option<SchemaRef>, String> {
    if fields.is_empty() {
        return Ok(None);
    }
    check_reserved(fields.iter().map(|f| f.name.as_str()))?;
    let fields = fields
        .iter()
        .map(|f| {
            parse_data_type(&f.data_type)
                .map(|t| {
                    let field = Field::new(&f.name, t, f.nullable);
                    if f.data_type.trim().eq_ignore_ascii_case("json") { as_json(field) } else { field }
                })
                .map_err(|e| format!("column `{}`: {e}", f.name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Arc::new(Schema::new(fields))))
}

/// The Arrow extension name of a text column holding JSON text (Arrow's canonical `arrow.json`).
const JSON_EXTENSION: &str = "arrow.json";

/// `field` (text) marked as holding JSON text: a column declared `json`.
fn as_json(field: Field) -> Field {
    field.with_metadata(std::collections::HashMap::from([(
        "ARROW:extension:name".to_string(),
        JSON_EXTENSION.to_string(),
    )]))
}

/// Whether `field` was declared `json`.
pub fn is_json(field: &Field) -> bool {
    field.metadata().get("ARROW:extension:name").is_some_and(|n| n == JSON_EXTENSION)
}

/// Brings a batch to the declared schema: declared columns in declared order, cast
/// to their types (a value that does not convert is an error naming the column);
/// a declared nullable column that is missing becomes nulls; undeclared columns
/// are kept after the declared ones, so new source fields are not lost.
pub fn conform(batch: &RecordBatch, declared: &Schema) -> Result<RecordBatch, String> {
    let options = CastOptions { safe: false, ..Default::default() };
    let mut fields = Vec::with_capacity(declared.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(declared.fields().len());
    for field in declared.fields() {
        match batch.column_by_name(field.name()) {
            Some(col) => {
                let col = if col.data_type() == field.data_type() {
                    col.clone()
                } else {
                    cast_with_options(col, field.data_type(), &options).map_err(|e| {
                        format!(
                            "column `{}`: cannot convert {} to declared type {}: {e}",
                            field.name(),
                            col.data_type(),
                            field.data_type()
                        )
                    })?
                };
                if !field.is_nullable() && col.null_count() > 0 {
                    return Err(format!("column `{}` is declared not nullable but has nulls", field.name()));
                }
                columns.push(col);
            }
            None if field.is_nullable() => columns.push(new_null_array(field.data_type(), batch.num_rows())),
            None => return Err(format!("column `{}` is declared not nullable but missing", field.name())),
        }
        fields.push(field.as_ref().clone());
    }
    let batch_schema = batch.schema();
    for (i, field) in batch_schema.fields().iter().enumerate() {
        if declared.field_with_name(field.name()).is_err() {
            fields.push(field.as_ref().clone().with_nullable(true));
            columns.push(batch.column(i).clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// The prefix of the host's lineage columns (`_hw_extracted_at`, `_hw_run_id`),
/// reserved in any case: a connector column `_HW_RUN_ID` would win over the host's
/// own for case-insensitive readers (DuckDB), forging lineage.
const RESERVED_PREFIX: &str = "_hw_";

/// Refuses a column whose name takes the host's reserved prefix, naming it.
pub fn check_reserved<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    match names
        .into_iter()
        .find(|n| n.get(..RESERVED_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_PREFIX)))
    {
        Some(name) => Err(format!(
            "column `{}`: names starting with `_hw_` (in any case) are reserved for the host's lineage columns; \
             rename the column",
            name.escape_debug()
        )),
        None => Ok(()),
    }
}

/// The declared columns followed by the inferred columns that are not declared
/// (as nullable): fields a source sends beyond its declaration are kept, not dropped.
pub fn with_undeclared(declared: &Schema, inferred: &Schema) -> Schema {
    let mut fields: Vec<_> = declared.fields().iter().cloned().collect();
    for f in inferred.fields() {
        if declared.field_with_name(f.name()).is_err() {
            fields.push(Arc::new(f.as_ref().clone().with_nullable(true)));
        }
    }
    Schema::new(fields)
}

/// Whether values of type `from` convert to `to` without loss (a safe widening).
/// Signed and unsigned integers are ranked apart: an unsigned type widens to a
/// signed one only if that is wider (`UInt32` → `Int64`), and a signed type
/// never widens to an unsigned one (a negative value has no place there).
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    match (from, to) {
        (Null, _) => true,
        (a, b) if a == b => true,
        (Float32, Float64) | (Utf8, LargeUtf8) | (Date32, Date64) => true,
        // Integers to floating point, as readers that union files do (exact up to 2^53).
        (Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32, Float64) => true,
        (a, b) => match (integer(a), integer(b)) {
            (Some((a_signed, a_bits)), Some((b_signed, b_bits))) => {
                if a_signed == b_signed {
                    a_bits < b_bits
                } else {
                    !a_signed && a_bits < b_bits
                }
            }
            _ => false,
        },
    }
}

/// An integer type as (signed, bits).
fn integer(t: &DataType) -> Option<(bool, u8)> {
    use DataType::*;
    Some(match t {
        Int8 => (true, 8),
        Int16 => (true, 16),
        Int32 => (true, 32),
        Int64 => (true, 64),
        UInt8 => (false, 8),
        UInt16 => (false, 16),
        UInt32 => (false, 32),
        UInt64 => (false, 64),
        _ => return None,
    })
}

/// The narrowest type both integer types widen to when neither widens to the
/// other (`UInt8` and `Int8` meet in `Int16`); none past 64 bits.
fn common_integer(a: &DataType, b: &DataType) -> Option<DataType> {
    integer(a)?;
    integer(b)?;
    [DataType::Int16, DataType::Int32, DataType::Int64].into_iter().find(|t| widens(a, t) && widens(b, t))
}

/// Casts a column to a type it widens to, failing on any value that does not fit
/// rather than turning it into a null (arrow's default, `safe: true`, would).
fn cast_exact(column: &ArrayRef, to: &DataType) -> Result<ArrayRef, String> {
    let options = CastOptions { safe: false, ..Default::default() };
    cast_with_options(column, to, &options).map_err(|e| e.to_string())
}

/// The batch with every column Parquet cannot store under its logical type cast
/// to one it can (`crate::temporal::storable`: a seconds timestamp, from an IPC
/// emit or a declared `timestamp(s)`, becomes microseconds instead of a bare INT64).
pub fn storable(batch: RecordBatch) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| crate::temporal::storable(f.data_type()).is_some()) {
        return Ok(batch);
    }
    let mut columns = batch.columns().to_vec();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (i, f) in schema.fields().iter().enumerate() {
        if let Some(t) = crate::temporal::storable(f.data_type()) {
            columns[i] = cast_exact(&columns[i], &t)?;
            fields[i] = fields[i].clone().with_data_type(t);
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// Fits a batch into the stream's schema so far, which it may extend.
///
/// A column new to the stream becomes a new nullable column; a column whose type
/// is a safe widening of the stream's (or the reverse) widens; any other change
/// of type is a conflict, named with the column and both types. Returns the
/// batch (cast where it was narrower) and the stream schema after it.
pub fn evolve(stream: Option<&Schema>, batch: RecordBatch) -> Result<(RecordBatch, Schema), String> {
    let Some(stream) = stream else {
        let schema = batch.schema().as_ref().clone();
        return Ok((batch, schema));
    };
    let mut fields: Vec<Field> = stream.fields().iter().map(|f| f.as_ref().clone()).collect();
    let schema = batch.schema();
    let mut columns = batch.columns().to_vec();
    let mut batch_fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (i, f) in schema.fields().iter().enumerate() {
        match fields.iter_mut().find(|s| s.name() == f.name()) {
            None => fields.push(f.as_ref().clone().with_nullable(true)),
            Some(known) if known.data_type() == f.data_type() => {}
            Some(known) if widens(known.data_type(), f.data_type()) => {
                *known = known.clone().with_data_type(f.data_type().clone()).with_nullable(true);
            }
            Some(known) if widens(f.data_type(), known.data_type()) => {
                columns[i] = cast_exact(&columns[i], known.data_type())?;
                batch_fields[i] = f.as_ref().clone().with_data_type(known.data_type().clone());
            }
            Some(known) if let Some(common) = common_integer(known.data_type(), f.data_type()) => {
                columns[i] = cast_exact(&columns[i], &common)?;
                batch_fields[i] = f.as_ref().clone().with_data_type(common.clone());
                *known = known.clone().with_data_type(common).with_nullable(true);
            }
            Some(known) => {
                // Nested types are named at the field that differs, not as two whole struct types.
                let (path, was, now) = first_difference(f.name(), known.data_type(), f.data_type());
                return Err(format!(
                    "column `{}` changed type: {} in the stream so far, {} here; a conflicting type is not \
                     converted silently (declare the column's type, or load this data into another stream)",
                    crate::untrusted_text::one_line(&path),
                    short_type(&was),
                    short_type(&now)
                ));
            }
        }
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(batch_fields)), columns).map_err(|e| e.to_string())?;
    Ok((batch, Schema::new(fields)))
}

/// Where two types first differ: the dotted path into a struct (`custom_fields.value`,
/// with `[]` for list items) and the two types found there.
fn first_difference(name: &str, was: &DataType, now: &DataType) -> (String, DataType, DataType) {
    let (mut path, mut was, mut now) = (name.to_string(), was.clone(), now.clone());
    loop {
        let next = match (&was, &now) {
            (DataType::Struct(a), DataType::Struct(b)) => a.iter().find_map(|fa| {
                let fb = b.iter().find(|fb| fb.name() == fa.name())?;
                (fa.data_type() != fb.data_type())
                    .then(|| (format!("{path}.{}", fa.name()), fa.data_type().clone(), fb.data_type().clone()))
            }),
            (DataType::List(a), DataType::List(b)) | (DataType::LargeList(a), DataType::LargeList(b)) => {
                Some((format!("{path}[]"), a.data_type().clone(), b.data_type().clone()))
            }
            _ => None,
        };
        match next {
            Some((p, a, b)) if a != b => (path, was, now) = (p, a, b),
            _ => return (path, was, now),
        }
    }
}

/// A type as a short name: a struct by its field names, not its whole spelling.
fn short_type(t: &DataType) -> String {
    match t {
        DataType::Struct(fields) => {
            let names: Vec<&str> = fields.iter().take(6).map(|f| f.name().as_str()).collect();
            let more = if fields.len() > 6 { ", …" } else { "" };
            format!("a struct {{{}{more}}}", names.join(", "))
        }
        DataType::List(item) | DataType::LargeList(item) => format!("a list of {}", short_type(item.data_type())),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    /// Real-world issue: a conflict inside a struct printed two struct types
    /// hundreds of characters long; it names the nested field that differs.
    #[test]
    fn a_nested_conflict_names_the_field_that_differs() {
        let inner = |t: DataType| {
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(vec![Field::new("id", DataType::Int64, true), Field::new("value", t, true)].into()),
                true,
            )))
        };
        let (path, was, now) = first_difference("custom_fields", &inner(DataType::Int64), &inner(DataType::Boolean));
        assert_eq!((path.as_str(), was, now), ("custom_fields[].value", DataType::Int64, DataType::Boolean));
        assert_eq!(short_type(&inner(DataType::Int64)), "a list of a struct {id, value}");
    }

    /// Review D6: `Int8` ranked below `UInt8`, so a signed batch was cast into an
    /// unsigned stream and its negatives became nulls; `UInt32` → `Int64` was refused.
    #[test]
    fn signed_and_unsigned_integers_meet_without_losing_a_value() {
        use arrow::array::{Int8Array, UInt8Array, UInt32Array, UInt64Array};
        let stream = |t: DataType| Schema::new(vec![Field::new("n", t, true)]);
        let batch = |a: ArrayRef| RecordBatch::try_from_iter([("n", a)]).unwrap();
        let (cast, after) =
            evolve(Some(&stream(DataType::UInt8)), batch(Arc::new(Int8Array::from(vec![-1, 5])))).unwrap();
        assert_eq!(after.field(0).data_type(), &DataType::Int16, "UInt8 and Int8 meet in Int16");
        let values = cast.column(0).as_any().downcast_ref::<arrow::array::Int16Array>().unwrap();
        assert_eq!(values.iter().collect::<Vec<_>>(), vec![Some(-1), Some(5)], "no negative became a null");

        let (_, after) = evolve(Some(&stream(DataType::UInt32)), batch(Arc::new(Int64Array::from(vec![-7])))).unwrap();
        assert_eq!(after.field(0).data_type(), &DataType::Int64, "UInt32 widens to Int64");
        let (cast, after) =
            evolve(Some(&stream(DataType::Int64)), batch(Arc::new(UInt32Array::from(vec![u32::MAX])))).unwrap();
        assert_eq!(after.field(0).data_type(), &DataType::Int64);
        assert_eq!(cast.column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0), i64::from(u32::MAX));

        for (known, batch_of) in [
            (DataType::UInt64, Arc::new(Int8Array::from(vec![-1])) as ArrayRef),
            (DataType::Int64, Arc::new(UInt64Array::from(vec![u64::MAX])) as ArrayRef),
            (DataType::UInt64, Arc::new(arrow::array::Int32Array::from(vec![1])) as ArrayRef),
        ] {
            let shown = format!("{known} ← {}", batch_of.data_type());
            let e = evolve(Some(&stream(known)), batch(batch_of)).unwrap_err();
            assert!(e.contains("changed type"), "{shown}: {e}");
        }
        let (_, after) = evolve(Some(&stream(DataType::UInt16)), batch(Arc::new(Int8Array::from(vec![-1])))).unwrap();
        assert_eq!(after.field(0).data_type(), &DataType::Int32, "UInt16 and Int8 meet in Int32");
        // A signed stream takes an unsigned batch that fits, and keeps its type.
        let (cast, after) =
            evolve(Some(&stream(DataType::Int16)), batch(Arc::new(UInt8Array::from(vec![255])))).unwrap();
        assert_eq!((after.field(0).data_type(), cast.column(0).data_type()), (&DataType::Int16, &DataType::Int16));
    }

    #[test]
    fn evolve_adds_widens_and_refuses_conflicts() {
        let stream = Schema::new(vec![Field::new("id", DataType::Int32, false)]);
        let b = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("note", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
        ])
        .unwrap();
        let (_, after) = evolve(Some(&stream), b).unwrap();
        assert_eq!(after.field_with_name("id").unwrap().data_type(), &DataType::Int64);
        assert!(after.field_with_name("note").unwrap().is_nullable());

        let narrow =
            RecordBatch::try_from_iter([("id", Arc::new(arrow::array::Int32Array::from(vec![7])) as ArrayRef)])
                .unwrap();
        let (cast, _) = evolve(Some(&after), narrow).unwrap();
        assert_eq!(cast.column(0).data_type(), &DataType::Int64);

        let text = RecordBatch::try_from_iter([("id", Arc::new(StringArray::from(vec!["a"])) as ArrayRef)]).unwrap();
        let err = evolve(Some(&after), text).unwrap_err();
        assert!(err.contains("column `id`") && err.contains("Int64") && err.contains("Utf8"), "{err}");
    }

    #[test]
    fn spellings() {
        assert_eq!(parse_data_type("int64").unwrap(), DataType::Int64);
        assert_eq!(
            parse_data_type("timestamp").unwrap(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            parse_data_type("timestamp(ms, Europe/Paris)").unwrap(),
            DataType::Timestamp(TimeUnit::Millisecond, Some("Europe/Paris".into()))
        );
        assert_eq!(parse_data_type("timestamp(ns)").unwrap(), DataType::Timestamp(TimeUnit::Nanosecond, None));
        assert_eq!(parse_data_type("Decimal(18, 2)").unwrap(), DataType::Decimal128(18, 2));
        assert!(parse_data_type("varchar").unwrap_err().contains("unknown column type `varchar`"));
    }

    #[test]
    fn conform_casts_fills_and_keeps_new_columns() {
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(vec!["1", "2"])) as ArrayRef),
            ("extra", Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef),
        ])
        .unwrap();
        let declared =
            Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("note", DataType::Utf8, true)]);
        let out = conform(&batch, &declared).unwrap();
        let names: Vec<_> = out.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["id", "note", "extra"]);
        assert_eq!(out.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values(), &[1, 2]);
        assert_eq!(out.column(1).null_count(), 2);
    }

    #[test]
    fn conform_names_the_column_that_does_not_convert() {
        let batch =
            RecordBatch::try_from_iter([("amount", Arc::new(StringArray::from(vec!["12", "twelve"])) as ArrayRef)])
                .unwrap();
        let declared = Schema::new(vec![Field::new("amount", DataType::Int64, true)]);
        let err = conform(&batch, &declared).unwrap_err();
        assert!(err.contains("column `amount`") && err.contains("twelve"), "{err}");
    }
}
