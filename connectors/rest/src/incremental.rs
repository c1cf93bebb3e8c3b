//! Incremental sync: where the next sync starts (the watermark, less a lookback
//! window) and which re-read rows were landed already. The keys of rows inside
//! the window are kept in the stream's state, which the host commits together
//! with the rows, so a re-read row is recognised however the run before ended.

use headwater_sdk::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// Parses an ISO 8601 duration of days, hours, minutes and seconds (`P1D`, `PT10M`, `P1DT2H`) into seconds.
pub fn parse_duration(text: &str) -> std::result::Result<i64, String> {
    let bad = || format!("lookback `{text}` is not an ISO 8601 duration such as PT10M, PT1H or P1D");
    let rest = text.strip_prefix('P').ok_or_else(bad)?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = 0i64;
    let mut take = |part: &str, units: &[(char, i64)]| -> std::result::Result<(), String> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
            } else {
                let scale = units.iter().find(|(u, _)| *u == c).ok_or_else(bad)?.1;
                total += number.parse::<i64>().map_err(|_| bad())? * scale;
                number.clear();
            }
        }
        if number.is_empty() { Ok(()) } else { Err(bad()) }
    };
    take(days, &[('D', 86_400), ('W', 7 * 86_400)])?;
    take(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    if total == 0 && !text.contains('0') {
        return Err(bad());
    }
    Ok(total)
}

/// Seconds since the Unix epoch of an RFC 3339 UTC time (`2025-01-02T03:04:05Z`, optional
/// fraction, `Z` or `±hh:mm`), and back. Hand-written because these few lines are all the
/// calendar arithmetic the connector needs.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let r = rest.get(1..)?;
            sign * (r.get(0..2)?.parse::<i64>().ok()? * 3600 + r.get(3..5)?.parse::<i64>().ok()? * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

pub fn format_rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day counted from 1970-01-01 (the days-from-civil algorithm, inverted).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// A cursor value as sortable: numbers by value, times by instant, text as text.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum CursorValue {
    Number(f64),
    Time(i64),
    Text(String),
}

impl CursorValue {
    pub fn of(v: &Value) -> Option<CursorValue> {
        match v {
            Value::Number(n) => n.as_f64().map(CursorValue::Number),
            Value::String(s) => Some(parse_rfc3339(s).map_or_else(|| CursorValue::Text(s.clone()), CursorValue::Time)),
            _ => None,
        }
    }
}

/// Where a sync starts: the watermark less the lookback window.
pub fn since(watermark: &str, lookback: Option<i64>) -> Result<String> {
    match lookback {
        None | Some(0) => Ok(watermark.to_string()),
        Some(secs) => {
            if let Some(t) = parse_rfc3339(watermark) {
                Ok(format_rfc3339(t - secs))
            } else if let Ok(n) = watermark.parse::<i64>() {
                Ok((n - secs).to_string())
            } else {
                Err(Error::Config(format!("lookback needs a time or integer watermark, and `{watermark}` is neither")))
            }
        }
    }
}

/// Rows already landed inside the lookback window, by key and cursor. A re-read
/// row with the same key and cursor is a duplicate; with a newer cursor it is a
/// new version and lands.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Seen {
    #[serde(default)]
    pub rows: BTreeSet<String>,
}

impl Seen {
    pub fn key(record: &Value, primary_key: &[String], cursor: &Value) -> String {
        let mut k = String::new();
        for f in primary_key {
            k.push_str(&crate::config::field(record, f).map(Value::to_string).unwrap_or_default());
            k.push('\u{1f}');
        }
        k.push_str(&cursor.to_string());
        k
    }

    /// Keeps only the entries whose cursor is within `window` seconds of `max`.
    pub fn trim(&mut self, max: Option<i64>, window: i64) {
        if let Some(max) = max {
            self.rows.retain(|k| {
                let cursor = k.rsplit('\u{1f}').next().unwrap_or_default();
                let value = serde_json::from_str::<Value>(cursor).ok();
                match value.as_ref().and_then(CursorValue::of) {
                    Some(CursorValue::Time(t)) => t >= max - window,
                    Some(CursorValue::Number(n)) => n >= (max - window) as f64,
                    _ => false,
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT10M"), Ok(600));
        assert_eq!(parse_duration("P1DT2H"), Ok(93_600));
        assert_eq!(parse_duration("PT0S"), Ok(0));
        assert!(parse_duration("10m").is_err());
        assert!(parse_duration("PT10X").is_err());
    }

    #[test]
    fn times_round_trip() {
        let t = parse_rfc3339("2025-03-01T00:00:00Z").unwrap();
        assert_eq!(format_rfc3339(t - 1), "2025-02-28T23:59:59Z");
        assert_eq!(parse_rfc3339("2025-03-01T01:00:00+01:00"), Some(t));
        assert_eq!(parse_rfc3339("2025-03-01T00:00:00.123Z"), Some(t));
        assert_eq!(since("2025-03-01T00:10:00Z", Some(600)).unwrap(), "2025-03-01T00:00:00Z");
    }
}
