//! The hybrid pattern: a batch backfill from CSV exports hands its watermark to
//! incremental API syncs, with no gap and no duplicate at the seam.

use headwater_tests::api::MockApi;
use headwater_tests::{Env, assert_same_orders, orders, orders_csv};

fn pipeline(api: &MockApi) -> String {
    format!(
        r#"
name = "hybrid"
[backfill]
connector = "files"
[backfill.config]
root = "./exports"
glob = "**/*.csv"
stream = "orders"
primary_key = ["id"]
cursor_field = "updated_at"
schema = [
  {{ name = "id", type = "int64", nullable = false }},
  {{ name = "customer", type = "string" }},
  {{ name = "amount", type = "float64" }},
  {{ name = "updated_at", type = "timestamp(us, UTC)" }},
]
[source]
connector = "rest"
[source.config]
base_url = "{url}"
[[source.config.streams]]
name = "orders"
path = "/orders"
records = "/data"
primary_key = ["id"]
paginator = {{ type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor" }}
incremental = {{ cursor_field = "updated_at", cursor_param = "updated_since" }}
schema = [
  {{ name = "id", type = "int64", nullable = false }},
  {{ name = "customer", type = "string" }},
  {{ name = "amount", type = "float64" }},
  {{ name = "updated_at", type = "timestamp(us, UTC)" }},
]
[allow]
hosts = ["{host}"]
files = ["./exports"]
[sink]
path = "lake"
"#,
        url = api.url(),
        host = api.host()
    )
}

#[test]
fn backfill_hands_its_watermark_to_the_incremental_phase() {
    let env = Env::new();
    env.install("files");
    env.install("rest");
    // History in exports; the API holds the history and what came after.
    env.write("exports/dt=2025-01-01/orders.csv", orders_csv(&orders(1..=1440)));
    env.write("exports/dt=2025-01-02/orders.csv", orders_csv(&orders(1441..=2000)));
    let api = MockApi::start(orders(1..=2300), 1000);
    env.write("hybrid.toml", pipeline(&api));

    let run = env.headwater(&["run", "hybrid.toml", "--json"]).ok().json();
    let phases: Vec<_> =
        run["streams"].as_array().unwrap().iter().map(|s| (s["phase"].clone(), s["rows"].clone())).collect();
    assert_eq!(phases, vec![("backfill".into(), 2000.into()), ("source".into(), 300.into())], "{run}");
    // The API was asked only for what came after the backfill's highest cursor.
    let first = &api.requests()[0];
    assert!(first.contains("updated_since=2025-01-02T09%3A19%3A00Z"), "{first}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=2300));

    let state = env.headwater(&["state", "show", "hybrid.toml", "--json"]).ok().json();
    assert_eq!(state[0]["phase"], "incremental");
    assert_eq!(state[0]["backfill_done"], true);
    assert_eq!(state[0]["watermark"], "2025-01-02T14:19:00Z");

    // Later runs are incremental only, even with new exports lying around.
    env.write("exports/dt=2025-01-03/orders.csv", orders_csv(&orders(1..=5)));
    api.with(|s| s.orders.extend(orders(2301..=2350)));
    let run = env.headwater(&["run", "hybrid.toml", "--json"]).ok().json();
    assert_eq!(run["streams"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(run["streams"][0]["phase"], "source");
    assert_eq!(run["streams"][0]["rows"], 50);
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=2350));
}
