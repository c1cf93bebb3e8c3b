//! Text that is a timestamp, typed the same way in every format: a column whose
//! values are all ISO 8601 date-times (`2025-01-02T14:19:00Z`, or pandas'
//! `2013-01-01 06:00:00+00:00`) is a timestamp column, in UTC when every value
//! carries a zone (`Z`, `+02:00`), without one when none does. CSV files and
//! JSON rows (API pages, NDJSON) infer through this one rule, so that a backfill
//! from CSV and the API after it give their cursor the same type and their
//! watermarks compare, with no schema declared.

use arrow::datatypes::{DataType, TimeUnit};

/// What one value says about itself, if it is an ISO 8601 date-time.
struct Shape {
    zoned: bool,
    /// Digits after the seconds.
    fraction: usize,
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|±HH[:MM]]`, checked by its shape only
/// (arrow parses the value itself, and refuses a 31st of February).
fn shape(s: &str) -> Option<Shape> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date_time = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !date_time {
        return None;
    }
    let mut at = 19;
    let mut fraction = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
            fraction += 1;
        }
        if fraction == 0 || fraction > 9 {
            return None;
        }
    }
    let zone = &s[at..];
    let zoned = match zone.as_bytes() {
        [] => false,
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2] => h1.is_ascii_digit() && h2.is_ascii_digit(),
        [b'+' | b'-', h1, h2, m1, m2] | [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit())
        }
        _ => return None,
    };
    if zone.len() > 1 && !zoned {
        return None;
    }
    Some(Shape { zoned, fraction })
}

/// The timestamp type of a column whose non-empty values are `values`, if every
/// one is an ISO 8601 date-time and they agree on having a zone or not:
/// microseconds (nanoseconds when a value has more than six fraction digits),
/// in UTC when zoned. `None` for anything else, an empty column included.
pub fn inferred_type<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<DataType> {
    let (mut zoned, mut naive, mut fine) = (false, false, false);
    for v in values.into_iter().filter(|v| !v.is_empty()) {
        let s = shape(v)?;
        if s.zoned {
            zoned = true
        } else {
            naive = true
        }
        fine |= s.fraction > 6;
    }
    let unit = if fine { TimeUnit::Nanosecond } else { TimeUnit::Microsecond };
    match (zoned, naive) {
        (true, false) => Some(DataType::Timestamp(unit, Some("UTC".into()))),
        (false, true) => Some(DataType::Timestamp(unit, None)),
        _ => None,
    }
}

/// A timestamp type Parquet can store with its logical type: seconds become
/// microseconds (Parquet has no seconds unit, and stores them as a bare INT64
/// that readers take for a number).
pub fn storable(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Timestamp(TimeUnit::Second, tz) => Some(DataType::Timestamp(TimeUnit::Microsecond, tz.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_date_times_type_as_timestamps_with_their_zone() {
        let utc = Some(DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
        assert_eq!(
            inferred_type(["2025-01-02T14:19:00Z", "2013-01-01 06:00:00+00:00", "2020-02-02T01:02:03.5+0530"]),
            utc
        );
        assert_eq!(
            inferred_type(["2025-01-02 14:19:00", "2025-01-02T14:19:00.123456"]),
            Some(DataType::Timestamp(TimeUnit::Microsecond, None))
        );
        assert_eq!(
            inferred_type(["2025-01-02T14:19:00.123456789Z"]),
            Some(DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())))
        );
        assert_eq!(inferred_type(["2025-01-02T14:19:00Z", ""]), utc, "empty text is no value");
        for mixed in [
            &["2025-01-02T14:19:00Z", "2025-01-02 14:19:00"][..],
            &["2025-01-02T14:19:00Z", "soon"],
            &["2025-01-02"],
            &[],
        ] {
            assert_eq!(inferred_type(mixed.iter().copied()), None, "{mixed:?}");
        }
        assert_eq!(inferred_type(["2025-01-02T14:19:00+2"]), None);
        assert_eq!(inferred_type(["2025-01-02T14:19:00.Z"]), None);
    }
}
