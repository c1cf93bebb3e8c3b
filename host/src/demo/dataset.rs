//! The demo's orders dataset, and its history written as CSV exports in
//! Hive-style date folders (`orders/dt=2025-01-03/orders.csv`).

use crate::{Error, Result};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: i64,
    pub customer: String,
    pub amount: f64,
    pub status: String,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

pub struct Dataset {
    pub orders: Vec<Order>,
}

const STATUSES: [&str; 4] = ["placed", "paid", "shipped", "delivered"];

impl Dataset {
    /// `rows` orders, one a minute from 2025-01-01, deterministic.
    pub fn new(rows: usize) -> Self {
        let mut d = Dataset { orders: Vec::with_capacity(rows) };
        d.grow(rows);
        d
    }

    /// Appends `rows` newer orders.
    pub fn grow(&mut self, rows: usize) {
        let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().expect("a valid date");
        for _ in 0..rows {
            let i = self.orders.len() as i64;
            let id = i + 1;
            self.orders.push(Order {
                id,
                customer: format!("customer-{:04}", (id * 7919) % 1000),
                amount: ((id * 3571) % 100_000) as f64 / 100.0,
                status: STATUSES[(id % 4) as usize].to_string(),
                updated_at: start + Duration::minutes(i),
            });
        }
    }
}

/// Writes every order as CSV, one file per day of `updated_at`.
pub fn write_exports(data: &Dataset, root: &Path) -> Result<()> {
    let mut days: BTreeMap<String, Vec<&Order>> = BTreeMap::new();
    for o in &data.orders {
        days.entry(o.updated_at.format("%Y-%m-%d").to_string()).or_default().push(o);
    }
    for (day, orders) in days {
        let dir = root.join("orders").join(format!("dt={day}"));
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let path = dir.join("orders.csv");
        let file = std::fs::File::create(&path).map_err(Error::io(format!("creating {}", path.display())))?;
        let mut w = std::io::BufWriter::new(file);
        let io = Error::io(format!("writing {}", path.display()));
        let write = || -> std::io::Result<()> {
            writeln!(w, "id,customer,amount,status,updated_at")?;
            for o in orders {
                writeln!(
                    w,
                    "{},{},{:.2},{},{}",
                    o.id,
                    o.customer,
                    o.amount,
                    o.status,
                    o.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )?;
            }
            w.flush()
        };
        write().map_err(io)?;
    }
    Ok(())
}
