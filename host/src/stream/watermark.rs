//! Watermarks: the highest cursor value a stream has committed. The host computes
//! it from the rows it writes, never from what a connector claims, so the stored
//! watermark always matches what the sink holds, whichever phase loaded the rows.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::kernels::aggregate;
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Watermark {
    Int(i64),
    Float(f64),
    Timestamp(DateTime<Utc>),
    Text(String),
}

impl Watermark {
    /// The value as connectors get it from `state.watermark`.
    pub fn as_text(&self) -> String {
        match self {
            Watermark::Int(v) => v.to_string(),
            Watermark::Float(v) => v.to_string(),
            Watermark::Timestamp(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            Watermark::Text(s) => s.clone(),
        }
    }

    /// Orders two watermarks, across kinds where that has a meaning (an ISO text
    /// cursor from an API against a timestamp column from a backfill).
    pub fn compare(&self, other: &Watermark) -> Ordering {
        use Watermark::*;
        let as_time = |w: &Watermark| match w {
            Timestamp(t) => Some(*t),
            Text(s) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc)),
            _ => None,
        };
        match (self, other) {
            (Int(a), Int(b)) => a.cmp(b),
            (Int(a), Float(b)) => (*a as f64).total_cmp(b),
            (Float(a), Int(b)) => a.total_cmp(&(*b as f64)),
            (Float(a), Float(b)) => a.total_cmp(b),
            (Text(a), Text(b)) => text_cmp(a, b),
            _ => match (as_time(self), as_time(other)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => self.as_text().cmp(&other.as_text()),
            },
        }
    }

    /// The larger of two optional watermarks.
    pub fn max(a: Option<Watermark>, b: Option<Watermark>) -> Option<Watermark> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.compare(&a) == Ordering::Greater { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// The highest non-null value of a cursor column, or `None` for an all-null column.
    pub fn of_column(column: &ArrayRef) -> Result<Option<Watermark>, String> {
        if column.null_count() == column.len() {
            return Ok(None);
        }
        Ok(match column.data_type() {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Int64 => {
                let c = arrow::compute::cast(column, &DataType::Int64).map_err(|e| e.to_string())?;
                aggregate::max(c.as_primitive::<Int64Type>()).map(Watermark::Int)
            }
            DataType::Float32 | DataType::Float64 => {
                let c = arrow::compute::cast(column, &DataType::Float64).map_err(|e| e.to_string())?;
                aggregate::max(c.as_primitive::<arrow::datatypes::Float64Type>()).map(Watermark::Float)
            }
            DataType::Timestamp(unit, _) => {
                let c = arrow::compute::cast(column, &DataType::Int64).map_err(|e| e.to_string())?;
                let raw = aggregate::max(c.as_primitive::<Int64Type>());
                raw.and_then(|v| timestamp(v, unit)).map(Watermark::Timestamp)
            }
            DataType::Date32 | DataType::Date64 => {
                let c = arrow::compute::cast(column, &DataType::Timestamp(TimeUnit::Second, None))
                    .map_err(|e| e.to_string())?;
                let c = arrow::compute::cast(&c, &DataType::Int64).map_err(|e| e.to_string())?;
                aggregate::max(c.as_primitive::<Int64Type>())
                    .and_then(|v| timestamp(v, &TimeUnit::Second))
                    .map(Watermark::Timestamp)
            }
            // The maximum as `compare` orders text (times as times, numbers as numbers), not
            // by bytes: `"9"` is not above `"10"`, nor `…T10:00:00+02:00` above `…T09:00:00Z`.
            DataType::Utf8 => max_text(column.as_string::<i32>().iter().flatten()),
            DataType::LargeUtf8 => max_text(column.as_string::<i64>().iter().flatten()),
            other => return Err(format!("a cursor column of type {other} is not supported")),
        })
    }
}

fn max_text<'a>(values: impl Iterator<Item = &'a str>) -> Option<Watermark> {
    values
        .reduce(|best, v| if text_cmp(v, best) == Ordering::Greater { v } else { best })
        .map(|s| Watermark::Text(s.into()))
}

/// Orders two text cursors: as instants when both are RFC 3339 times, as numbers
/// when both are integers (or both decimals), else by their bytes.
pub fn text_cmp(a: &str, b: &str) -> Ordering {
    // The common case, one format throughout (`2025-01-02T14:19:00Z`): bytes order
    // such times as their instants, with no parsing.
    let utc_form = |s: &str| s.len() >= 20 && s.ends_with('Z') && s.as_bytes().get(10) == Some(&b'T');
    if a.len() == b.len() && utc_form(a) && utc_form(b) {
        return a.cmp(b);
    }
    let time = |s: &str| DateTime::parse_from_rfc3339(s).ok();
    if let (Some(x), Some(y)) = (time(a), time(b)) {
        return x.cmp(&y);
    }
    if let (Ok(x), Ok(y)) = (a.parse::<i128>(), b.parse::<i128>()) {
        return x.cmp(&y);
    }
    let decimal = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && s.bytes().all(|c| c.is_ascii_digit() || b"+-.eE".contains(&c)))
    };
    if let (Some(x), Some(y)) = (decimal(a), decimal(b)) {
        return x.total_cmp(&y);
    }
    a.cmp(b)
}

fn timestamp(v: i64, unit: &TimeUnit) -> Option<DateTime<Utc>> {
    match unit {
        TimeUnit::Second => DateTime::from_timestamp(v, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(v),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(v),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
    use std::sync::Arc;

    #[test]
    fn max_of_columns() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None, Some(9), Some(1)]));
        assert_eq!(Watermark::of_column(&ints).unwrap(), Some(Watermark::Int(9)));
        let text: ArrayRef = Arc::new(StringArray::from(vec!["2025-01-02T00:00:00Z", "2025-01-10T00:00:00Z"]));
        assert_eq!(Watermark::of_column(&text).unwrap().unwrap().as_text(), "2025-01-10T00:00:00Z");
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![0, 1_700_000_000_000]).with_timezone("UTC"));
        assert_eq!(Watermark::of_column(&ts).unwrap().unwrap().as_text(), "2023-11-14T22:13:20Z");
    }

    /// Review D7: the maximum of a text cursor was taken by bytes and compared as
    /// times, so with mixed offsets, or numbers as text, the watermark came out low.
    #[test]
    fn a_text_cursor_has_the_maximum_its_comparison_orders() {
        let max = |values: &[&str]| {
            let column: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
            Watermark::of_column(&column).unwrap().unwrap().as_text()
        };
        assert_eq!(max(&["2025-01-01T09:30:00Z", "2025-01-01T10:00:00+02:00"]), "2025-01-01T09:30:00Z");
        assert_eq!(max(&["9", "10", "2"]), "10");
        assert_eq!(max(&["1.5", "10.25", "9.75"]), "10.25");
        assert_eq!(max(&["2025-01-01T00:00:00.5Z", "2025-01-01T00:00:00Z"]), "2025-01-01T00:00:00.5Z");
        assert_eq!(max(&["b", "a", "ab"]), "b");
        let (a, b) = (Watermark::Text("9".into()), Watermark::Text("10".into()));
        assert_eq!(b.compare(&a), Ordering::Greater);
    }

    #[test]
    fn text_and_timestamp_compare_as_times() {
        let t = Watermark::Timestamp(DateTime::parse_from_rfc3339("2025-01-10T00:00:00Z").unwrap().to_utc());
        let later = Watermark::Text("2025-01-10T00:00:01+00:00".into());
        assert_eq!(later.compare(&t), Ordering::Greater);
        assert_eq!(Watermark::max(Some(t.clone()), Some(later.clone())), Some(later));
        assert_eq!(Watermark::max(None, Some(t.clone())), Some(t));
    }
}
