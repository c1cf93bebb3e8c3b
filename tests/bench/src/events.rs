//! The "events" dataset: a second source, shaped unlike the project's own
//! orders, so that the workloads (workloads.rs) measure Headwater on data it
//! was not designed around: twelve columns of mixed types, timestamps as text
//! with UTC offsets and milliseconds, decimals with four fractional digits,
//! UUID-like strings, free text with commas, quotes and non-ASCII characters,
//! nullable columns (and a country column where `NA` is Namibia, not a null),
//! and in NDJSON a nested object holding an array, and a key most rows lack.
//!
//! Every field is computed from the event id alone (a hash of it), so a file of
//! any size is reproducible byte for byte and the nulls each column should hold
//! are known without reading a file back. Files are generated once and cached
//! under target/bench/, named after the dataset's version.

use crate::{Ctx, peers};
use anyhow::{Context, Result, ensure};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Bump when the generated data changes, so cached files are made again.
const VERSION: u32 = 1;

/// 2025-03-01T00:00:00Z in milliseconds since the epoch: event 1's neighbourhood.
const START_MS: i64 = 1_740_787_200_000;
/// UTC offsets the timestamps are written in, in minutes (0 is written `Z`).
const OFFSETS: [i64; 8] = [0, 120, -300, 330, -210, 540, 60, -480];
const EVENT_TYPES: [&str; 6] = ["page_view", "click", "add_to_cart", "checkout", "purchase", "signup"];
/// `NA` is Namibia: a reader that takes it for a null loses rows' countries.
const COUNTRIES: [&str; 12] = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "NA", "CA", "ES", "IT", "NL"];
const PLANS: [&str; 4] = ["free", "pro", "team", "enterprise"];
const TAGS: [&str; 6] = ["beta", "vip", "churn-risk", "newsletter", "b2b", "mobile-first"];
const COUPONS: [&str; 3] = ["SPRING25", "WELCOME10", "VIP-2025"];
/// Free text: empty, commas, quotes (doubled when quoted in CSV), non-ASCII.
const NOTES: [&str; 8] = [
    "",
    "ok",
    "needs review, priority high",
    "customer said \"great\", then left",
    "\"quoted\" at the start",
    "Müller & Søn, café — ✓",
    "line item 3 of 5; see #42",
    "comma,separated,values",
];

/// How the rows are laid out: flat (CSV) or with the nested `user` object and
/// the optional `coupon` key (NDJSON, and the Parquet export made from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Flat,
    Nested,
}

/// The CSV's columns, in order. NDJSON has `user` (`{id, plan, tags}`) in place
/// of `user_id`, and `coupon` in the rows that have one.
pub const CSV_COLUMNS: [&str; 12] = [
    "event_id",
    "occurred_at",
    "session_id",
    "user_id",
    "event_type",
    "country",
    "price",
    "quantity",
    "is_mobile",
    "score",
    "note",
    "referrer",
];

/// The CSV's columns declared: (name, type in a Headwater pipeline, type in
/// DuckDB), with the decimals as decimals and the timestamps as instants.
pub const CSV_SCHEMA: [(&str, &str, &str); 12] = [
    ("event_id", "int64", "BIGINT"),
    ("occurred_at", "timestamp(us, UTC)", "TIMESTAMPTZ"),
    ("session_id", "string", "VARCHAR"),
    ("user_id", "int64", "BIGINT"),
    ("event_type", "string", "VARCHAR"),
    ("country", "string", "VARCHAR"),
    ("price", "decimal(12, 4)", "DECIMAL(12, 4)"),
    ("quantity", "int64", "BIGINT"),
    ("is_mobile", "bool", "BOOLEAN"),
    ("score", "float64", "DOUBLE"),
    ("note", "string", "VARCHAR"),
    ("referrer", "string", "VARCHAR"),
];

/// SplitMix64's finaliser of `id` salted by `salt`: the dataset's only randomness.
fn hash(id: u64, salt: u64) -> u64 {
    let mut z = (id ^ salt.wrapping_mul(0xA24B_AED4_963E_E407)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<T: Copy>(values: &[T], h: u64) -> T {
    values[(h % values.len() as u64) as usize]
}

fn country(id: u64) -> Option<&'static str> {
    (!hash(id, 5).is_multiple_of(10)).then(|| pick(&COUNTRIES, hash(id, 6)))
}

fn quantity(id: u64) -> Option<u64> {
    (!hash(id, 7).is_multiple_of(7)).then(|| 1 + hash(id, 8) % 20)
}

fn referrer(id: u64) -> Option<u64> {
    (!hash(id, 9).is_multiple_of(3)).then(|| hash(id, 10) % 20)
}

fn coupon(id: u64) -> Option<&'static str> {
    id.is_multiple_of(11).then(|| pick(&COUPONS, hash(id, 11)))
}

/// Event `id`'s fields.
struct Event {
    id: u64,
    /// Its instant, in milliseconds since the epoch, and the offset it is written in.
    utc_ms: i64,
    offset_min: i64,
    /// Eight consecutive events share a session and a user.
    session: (u64, u64),
    user_id: u64,
    event_type: &'static str,
    country: Option<&'static str>,
    /// The price in units of 0.0001.
    price_e4: u64,
    quantity: Option<u64>,
    is_mobile: bool,
    score: f64,
    note: &'static str,
    referrer: Option<u64>,
    coupon: Option<&'static str>,
}

impl Event {
    fn of(id: u64) -> Event {
        let session = id / 8;
        Event {
            id,
            utc_ms: START_MS + id as i64 * 250 + (hash(id, 1) % 250) as i64,
            offset_min: pick(&OFFSETS, hash(id, 2)),
            session: (hash(session, 3), hash(session, 4)),
            user_id: 1 + hash(session, 12) % 50_000,
            event_type: pick(&EVENT_TYPES, hash(id, 13)),
            country: country(id),
            price_e4: hash(id, 14) % 100_000_000,
            quantity: quantity(id),
            is_mobile: hash(id, 15).is_multiple_of(2),
            score: (hash(id, 16) >> 11) as f64 / (1u64 << 53) as f64 * 200.0 - 100.0,
            note: pick(&NOTES, hash(id, 17)),
            referrer: referrer(id),
            coupon: coupon(id),
        }
    }

    /// `2025-03-01T02:00:00.123+02:00`: the local time at the event's offset.
    fn write_occurred_at(&self, out: &mut impl Write) -> io::Result<()> {
        let local = self.utc_ms + self.offset_min * 60_000;
        let (days, ms) = (local.div_euclid(86_400_000), local.rem_euclid(86_400_000));
        let (y, m, d) = civil_from_days(days);
        let (s, ms) = (ms / 1000, ms % 1000);
        write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}", s / 3600, s / 60 % 60, s % 60)?;
        match self.offset_min {
            0 => out.write_all(b"Z"),
            o => write!(out, "{}{:02}:{:02}", if o < 0 { '-' } else { '+' }, o.abs() / 60, o.abs() % 60),
        }
    }

    /// A version-4-like UUID.
    fn write_session(&self, out: &mut impl Write) -> io::Result<()> {
        let (a, b) = self.session;
        write!(
            out,
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    fn write_price(&self, out: &mut impl Write) -> io::Result<()> {
        write!(out, "{}.{:04}", self.price_e4 / 10_000, self.price_e4 % 10_000)
    }

    fn write_referrer(&self, out: &mut impl Write, r: u64) -> io::Result<()> {
        write!(out, "https://ref{r}.example.com/landing?utm_source=news&utm_campaign=spring")
    }

    /// One CSV line: a null is an empty cell, text with a comma or quote is quoted.
    fn write_csv(&self, out: &mut impl Write) -> io::Result<()> {
        write!(out, "{},", self.id)?;
        self.write_occurred_at(out)?;
        out.write_all(b",")?;
        self.write_session(out)?;
        write!(out, ",{},{},{},", self.user_id, self.event_type, self.country.unwrap_or(""))?;
        self.write_price(out)?;
        out.write_all(b",")?;
        if let Some(q) = self.quantity {
            write!(out, "{q}")?;
        }
        write!(out, ",{},{},", self.is_mobile, self.score)?;
        if self.note.contains([',', '"', '\n', '\r']) {
            write!(out, "\"{}\"", self.note.replace('"', "\"\""))?;
        } else {
            out.write_all(self.note.as_bytes())?;
        }
        out.write_all(b",")?;
        if let Some(r) = self.referrer {
            self.write_referrer(out, r)?;
        }
        out.write_all(b"\n")
    }

    /// One NDJSON line: nulls are `null`, `coupon` is absent from rows without one.
    fn write_ndjson(&self, out: &mut impl Write) -> io::Result<()> {
        write!(out, r#"{{"event_id":{},"occurred_at":""#, self.id)?;
        self.write_occurred_at(out)?;
        out.write_all(br#"","session_id":""#)?;
        self.write_session(out)?;
        let plan = pick(&PLANS, self.user_id);
        write!(out, r#"","user":{{"id":{},"plan":"{plan}","tags":["#, self.user_id)?;
        let (from, count) = ((self.user_id / 4 % 4) as usize, (self.user_id % 4) as usize);
        for (i, tag) in TAGS[from..from + count].iter().enumerate() {
            write!(out, "{}\"{tag}\"", if i > 0 { "," } else { "" })?;
        }
        write!(out, r#"]}},"event_type":"{}","country":"#, self.event_type)?;
        match self.country {
            Some(c) => write!(out, "\"{c}\"")?,
            None => out.write_all(b"null")?,
        }
        out.write_all(br#","price":"#)?;
        self.write_price(out)?;
        out.write_all(br#","quantity":"#)?;
        match self.quantity {
            Some(q) => write!(out, "{q}")?,
            None => out.write_all(b"null")?,
        }
        write!(out, r#","is_mobile":{},"score":{},"note":"#, self.is_mobile, self.score)?;
        serde_json::to_writer(&mut *out, self.note)?;
        out.write_all(br#","referrer":"#)?;
        match self.referrer {
            Some(r) => {
                out.write_all(b"\"")?;
                self.write_referrer(out, r)?;
                out.write_all(b"\"")?;
            }
            None => out.write_all(b"null")?,
        }
        if let Some(c) = self.coupon {
            write!(out, r#","coupon":"{c}""#)?;
        }
        out.write_all(b"}\n")
    }
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Writes events `ids` in `layout` (CSV with a header, or NDJSON) to `path`, synced to disk.
fn write_file(path: &Path, ids: std::ops::RangeInclusive<u64>, layout: Layout) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    if layout == Layout::Flat {
        writeln!(out, "{}", CSV_COLUMNS.join(","))?;
    }
    for id in ids {
        let e = Event::of(id);
        match layout {
            Layout::Flat => e.write_csv(&mut out)?,
            Layout::Nested => e.write_ndjson(&mut out)?,
        }
    }
    out.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()?;
    Ok(())
}

/// Events 1..=`rows` as one CSV file, cached.
pub fn csv_file(ctx: &Ctx, rows: u64) -> Result<PathBuf> {
    ctx.cached(&format!("events-v{VERSION}-{rows}.csv"), |p| write_file(p, 1..=rows, Layout::Flat))
}

/// Events 1..=`rows` as one NDJSON file, cached.
pub fn ndjson_file(ctx: &Ctx, rows: u64) -> Result<PathBuf> {
    ctx.cached(&format!("events-v{VERSION}-{rows}.ndjson"), |p| write_file(p, 1..=rows, Layout::Nested))
}

/// Events 1..=`files` × `rows_per_file` as `files` CSV files of `rows_per_file`
/// events each, in one cached folder; returns the files in order.
pub fn small_csv_files(ctx: &Ctx, files: u64, rows_per_file: u64) -> Result<Vec<PathBuf>> {
    let dir = ctx.cached(&format!("events-v{VERSION}-{files}x{rows_per_file}"), |dir| {
        std::fs::create_dir_all(dir)?;
        for f in 0..files {
            let first = f * rows_per_file + 1;
            write_file(&dir.join(small_file_name(f)), first..=first + rows_per_file - 1, Layout::Flat)?;
        }
        Ok(())
    })?;
    Ok((0..files).map(|f| dir.join(small_file_name(f))).collect())
}

fn small_file_name(f: u64) -> String {
    format!("part-{f:05}.csv")
}

/// Events 1..=`rows` as a Parquet export written by pyarrow with snappy, from
/// the NDJSON file (so with the nested `user`), cached. Returns the file and
/// the exporter's summary.
pub fn parquet_file(ctx: &Ctx, python: &Path, rows: u64) -> Result<PathBuf> {
    let ndjson = ndjson_file(ctx, rows)?;
    ctx.cached(&format!("events-v{VERSION}-{rows}.snappy.parquet"), |p| {
        let script = peers::dir().join("pyarrow_export.py");
        let summary = peers::script(python, &[script.as_ref(), ndjson.as_ref(), p.as_ref()])?;
        ensure!(summary["rows"] == rows, "pyarrow_export.py wrote {} rows, expected {rows}", summary["rows"]);
        eprintln!("   pyarrow wrote {}", summary);
        Ok(())
    })
    .context("exporting the events to Parquet with pyarrow")
}

/// The nulls events 1..=`rows` hold in `column` of `layout`; `None` where it
/// depends on the reader (an empty CSV cell in a text column may be a null or
/// an empty string) or the column is not the dataset's.
pub fn expected_nulls(column: &str, rows: u64, layout: Layout) -> Option<u64> {
    let count = |null: fn(u64) -> bool| (1..=rows).filter(|&id| null(id)).count() as u64;
    match (column, layout) {
        ("country", _) => Some(count(|id| country(id).is_none())),
        ("quantity", _) => Some(count(|id| quantity(id).is_none())),
        ("referrer", _) => Some(count(|id| referrer(id).is_none())),
        ("coupon", Layout::Nested) => Some(count(|id| coupon(id).is_none())),
        ("note", Layout::Flat) => None,
        ("user_id", Layout::Flat) | ("user" | "note", Layout::Nested) => Some(0),
        (c, _) if CSV_COLUMNS.contains(&c) => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(START_MS / 86_400_000), (2025, 3, 1));
        assert_eq!(civil_from_days(START_MS / 86_400_000 - 1), (2025, 2, 28));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn rows_parse_back() {
        let mut csv = Vec::new();
        let mut ndjson = Vec::new();
        for id in 1..=2000 {
            Event::of(id).write_csv(&mut csv).unwrap();
            Event::of(id).write_ndjson(&mut ndjson).unwrap();
        }
        for (id, line) in (1..).zip(String::from_utf8(ndjson).unwrap().lines()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["event_id"], id);
            assert_eq!(v.get("coupon").is_some(), id % 11 == 0);
            let t = v["occurred_at"].as_str().unwrap();
            assert!(t.len() == 24 || t.len() == 29, "{t}");
        }
        // Every CSV line has 12 cells once quoted commas are set aside.
        for line in String::from_utf8(csv).unwrap().lines() {
            let (mut cells, mut quoted) = (1, false);
            for c in line.chars() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => cells += 1,
                    _ => {}
                }
            }
            assert_eq!(cells, CSV_COLUMNS.len(), "{line}");
        }
    }

    #[test]
    fn timestamps_are_local_time_at_their_offset() {
        let text = |offset_min| {
            let mut e = Event::of(1);
            (e.utc_ms, e.offset_min) = (START_MS + 123, offset_min);
            let mut out = Vec::new();
            e.write_occurred_at(&mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(0), "2025-03-01T00:00:00.123Z");
        assert_eq!(text(120), "2025-03-01T02:00:00.123+02:00");
        assert_eq!(text(-300), "2025-02-28T19:00:00.123-05:00");
        assert_eq!(text(330), "2025-03-01T05:30:00.123+05:30");
        assert_eq!(text(-210), "2025-02-28T20:30:00.123-03:30");
    }
}
