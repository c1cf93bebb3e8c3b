//! The benchmarks' dataset: orders-like records computed from their id alone, so
//! the mock API, the CSV file and the row checks agree without sharing any state,
//! and a run at any size is reproducible byte for byte.

use std::io::{self, Write};

const STATUSES: [&str; 5] = ["pending", "paid", "shipped", "delivered", "cancelled"];

/// Days from 1970-01-01 to 2025-01-01, the first record's `updated_at`.
const EPOCH_DAYS_2025: i64 = 20089;

fn customer(id: i64) -> i64 {
    id * 7919 % 100_003
}

fn amount_cents(id: i64) -> i64 {
    id * 37 % 100_000
}

fn status(id: i64) -> &'static str {
    STATUSES[(id % STATUSES.len() as i64) as usize]
}

fn quantity(id: i64) -> i64 {
    1 + id % 9
}

/// The record's `updated_at`: one second after the previous record's, from
/// 2025-01-01T00:00:00Z, as `YYYY-MM-DDTHH:MM:SSZ`.
fn write_updated_at(out: &mut impl Write, id: i64) -> io::Result<()> {
    let secs = id - 1;
    let (y, m, d) = civil_from_days(EPOCH_DAYS_2025 + secs / 86_400);
    let s = secs % 86_400;
    write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// One record as a JSON object: id, customer, amount, status, updated_at.
pub fn write_json(out: &mut Vec<u8>, id: i64) {
    let cents = amount_cents(id);
    write!(
        out,
        r#"{{"id":{id},"customer":"customer-{}","amount":{}.{:02},"status":"{}","updated_at":""#,
        customer(id),
        cents / 100,
        cents % 100,
        status(id)
    )
    .and_then(|()| write_updated_at(out, id))
    .expect("writing to a Vec cannot fail");
    out.extend_from_slice(b"\"}");
}

pub const CSV_HEADER: &str = "id,customer,amount,status,quantity,updated_at\n";

/// One record as a CSV line: id, customer, amount, status, quantity, updated_at.
pub fn write_csv_row(out: &mut impl Write, id: i64) -> io::Result<()> {
    let cents = amount_cents(id);
    write!(out, "{id},customer-{},{}.{:02},{},{},", customer(id), cents / 100, cents % 100, status(id), quantity(id))?;
    write_updated_at(out, id)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(super::EPOCH_DAYS_2025), (2025, 1, 1));
        assert_eq!(super::civil_from_days(super::EPOCH_DAYS_2025 + 59), (2025, 3, 1));
        let mut v = Vec::new();
        super::write_updated_at(&mut v, 86_400 + 3661 + 1).unwrap();
        assert_eq!(String::from_utf8(v).unwrap(), "2025-01-02T01:01:01Z");
    }
}
