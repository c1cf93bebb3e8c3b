//! Record batches from serde rows and a stream's declared fields (see the
//! conversion table in [`crate::arrow`]): one column per declared field, built
//! with the Arrow type the host gives its spelling.

use crate::{Error, Field, Result};
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow_array::{ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Schema, SchemaRef, TimeUnit};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// The Arrow type of a declared column, as the host reads its spelling (`int64`,
/// `timestamp(ms, UTC)`, `decimal(18, 2)`, …).
pub fn data_type(spelling: &str) -> Result<DataType> {
    let bad = |why: &str| Error::Other(format!("column type `{spelling}`: {why}"));
    let lower = spelling.trim().to_ascii_lowercase();
    let (name, args) = match lower.split_once('(') {
        Some((name, rest)) => {
            let args = rest.strip_suffix(')').ok_or_else(|| bad("unclosed `(`"))?;
            (name.trim().to_string(), args.split(',').map(|a| a.trim().to_string()).collect::<Vec<_>>())
        }
        None => (lower.clone(), Vec::new()),
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
        "binary" => Some(DataType::Binary),
        "date" | "date32" => Some(DataType::Date32),
        _ => None,
    };
    if let Some(t) = simple {
        return if args.is_empty() { Ok(t) } else { Err(bad("takes no arguments")) };
    }
    match name.as_str() {
        "timestamp" => {
            let unit = match args.first().map(String::as_str) {
                None | Some("us") => TimeUnit::Microsecond,
                Some("s") => TimeUnit::Second,
                Some("ms") => TimeUnit::Millisecond,
                Some("ns") => TimeUnit::Nanosecond,
                Some(_) => return Err(bad("the unit is not one of s, ms, us, ns")),
            };
            // The zone as written (case matters for names like Europe/Paris).
            let zone = spelling.split_once('(').and_then(|(_, r)| r.trim_end().trim_end_matches(')').split(',').nth(1));
            let zone = match args.len() {
                0 => Some("UTC".to_string()),
                1 => None,
                2 => zone.map(|z| z.trim().to_string()),
                _ => return Err(bad("expected timestamp(unit[, zone])")),
            };
            Ok(DataType::Timestamp(unit, zone.map(Into::into)))
        }
        "decimal" => match args.as_slice() {
            [p, s] => {
                let p: u8 = p.parse().map_err(|_| bad("bad precision"))?;
                let s: i8 = s.parse().map_err(|_| bad("bad scale"))?;
                Ok(DataType::Decimal128(p, s))
            }
            _ => Err(bad("expected decimal(precision, scale)")),
        },
        _ => Err(bad("unknown type (expected int64, float64, bool, string, date, timestamp, decimal(P, S), …)")),
    }
}

/// The schema [`batch_from_rows`] builds for `fields`: each declared type,
/// except `decimal` and `binary` columns, built as text for the host to cast.
pub fn schema(fields: &[Field]) -> Result<SchemaRef> {
    let fields = fields
        .iter()
        .map(|f| {
            let t =
                data_type(&f.data_type).map_err(|e| Error::Other(format!("column `{}`: {}", f.name, e.message())))?;
            Ok(arrow_schema::Field::new(&f.name, built_as(t), f.nullable))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// The type a column is built with: its declared one, or text for the host to cast.
fn built_as(declared: DataType) -> DataType {
    match declared {
        DataType::Decimal128(..) | DataType::Binary => DataType::Utf8,
        t => t,
    }
}

/// A record batch of the declared `fields`, from rows that serialize as JSON
/// objects (structs, maps, `serde_json::Value`s).
///
/// ```
/// use headwater_sdk::StreamInfo;
/// use headwater_sdk::arrow::batch_from_rows;
///
/// #[derive(serde::Serialize)]
/// struct Order { id: i64, customer: Option<String>, updated_at: String }
///
/// let stream = StreamInfo::new("orders")
///     .field("id", "int64", false)
///     .field("customer", "string", true)
///     .field("updated_at", "timestamp", false);
/// let rows = [
///     Order { id: 1, customer: Some("c1".into()), updated_at: "2025-01-01T00:00:00Z".into() },
///     Order { id: 2, customer: None, updated_at: "2025-01-01T00:01:00+01:00".into() },
/// ];
/// let batch = batch_from_rows(&stream.fields, &rows).unwrap();
/// assert_eq!((batch.num_rows(), batch.column(1).null_count()), (2, 1));
/// ```
pub fn batch_from_rows<T: Serialize>(fields: &[Field], rows: &[T]) -> Result<RecordBatch> {
    let rows = rows
        .iter()
        .enumerate()
        .map(|(i, r)| serde_json::to_value(r).map_err(|e| Error::Data(format!("row {i} does not serialize: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    batch_from_json(fields, &rows)
}

/// [`batch_from_rows`] for rows that are JSON values already (without copying them).
pub fn batch_from_json(fields: &[Field], rows: &[Value]) -> Result<RecordBatch> {
    if fields.is_empty() {
        return Err(Error::Other("a record batch from rows needs the stream's declared fields".into()));
    }
    for (i, row) in rows.iter().enumerate() {
        if !row.is_object() {
            return Err(Error::Data(format!("row {i} is not a JSON object: {}", snippet(row))));
        }
    }
    let schema = schema(fields)?;
    let columns = fields
        .iter()
        .zip(schema.fields())
        .map(|(declared, field)| {
            let values = rows.iter().map(|r| r.get(&declared.name).filter(|v| !v.is_null()));
            column(field.data_type(), values).map_err(|(i, why)| {
                Error::Data(format!("column `{}` ({}), row {i}: {why}", declared.name, declared.data_type))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    for (declared, column) in fields.iter().zip(&columns) {
        if !declared.nullable && column.null_count() > 0 {
            let i = (0..column.len()).find(|&i| column.is_null(i)).unwrap_or_default();
            return Err(Error::Data(format!(
                "column `{}`, row {i}: null (or missing) in a column declared not nullable",
                declared.name
            )));
        }
    }
    RecordBatch::try_new(schema, columns).map_err(|e| Error::Data(format!("arrow: {e}")))
}

/// Builds and emits a batch of `rows` to `stream` (see [`batch_from_rows`]);
/// returns the number of rows. Nothing is emitted for no rows.
pub fn emit_rows<T: Serialize>(stream: &str, fields: &[Field], rows: &[T]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let batch = batch_from_rows(fields, rows)?;
    super::emit(stream, &[batch])?;
    Ok(rows.len() as u64)
}

/// Why a value does not convert, with its row.
type Bad = (usize, String);

/// One column of `data_type` from each row's value (`None`: null).
fn column<'a>(data_type: &DataType, values: impl Iterator<Item = Option<&'a Value>>) -> Result<ArrayRef, Bad> {
    Ok(match data_type {
        DataType::Int8 => primitive::<Int8Type, _>(values, int)?,
        DataType::Int16 => primitive::<Int16Type, _>(values, int)?,
        DataType::Int32 => primitive::<Int32Type, _>(values, int)?,
        DataType::Int64 => primitive::<Int64Type, _>(values, int)?,
        DataType::UInt8 => primitive::<UInt8Type, _>(values, int)?,
        DataType::UInt16 => primitive::<UInt16Type, _>(values, int)?,
        DataType::UInt32 => primitive::<UInt32Type, _>(values, int)?,
        DataType::UInt64 => primitive::<UInt64Type, _>(values, int)?,
        DataType::Float32 => primitive::<Float32Type, _>(values, |v| float(v).map(|f| f as f32))?,
        DataType::Float64 => primitive::<Float64Type, _>(values, float)?,
        DataType::Date32 => primitive::<Date32Type, _>(values, date)?,
        DataType::Timestamp(unit, zone) => {
            let zone = zone.clone();
            match unit {
                TimeUnit::Second => {
                    Arc::new(timestamps::<TimestampSecondType>(values, 1_000_000_000)?.with_timezone_opt(zone))
                }
                TimeUnit::Millisecond => {
                    Arc::new(timestamps::<TimestampMillisecondType>(values, 1_000_000)?.with_timezone_opt(zone))
                }
                TimeUnit::Microsecond => {
                    Arc::new(timestamps::<TimestampMicrosecondType>(values, 1_000)?.with_timezone_opt(zone))
                }
                TimeUnit::Nanosecond => {
                    Arc::new(timestamps::<TimestampNanosecondType>(values, 1)?.with_timezone_opt(zone))
                }
            }
        }
        DataType::Boolean => Arc::new(
            values
                .enumerate()
                .map(|(i, v)| match v {
                    None => Ok(None),
                    Some(Value::Bool(b)) => Ok(Some(*b)),
                    Some(other) => Err((i, format!("expected true or false, got {}", snippet(other)))),
                })
                .collect::<Result<BooleanArray, Bad>>()?,
        ),
        DataType::Utf8 => Arc::new(
            values
                .map(|v| match v {
                    None => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                })
                .collect::<StringArray>(),
        ),
        other => unreachable!("`data_type` gives no {other}"),
    })
}

/// A primitive column, each value converted by `convert`.
fn primitive<'a, T, C>(values: impl Iterator<Item = Option<&'a Value>>, convert: C) -> Result<ArrayRef, Bad>
where
    T: ArrowPrimitiveType,
    C: Fn(&Value) -> Result<T::Native, String>,
{
    let array: PrimitiveArray<T> = values
        .enumerate()
        .map(|(i, v)| v.map(&convert).transpose().map_err(|why| (i, why)))
        .collect::<Result<_, Bad>>()?;
    Ok(Arc::new(array))
}

/// A timestamp column whose unit is `nanos_per_unit` nanoseconds.
fn timestamps<'a, T>(
    values: impl Iterator<Item = Option<&'a Value>>,
    nanos_per_unit: i128,
) -> Result<PrimitiveArray<T>, Bad>
where
    T: ArrowPrimitiveType<Native = i64>,
{
    values
        .enumerate()
        .map(|(i, v)| v.map(|v| timestamp(v, nanos_per_unit)).transpose().map_err(|why| (i, why)))
        .collect()
}

/// An integer of the column's width from an integer, a float with no fraction
/// or a numeric string.
fn int<N: TryFrom<i128>>(v: &Value) -> Result<N, String> {
    let wide: i128 = match v {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i128::from(i),
            (_, Some(u), _) => i128::from(u),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1.7e38 => f as i128,
            _ => return Err(format!("{n} is not an integer")),
        },
        Value::String(s) => s.trim().parse().map_err(|_| format!("{} is not an integer", snippet(v)))?,
        other => return Err(format!("expected an integer, got {}", snippet(other))),
    };
    N::try_from(wide).map_err(|_| format!("{wide} is out of the column's range"))
}

fn float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Value::String(s) => s.trim().parse().map_err(|_| format!("{} is not a number", snippet(v))),
        other => Err(format!("expected a number, got {}", snippet(other))),
    }
}

/// Days since 1970-01-01.
fn date(v: &Value) -> Result<i32, String> {
    match v {
        Value::String(s) => parse_date(s.trim())
            .and_then(|d| i32::try_from(d).ok())
            .ok_or_else(|| format!("{} is not a YYYY-MM-DD date", snippet(v))),
        Value::Number(_) => int::<i32>(v),
        other => Err(format!("expected a date, got {}", snippet(other))),
    }
}

/// A timestamp in units of `nanos_per_unit` nanoseconds since the epoch.
fn timestamp(v: &Value, nanos_per_unit: i128) -> Result<i64, String> {
    match v {
        Value::String(s) => parse_timestamp_nanos(s.trim())
            .map(|n| n.div_euclid(nanos_per_unit))
            .and_then(|t| i64::try_from(t).ok())
            .ok_or_else(|| format!("{} is not an RFC 3339 timestamp", snippet(v))),
        Value::Number(_) => int::<i64>(v),
        other => Err(format!("expected a timestamp, got {}", snippet(other))),
    }
}

/// Nanoseconds since 1970-01-01T00:00:00Z of RFC 3339 text: `YYYY-MM-DD`,
/// then optionally `T` (or a space) `hh:mm:ss`, a fraction, and `Z` or `±hh:mm`
/// (none: UTC).
pub(crate) fn parse_timestamp_nanos(s: &str) -> Option<i128> {
    let days = parse_date(s.get(..10)?)?;
    let mut nanos = i128::from(days) * 86_400 * 1_000_000_000;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(nanos);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let b = rest.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(&rest[0..2])?, digits(&rest[3..5])?, digits(&rest[6..8])?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    nanos += (i128::from(h) * 3600 + i128::from(m) * 60 + i128::from(sec)) * 1_000_000_000;
    let mut rest = &rest[8..];
    if let Some(fraction) = rest.strip_prefix(['.', ',']) {
        let len = fraction.find(|c: char| !c.is_ascii_digit()).unwrap_or(fraction.len());
        if len == 0 {
            return None;
        }
        let kept = &fraction[..len.min(9)];
        nanos += i128::from(digits(kept)?) * 10i128.pow(9 - kept.len() as u32);
        rest = &fraction[len..];
    }
    let offset_minutes: i128 = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone = &rest[1..];
            let (zh, zm) = match zone.len() {
                2 => (digits(zone)?, 0),
                4 => (digits(&zone[..2])?, digits(&zone[2..])?),
                5 if zone.as_bytes()[2] == b':' => (digits(&zone[..2])?, digits(&zone[3..])?),
                _ => return None,
            };
            if zh > 23 || zm > 59 {
                return None;
            }
            sign * i128::from(zh * 60 + zm)
        }
    };
    Some(nanos - offset_minutes * 60 * 1_000_000_000)
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (i64::from(digits(&s[0..4])?), digits(&s[5..7])?, digits(&s[8..10])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[m as usize - 1] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// ASCII digits as a number.
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A value for an error message, shortened.
fn snippet(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamInfo;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType as Micros;
    use arrow_array::{Array, Date32Array, Float64Array, Int64Array, UInt8Array};
    use serde_json::json;

    fn fields(info: StreamInfo) -> Vec<Field> {
        info.fields
    }

    #[derive(Serialize)]
    struct Order {
        id: i64,
        customer: Option<String>,
        amount: Option<f64>,
        paid: Option<bool>,
        updated_at: String,
    }

    fn orders() -> Vec<Field> {
        fields(
            StreamInfo::new("orders")
                .field("id", "int64", false)
                .field("customer", "string", true)
                .field("amount", "float64", true)
                .field("paid", "bool", true)
                .field("updated_at", "timestamp", false),
        )
    }

    #[test]
    fn structs_become_typed_columns_with_nulls() {
        let rows = [
            Order {
                id: 1,
                customer: Some("c1".into()),
                amount: Some(0.37),
                paid: Some(true),
                updated_at: "2025-01-01T00:00:00Z".into(),
            },
            Order { id: 2, customer: None, amount: None, paid: None, updated_at: "2025-01-01T01:01:00.5+01:00".into() },
        ];
        let batch = batch_from_rows(&orders(), &rows).expect("a batch");
        let schema = batch.schema();
        let types: Vec<_> =
            schema.fields().iter().map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable())).collect();
        assert_eq!(
            types,
            [
                ("id", DataType::Int64, false),
                ("customer", DataType::Utf8, true),
                ("amount", DataType::Float64, true),
                ("paid", DataType::Boolean, true),
                ("updated_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
            ]
        );
        assert_eq!(batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values(), &[1, 2]);
        let customer = batch.column(1).as_string::<i32>();
        assert_eq!((customer.value(0), customer.is_null(1)), ("c1", true));
        let amount = batch.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!((amount.value(0), amount.is_null(1)), (0.37, true));
        let paid = batch.column(3).as_boolean();
        assert_eq!((paid.value(0), paid.is_null(1)), (true, true));
        let at = batch.column(4).as_primitive::<Micros>();
        let start = 1_735_689_600_000_000; // 2025-01-01T00:00:00Z in µs
        assert_eq!(at.values(), &[start, start + 60_000_000 + 500_000]);
    }

    #[test]
    fn json_values_build_the_same_batch() {
        let rows = [
            json!({"id": 1, "customer": "c1", "amount": 0.37, "paid": true, "updated_at": "2025-01-01T00:00:00Z", "extra": [1]}),
        ];
        let batch = batch_from_json(&orders(), &rows).expect("a batch");
        assert_eq!((batch.num_rows(), batch.num_columns()), (1, 5), "undeclared fields are left out");
    }

    #[test]
    fn values_convert_where_they_mean_the_same() {
        let f = fields(
            StreamInfo::new("s")
                .field("small", "uint8", true)
                .field("n", "int64", true)
                .field("text", "string", true)
                .field("day", "date", true)
                .field("price", "decimal(10, 2)", true)
                .field("at", "timestamp(ms)", true),
        );
        let rows = [
            json!({"small": "7", "n": 3.0, "text": 12, "day": "2025-03-01", "price": 12.5, "at": 1_000}),
            json!({"small": 255, "n": "-4", "text": {"a": [true]}, "day": 2, "price": "0.10", "at": "1970-01-01"}),
        ];
        let batch = batch_from_json(&f, &rows).expect("a batch");
        assert_eq!(batch.column(0).as_any().downcast_ref::<UInt8Array>().unwrap().values(), &[7, 255]);
        assert_eq!(batch.column(1).as_any().downcast_ref::<Int64Array>().unwrap().values(), &[3, -4]);
        let text = batch.column(2).as_string::<i32>();
        assert_eq!((text.value(0), text.value(1)), ("12", r#"{"a":[true]}"#));
        assert_eq!(batch.column(3).as_any().downcast_ref::<Date32Array>().unwrap().values(), &[20148, 2]);
        let price = batch.column(4).as_string::<i32>();
        assert_eq!((price.value(0), price.value(1)), ("12.5", "0.10"), "decimals as text, for the host to cast");
        let at = batch.column(5);
        assert_eq!(at.data_type(), &DataType::Timestamp(TimeUnit::Millisecond, None));
        assert_eq!(at.as_primitive::<TimestampMillisecondType>().values(), &[1_000, 0]);
    }

    #[test]
    fn a_value_that_does_not_convert_names_its_column_and_row() {
        let f = fields(StreamInfo::new("s").field("n", "int8", true).field("ok", "bool", true));
        let err = |rows: &[Value]| batch_from_json(&f, rows).expect_err("refused").message().to_string();
        assert_eq!(
            err(&[json!({"n": 1}), json!({"n": 300})]),
            "column `n` (int8), row 1: 300 is out of the column's range"
        );
        assert_eq!(err(&[json!({"n": 1.5})]), "column `n` (int8), row 0: 1.5 is not an integer");
        assert_eq!(err(&[json!({"ok": "yes"})]), r#"column `ok` (bool), row 0: expected true or false, got "yes""#);
        assert_eq!(err(&[json!([1])]), "row 0 is not a JSON object: [1]");
        let f = fields(StreamInfo::new("s").field("at", "timestamp", true));
        let e = batch_from_json(&f, &[json!({"at": "01/02/2025"})]).expect_err("refused");
        assert_eq!(e.message(), r#"column `at` (timestamp), row 0: "01/02/2025" is not an RFC 3339 timestamp"#);
    }

    #[test]
    fn a_null_in_a_column_declared_not_nullable_is_refused() {
        let rows = [
            json!({"id": 1, "updated_at": "2025-01-01T00:00:00Z"}),
            json!({"id": null, "updated_at": "2025-01-01T00:00:00Z"}),
        ];
        let err = batch_from_json(&orders(), &rows).expect_err("refused");
        assert_eq!(err.message(), "column `id`, row 1: null (or missing) in a column declared not nullable");
        let err = batch_from_json(&orders(), &[json!({"id": 1})]).expect_err("refused");
        assert!(err.message().starts_with("column `updated_at`, row 0"), "{err:?}");
    }

    #[test]
    fn declared_types_read_as_the_host_reads_them() {
        assert_eq!(data_type("timestamp").unwrap(), DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
        assert_eq!(
            data_type("timestamp(ns, Europe/Paris)").unwrap(),
            DataType::Timestamp(TimeUnit::Nanosecond, Some("Europe/Paris".into()))
        );
        assert_eq!(data_type("Decimal(18, 2)").unwrap(), DataType::Decimal128(18, 2));
        assert!(data_type("timestamp(h)").is_err());
        assert!(data_type("int64(3)").is_err());
        let err = schema(&fields(StreamInfo::new("s").field("x", "money", true))).expect_err("unknown");
        assert!(err.message().starts_with("column `x`: column type `money`: unknown type"), "{err:?}");
    }

    #[test]
    fn rfc3339_text() {
        let t = |s| parse_timestamp_nanos(s);
        let second = 1_000_000_000i128;
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(t("1970-01-01 00:00:01"), Some(second));
        assert_eq!(t("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(t("1970-01-01T00:00:00-0130"), Some(5400 * second));
        assert_eq!(t("1970-01-01T00:00:00.123456789123Z"), Some(123_456_789));
        assert_eq!(t("1969-12-31T23:59:59.5Z"), Some(-second / 2));
        assert_eq!(t("2024-02-29"), Some(19_782 * 86_400 * second));
        assert_eq!(t("2025-02-29"), None);
        assert_eq!(t("2025-01-01T24:00:00Z"), None);
        assert_eq!(t("2025-01-01T00:00Z"), None);
        assert_eq!(t("2025-01-01T00:00:00."), None);
        assert_eq!(t("2025-01-01T00:00:00+1"), None);
        // Before the epoch, a coarser unit rounds down.
        assert_eq!(timestamp(&json!("1969-12-31T23:59:59.5Z"), second), Ok(-1));
    }

    #[test]
    fn batches_go_out_as_ipc_and_read_back() {
        let rows = [Order {
            id: 7,
            customer: None,
            amount: Some(1.0),
            paid: Some(false),
            updated_at: "2025-01-01T00:00:00Z".into(),
        }];
        let batch = batch_from_rows(&orders(), &rows).expect("a batch");
        let ipc = super::super::to_ipc(std::slice::from_ref(&batch)).expect("IPC");
        let read: Vec<RecordBatch> = arrow_ipc::reader::StreamReader::try_new(ipc.as_slice(), None)
            .expect("a stream")
            .collect::<std::result::Result<_, _>>()
            .expect("batches");
        assert_eq!(read, [batch]);
    }
}
