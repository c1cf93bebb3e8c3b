//! The dataset's clock and the date formats the mock API speaks, on chrono, so
//! that no hand-written calendar arithmetic is needed anywhere in the tests: an
//! order's `updated_at` is a whole minute after 2025-01-01T00:00:00Z, written
//! as RFC 3339 with a `Z`; Hive partitions name its day; `Retry-After` can be
//! an HTTP date.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use std::io::{self, Write};
use std::time::SystemTime;

/// 2025-01-01T00:00:00Z, the first order's `updated_at`.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().expect("2025-01-01 is a valid date")
}

/// `minutes` whole minutes after [`start`].
pub fn minutes_after_start(minutes: i64) -> DateTime<Utc> {
    start() + Duration::minutes(minutes)
}

/// `2025-01-01T00:05:00Z`: RFC 3339, whole seconds, UTC as `Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// [`rfc3339`] straight into a writer, without an intermediate string: the
/// benchmarks write millions of them.
pub fn write_rfc3339(out: &mut impl Write, t: DateTime<Utc>) -> io::Result<()> {
    write!(out, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second())
}

/// `2025-01-01`: the day of a Hive `dt=` partition.
pub fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// An RFC 7231 IMF-fixdate (`Wed, 01 Jan 2025 00:00:00 GMT`), as sent in a
/// `Retry-After` header.
pub fn http_date(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = minutes_after_start(24 * 60 + 61);
        assert_eq!(rfc3339(t), "2025-01-02T01:01:00Z");
        let mut written = Vec::new();
        write_rfc3339(&mut written, t).unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), rfc3339(t));
        assert_eq!(day(minutes_after_start(59 * 24 * 60)), "2025-03-01");
        assert_eq!(
            http_date(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }
}
