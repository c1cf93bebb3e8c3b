//! The one orders dataset. Every field of an order is computed from its id
//! alone, so the mock API, CSV exports written to disk and the checks on what
//! landed agree without sharing any state, and a dataset of any size is
//! reproducible byte for byte.
//!
//! Order `id` (from 1) has customer `c{id % 37}`, an amount of
//! `id * 37 % 10000` cents, a status, a quantity, and `updated_at` one minute
//! after the previous order's, from 2025-01-01T00:00:00Z. A [`Shape`] chooses
//! which of those fields a record carries: the end-to-end tests declare and
//! compare four, the demo and the benchmarks carry all six.
//!
//! Two ways to write them: from JSON records ([`orders_csv`], for records a test
//! may have edited), and straight from ids without building a JSON value
//! ([`write_json`], [`write_csv_row`]), for the benchmarks' millions of rows. A
//! unit test holds the two to the same text.

use crate::calendar;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::io::{self, BufWriter, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

const STATUSES: [&str; 5] = ["pending", "paid", "shipped", "delivered", "cancelled"];

/// Which fields an order record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `id, customer, amount, updated_at`: what the end-to-end tests declare and compare.
    Basic,
    /// `id, customer, amount, status, quantity, updated_at`: the demo's and the benchmarks' rows.
    Full,
}

impl Shape {
    /// The fields, in column order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Shape::Basic => &["id", "customer", "amount", "updated_at"],
            Shape::Full => &["id", "customer", "amount", "status", "quantity", "updated_at"],
        }
    }

    /// The CSV header line, with its newline.
    pub fn csv_header(self) -> String {
        format!("{}\n", self.columns().join(","))
    }
}

/// The customer number of order `id`: its customer is `c{customer(id)}`.
pub fn customer(id: i64) -> i64 {
    id % 37
}

pub fn amount_cents(id: i64) -> i64 {
    id * 37 % 10_000
}

pub fn status(id: i64) -> &'static str {
    STATUSES[id.rem_euclid(STATUSES.len() as i64) as usize]
}

pub fn quantity(id: i64) -> i64 {
    1 + id % 9
}

pub fn updated_at(id: i64) -> DateTime<Utc> {
    calendar::minutes_after_start(id - 1)
}

/// Order `id` as a JSON record of `shape`.
pub fn record(id: i64, shape: Shape) -> Value {
    let mut r = json!({
        "id": id,
        "customer": format!("c{}", customer(id)),
        "amount": amount_cents(id) as f64 / 100.0,
        "updated_at": calendar::rfc3339(updated_at(id)),
    });
    if shape == Shape::Full {
        r["status"] = json!(status(id));
        r["quantity"] = json!(quantity(id));
    }
    r
}

/// Orders `ids` as [`Shape::Basic`] records: the end-to-end tests' source data.
pub fn orders(ids: RangeInclusive<i64>) -> Vec<Value> {
    ids.map(|id| record(id, Shape::Basic)).collect()
}

/// [`Shape::Basic`] records as CSV text with a header. The records may be
/// edited ones (a new amount, a later `updated_at`): each cell is the record's
/// own value.
pub fn orders_csv(rows: &[Value]) -> String {
    records_csv(rows, Shape::Basic)
}

/// Records as CSV text with `shape`'s header: strings as they are, integers as
/// digits, decimals with two places (amounts are cents), null as an empty cell.
pub fn records_csv(rows: &[Value], shape: Shape) -> String {
    let mut csv = shape.csv_header();
    for r in rows {
        let cells: Vec<String> = shape
            .columns()
            .iter()
            .map(|c| match &r[*c] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or_default()),
                other => other.to_string(),
            })
            .collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv
}

/// Order `id` as a JSON object of `shape`, appended to `out` without building
/// a JSON value.
pub fn write_json(out: &mut Vec<u8>, id: i64, shape: Shape) {
    let cents = amount_cents(id);
    let write = |out: &mut Vec<u8>| -> io::Result<()> {
        write!(out, r#"{{"id":{id},"customer":"c{}","amount":{}.{:02}"#, customer(id), cents / 100, cents % 100)?;
        if shape == Shape::Full {
            write!(out, r#","status":"{}","quantity":{}"#, status(id), quantity(id))?;
        }
        out.extend_from_slice(br#","updated_at":""#);
        calendar::write_rfc3339(out, updated_at(id))?;
        out.extend_from_slice(b"\"}");
        Ok(())
    };
    write(out).expect("writing to a Vec cannot fail");
}

/// Order `id` as one CSV line of `shape`, the same text [`records_csv`] writes.
pub fn write_csv_row(out: &mut impl Write, id: i64, shape: Shape) -> io::Result<()> {
    let cents = amount_cents(id);
    write!(out, "{id},c{},{}.{:02},", customer(id), cents / 100, cents % 100)?;
    if shape == Shape::Full {
        write!(out, "{},{},", status(id), quantity(id))?;
    }
    calendar::write_rfc3339(out, updated_at(id))?;
    out.write_all(b"\n")
}

/// Writes orders `ids` as one CSV file with a header, synced to disk.
pub fn write_csv_file(path: &Path, ids: RangeInclusive<i64>, shape: Shape) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all(shape.csv_header().as_bytes())?;
    for id in ids {
        write_csv_row(&mut out, id, shape)?;
    }
    out.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()
}

/// Writes orders `ids` as CSV exports in Hive-style day folders, one file per
/// day of `updated_at`: `<root>/orders/dt=2025-01-01/orders.csv`. Returns the
/// files written, in order.
pub fn write_exports(root: &Path, ids: RangeInclusive<i64>, shape: Shape) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut current: Option<(String, BufWriter<std::fs::File>)> = None;
    for id in ids {
        let day = calendar::day(updated_at(id));
        if current.as_ref().is_none_or(|(d, _)| *d != day) {
            if let Some((_, w)) = current.take() {
                w.into_inner().map_err(io::IntoInnerError::into_error)?;
            }
            let dir = root.join("orders").join(format!("dt={day}"));
            std::fs::create_dir_all(&dir)?;
            let path = dir.join("orders.csv");
            let mut w = BufWriter::new(std::fs::File::create(&path)?);
            w.write_all(shape.csv_header().as_bytes())?;
            files.push(path);
            current = Some((day, w));
        }
        let (_, w) = current.as_mut().expect("a file is open");
        write_csv_row(w, id, shape)?;
    }
    if let Some((_, w)) = current {
        w.into_inner().map_err(io::IntoInnerError::into_error)?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_the_fast_writers_agree() {
        for shape in [Shape::Basic, Shape::Full] {
            let records: Vec<Value> = (1..=3000).map(|id| record(id, shape)).collect();
            let mut fast = shape.csv_header().into_bytes();
            let mut json = Vec::new();
            for id in 1..=3000 {
                write_csv_row(&mut fast, id, shape).unwrap();
                json.clear();
                write_json(&mut json, id, shape);
                let parsed: Value = serde_json::from_slice(&json).unwrap();
                assert_eq!(parsed, records[id as usize - 1], "order {id}");
            }
            assert_eq!(String::from_utf8(fast).unwrap(), records_csv(&records, shape));
        }
    }

    #[test]
    fn values_the_tests_rely_on() {
        assert_eq!(
            orders(1..=1)[0],
            json!({"id": 1, "customer": "c1", "amount": 0.37, "updated_at": "2025-01-01T00:00:00Z"})
        );
        // One order a minute: order 2500 is at 1 day, 17 h 39 min.
        assert_eq!(record(2500, Shape::Basic)["updated_at"], "2025-01-02T17:39:00Z");
        assert_eq!(
            orders_csv(&orders(100..=100)),
            "id,customer,amount,updated_at\n100,c26,37.00,2025-01-01T01:39:00Z\n"
        );
    }

    #[test]
    fn exports_are_split_by_day() {
        let dir = std::env::temp_dir().join(format!("headwater-mock-exports-{}", std::process::id()));
        let files = write_exports(&dir, 1..=3000, Shape::Full).unwrap();
        let names: Vec<String> = files.iter().map(|f| f.strip_prefix(&dir).unwrap().display().to_string()).collect();
        assert_eq!(
            names,
            ["orders/dt=2025-01-01/orders.csv", "orders/dt=2025-01-02/orders.csv", "orders/dt=2025-01-03/orders.csv"]
        );
        let first = std::fs::read_to_string(&files[0]).unwrap();
        assert_eq!(first.lines().count(), 1 + 1440);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
