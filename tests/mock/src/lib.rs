//! The source side of every Headwater scenario that is not a real service: one
//! orders dataset, one mock orders API serving it on 127.0.0.1, and the calendar
//! both use. The end-to-end tests, the benchmarks and `headwater demo` all draw
//! from here, so an order has the same fields and values wherever it appears,
//! and the API behaves the same under a test as under a benchmark.
//!
//! - [`dataset`]: orders computed from their id alone, as JSON records, CSV
//!   rows, Hive-partitioned CSV exports and large CSV files;
//! - [`api`]: the axum server (pagination styles, credentials, OAuth2, injected
//!   failures, export jobs, a request log), with a pre-rendered mode for the
//!   benchmarks;
//! - [`calendar`]: the dataset's clock and the date formats the API speaks;
//! - [`vendors`]: real vendors' APIs as their docs describe them (Stripe);
//! - `hostile` (feature `hostile`): a source that is itself hostile or broken (bombs, endless
//!   bodies, trickles, redirect loops, paginators that never end).

pub mod api;
pub mod calendar;
pub mod dataset;
#[cfg(feature = "hostile")]
pub mod hostile;
pub mod vendors;
pub mod vendors_more;

pub use api::{ApiState, Auth, MockApi};
pub use dataset::{Shape, orders, orders_csv};
