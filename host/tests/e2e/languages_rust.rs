//! The Rust example connector (`connectors/examples/rust-orders/`), built from
//! source by its `build.sh` (cargo, wasm32-wasip2) as a user would build it,
//! installed with `headwater connector install` and run by the real host
//! against the mock orders API, the Parquet read back and compared row by row
//! with what the API holds. It holds the Rust SDK's paginator, incremental
//! cursor and Arrow builder to the contract the Python and JavaScript examples
//! meet (the scenarios of `languages.rs`), then checks what is its own: rows
//! emitted as Arrow built from typed rows, or handed to the host untouched, and
//! the host's seam under an inclusive `updated_since`.

use crate::languages::{installed, pages_incrementally_and_resumes, reports_its_errors};
use arrow::datatypes::{DataType, TimeUnit};
use headwater_mock::{MockApi, orders};
use headwater_testkit::{Env, assert_same_orders, read_parquet};

const NAME: &str = "rust-orders";

/// A pipeline running the connector over the mock API's `/orders`, with
/// `config` (lines of `[source.config]`) after `base_url`.
fn pipeline(env: &Env, api: &MockApi, config: &str) {
    env.write(
        "orders.toml",
        format!(
            "name = \"orders\"\n[source]\nconnector = \"{NAME}\"\n[source.config]\nbase_url = \"{url}\"\n{config}\n\
             [allow]\nhosts = [\"{host}\"]\n[sink]\npath = \"lake\"\n",
            url = api.url(),
            host = api.host()
        ),
    );
}

/// How many of `rows` carry a value in `column`.
fn with_column(rows: &[serde_json::Map<String, serde_json::Value>], column: &str) -> usize {
    rows.iter().filter(|r| r.get(column).is_some_and(|v| !v.is_null())).count()
}

#[test]
fn rust_orders_pages_incrementally_and_resumes() {
    pages_incrementally_and_resumes(NAME);
}

#[test]
fn rust_orders_reports_its_errors() {
    reports_its_errors(NAME);
}

/// The default output: each page's records deserialized into the connector's
/// `Order` and emitted as an Arrow batch of the declared columns only, so a
/// field the API adds from page 2 on (`coupon`) does not land; the columns have
/// their declared types (`updated_at` a UTC timestamp built from RFC 3339 text).
#[test]
fn rust_orders_emits_arrow_of_the_declared_columns() {
    let env = installed(NAME);
    let api = MockApi::start(orders(1..=100), 40);
    api.with(|s| s.drift_from_page_2 = true);
    pipeline(&env, &api, "page_size = 40");
    let run = env.headwater(&["run", "orders.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 100, "{run}");
    assert_eq!(run["streams"][0]["checkpoints"], 3, "one checkpoint a page: {run}");
    assert_eq!(api.requests()[0], "/orders?limit=40", "a first sync asks from the beginning");
    let rows = env.rows("lake/orders");
    assert_same_orders(&rows, &orders(1..=100));
    assert_eq!(with_column(&rows, "coupon"), 0, "undeclared fields are left out of the batches");

    let files = env.parquet_files("lake/orders");
    let schema = read_parquet(&files[0])[0].schema();
    let types: Vec<(&str, &DataType)> = schema.fields().iter().map(|f| (f.name().as_str(), f.data_type())).collect();
    assert_eq!(
        types[..4],
        [
            ("id", &DataType::Int64),
            ("customer", &DataType::Utf8),
            ("amount", &DataType::Float64),
            ("updated_at", &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))),
        ]
    );
}

/// `output = "records"`: the same paginator hands each page's body to the host
/// (`emit-records`), which splits and decodes the records natively and keeps
/// the undeclared `coupon` as a column of its own; the next sync asks only for
/// what changed after the watermark.
#[test]
fn rust_orders_hands_pages_to_the_host_untouched() {
    let env = installed(NAME);
    let api = MockApi::start(orders(1..=100), 40);
    api.with(|s| s.drift_from_page_2 = true);
    pipeline(&env, &api, "output = \"records\"");
    let run = env.headwater(&["run", "orders.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 100, "{run}");
    let rows = env.rows("lake/orders");
    assert_same_orders(&rows, &orders(1..=100));
    assert_eq!(with_column(&rows, "coupon"), 60, "pages 2 and 3 carry `coupon`, kept as a column");

    api.with(|s| s.orders.extend(orders(101..=130)));
    let before = api.requests().len();
    let run = env.headwater(&["run", "orders.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 30, "{run}");
    assert_eq!(api.requests()[before], "/orders?updated_since=2025-01-01T01%3A39%3A00Z", "after order 100's time");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=130));
}

/// Regression guard for what `headwater_sdk::incremental` tells connector
/// authors about the seam: with an inclusive `updated_since` (`>=`) each sync
/// reads the orders at the watermark again, and the host drops those it holds
/// (same key, cursor and content), while one edited again within the same
/// second (same key and cursor, new content) lands as a new version.
#[test]
fn rust_orders_inclusive_filter_rereads_the_watermark_and_the_host_drops_it() {
    let env = installed(NAME);
    let api = MockApi::start(orders(1..=100), 30);
    api.with(|s| s.inclusive = true);
    pipeline(&env, &api, "");
    env.headwater(&["run", "orders.toml"]).ok();

    api.with(|s| s.orders.extend(orders(101..=120)));
    let run = env.headwater(&["run", "orders.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 20, "{run}");
    assert_eq!(run["streams"][0]["deduplicated"], 1, "order 100, at the watermark, read again: {run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=120));

    // Nothing new: order 120 alone comes back, and is dropped.
    let run = env.headwater(&["run", "orders.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 0, "{run}");
    assert_eq!(run["streams"][0]["deduplicated"], 1, "{run}");

    // Order 120 edited at the same `updated_at`: a new version.
    api.with(|s| s.orders[119]["amount"] = serde_json::json!(1.5));
    let run = env.headwater(&["run", "orders.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 1, "{run}");
    assert_eq!(run["streams"][0]["deduplicated"], 0, "{run}");
    let rows = env.rows("lake/orders");
    let amounts: Vec<_> = rows.iter().filter(|r| r["id"] == 120).map(|r| r["amount"].as_f64()).collect();
    assert_eq!(amounts.len(), 2, "order 120's old and new versions: {amounts:?}");
    assert!(amounts.contains(&Some(1.5)), "{amounts:?}");
}
