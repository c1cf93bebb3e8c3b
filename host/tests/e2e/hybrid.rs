//! The hybrid pattern: a batch backfill from CSV exports hands its watermark to
//! incremental API syncs, with no gap and no duplicate at the seam.

use headwater_mock::{MockApi, orders, orders_csv};
use headwater_testkit::assert_same_orders;

/// The orders' columns, declared alike in both phases so that their cursors compare.
const COLUMNS: &str = r#"schema = [
  { name = "id", type = "int64", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "float64" },
  { name = "updated_at", type = "timestamp(us, UTC)" },
]"#;

pub(crate) fn pipeline(api: &MockApi) -> String {
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
{COLUMNS}
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
{COLUMNS}
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
    let env = crate::env_with("files");
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
    assert_eq!(state[0]["phase"], "source", "the next phase, named as the run summary names it");
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

/// Most APIs filter `updated_at >= since`: the rows at the handed-off watermark
/// come again from the API and must not land twice, while a row updated after
/// the export lands as a new version.
#[test]
fn the_seam_of_an_inclusive_api_lands_each_row_once() {
    let env = crate::env_with("files");
    env.install("rest");
    env.write("exports/dt=2025-01-01/orders.csv", orders_csv(&orders(1..=500)));
    let mut source = orders(1..=600);
    // Order 7 was updated after the export was taken.
    let mut updated = source[6].clone();
    updated["amount"] = serde_json::json!(99.5);
    updated["updated_at"] = serde_json::json!("2025-01-01T10:30:00Z");
    source.push(updated);
    let api = MockApi::start(source, 1000);
    api.with(|s| s.inclusive = true);
    env.write("hybrid.toml", pipeline(&api));

    let run = env.headwater(&["run", "hybrid.toml", "--json"]).ok().json();
    let source_phase = &run["streams"][1];
    assert_eq!(source_phase["phase"], "source");
    assert_eq!(source_phase["deduplicated"], 1, "order 500 sits at the watermark and came again: {run}");
    assert_eq!(source_phase["rows"], 101, "orders 501..600 and the new version of order 7: {run}");
    let rows = env.rows("lake/orders");
    assert_eq!(rows.len(), 601);
    let ids: std::collections::BTreeSet<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 600);
    assert_eq!(rows.iter().filter(|r| r["id"] == 500).count(), 1, "the seam row landed once");
    assert_eq!(rows.iter().filter(|r| r["id"] == 7).count(), 2, "order 7: the exported and the updated version");
}

/// A backfill by the API's bulk export job (its files on an http(s) root), then
/// incremental syncs; `extra` is added at the end.
fn export_pipeline(api: &MockApi, extra: &str) -> String {
    format!(
        r#"
name = "export"
[backfill]
connector = "rest"
[backfill.config]
base_url = "{url}"
[[backfill.config.streams]]
name = "orders"
path = "/exports"
primary_key = ["id"]
incremental = {{ cursor_field = "updated_at", cursor_param = "updated_since" }}
export = {{ start_path = "/exports", id_path = "/id", status_path = "/exports/{{id}}", state_path = "/state", done = "JobComplete", failed = ["Failed"], files_path = "/files", files_root = "{url}/files/", poll_interval_s = 0 }}
{COLUMNS}
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
{COLUMNS}
[allow]
hosts = ["{host}"]
files = ["{url}/files/"]
[sink]
path = "lake"
{extra}
"#,
        url = api.url(),
        host = api.host()
    )
}

/// Review D16: a file of an http(s) root was read whole into memory, within
/// `max_response_mb`, so a larger export failed. It streams to the sink's disk.
#[test]
fn an_export_file_larger_than_max_response_mb_is_downloaded_to_disk() {
    let env = crate::env_with("rest");
    let api = MockApi::start(orders(1..=60_000), 1000);
    env.write("export.toml", export_pipeline(&api, "[limits]\nmax_response_mb = 1"));
    let run = env.headwater(&["run", "export.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 60_000, "{run}");
    assert!(run["hosts"].as_object().unwrap().values().any(|h| h["bytes"].as_u64().unwrap() > 2 << 20), "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=60_000));
    assert!(
        !env.exists("lake/_staging/export/_remote")
            || std::fs::read_dir(env.path("lake/_staging/export/_remote")).unwrap().next().is_none()
    );
}

/// A backfill that is a bulk export job of the API itself: started with a POST,
/// polled until done, its result files loaded through the batch path; then the
/// incremental phase continues from the export's watermark.
#[test]
fn a_bulk_export_job_backfills_then_the_api_syncs_incrementally() {
    let env = crate::env_with("rest");
    let api = MockApi::start(orders(1..=800), 1000);
    api.with(|s| s.export_polls = 2);
    env.write("export.toml", export_pipeline(&api, ""));
    // Orders 801..900 reach the API after the export was taken.
    let run = env.headwater(&["run", "export.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["phase"], "backfill");
    assert_eq!(run["streams"][0]["rows"], 800, "{run}");
    assert_eq!(run["streams"][0]["files_opened"], 2);
    let polls = api.requests().iter().filter(|r| r.starts_with("/exports/job-1")).count();
    assert_eq!(polls, 3, "two polls in progress, then done");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=800));

    api.with(|s| s.orders.extend(orders(801..=900)));
    let run = env.headwater(&["run", "export.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["phase"], "source");
    assert_eq!(run["streams"][0]["rows"], 100);
    assert_eq!(api.with(|s| s.exports_started), 1, "the export runs once");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=900));
}

/// `--backfill` runs a finished backfill again (a corrected export): every export
/// file loads again, landing beside what is there; the watermark never moves back.
/// The export sits in a partition days before the API's watermark: pruning by the
/// watermark's day must not skip it (review D4).
#[test]
fn backfill_flag_reloads_the_exports_deliberately() {
    let env = crate::env_with("files");
    env.install("rest");
    env.write("exports/dt=2024-12-30/orders.csv", orders_csv(&orders(1..=100)));
    let api = MockApi::start(orders(1..=150), 1000);
    env.write("hybrid.toml", pipeline(&api));
    env.headwater(&["run", "hybrid.toml"]).ok();
    assert_eq!(env.rows("lake/orders").len(), 150);

    let run = env.headwater(&["run", "hybrid.toml", "--backfill", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["phase"], "backfill");
    assert_eq!(run["streams"][0]["rows"], 100, "every export row loads again: {run}");
    assert_eq!(run["streams"][0]["watermark"], "2025-01-01T02:29:00Z", "the watermark stays at the API's");
    assert_eq!(run["streams"][1]["phase"], "source");
    assert_eq!(run["streams"][1]["rows"], 0);
    assert_eq!(env.rows("lake/orders").len(), 250);
    let state = env.headwater(&["state", "show", "hybrid.toml", "--json"]).ok().json();
    assert_eq!(state[0]["phase"], "source", "the next phase, named as the run summary names it");
}

/// Review D3: a `--full-refresh` while the export folder is empty (unmounted,
/// mis-globbed) loaded nothing and swapped an empty stream in for the old one,
/// reset the watermark and marked the backfill done. It must change nothing.
#[test]
fn a_full_refresh_that_loads_nothing_changes_nothing() {
    let env = crate::env_with("files");
    env.install("rest");
    env.write("exports/dt=2025-01-01/orders.csv", orders_csv(&orders(1..=100)));
    let api = MockApi::start(orders(1..=150), 1000);
    env.write("hybrid.toml", pipeline(&api));
    env.headwater(&["run", "hybrid.toml"]).ok();
    let before = env.headwater(&["state", "show", "hybrid.toml", "--json"]).ok().json();
    let files_before = env.parquet_files("lake/orders");
    assert!(!files_before.is_empty());

    std::fs::rename(env.path("exports"), env.path("exports.away")).unwrap();
    std::fs::create_dir(env.path("exports")).unwrap();
    let requests = api.requests().len();
    let run = env.headwater(&["run", "hybrid.toml", "--full-refresh", "--json"]).fails(1, &["loaded no rows"]).json();
    assert_eq!(run["streams"].as_array().unwrap().len(), 1, "the API phase does not run after it: {run}");
    assert_eq!(api.requests().len(), requests, "nothing was asked of the API");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=150));
    assert_eq!(env.parquet_files("lake/orders"), files_before);
    assert!(!env.exists("lake/orders/_SNAPSHOT"));
    let after = env.headwater(&["state", "show", "hybrid.toml", "--json"]).ok().json();
    assert_eq!(after, before, "watermark, backfill_done and counts are as they were");
    assert_eq!(after[0]["backfill_done"], true);
}

/// Real-world issue: without a declared schema, the CSV backfill inferred its
/// cursor as a timestamp and the API's JSON as text, and the hand-off failed
/// ("column `updated_at` changed type"); pandas' `2013-01-01 06:00:00+00:00`
/// landed as a bare INT64. The same values now infer the same type in both
/// formats, a UTC timestamp with its logical type, and the hand-off just works.
#[test]
fn the_hybrid_pattern_works_with_no_schema_declared() {
    let env = crate::env_with("files");
    env.install("rest");
    // The exports as pandas writes them: a space, and an offset.
    let pandas = |csv: String| csv.replace('T', " ").replace("Z\n", "+00:00\n");
    env.write("exports/dt=2025-01-01/orders.csv", pandas(orders_csv(&orders(1..=1440))));
    let api = MockApi::start(orders(1..=1500), 1000);
    env.write("hybrid.toml", pipeline(&api).replace(COLUMNS, ""));
    let run = env.headwater(&["run", "hybrid.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 1440, "{run}");
    assert_eq!(run["streams"][1]["rows"], 60, "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=1500));
    for file in env.parquet_files("lake/orders") {
        let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
        use parquet::file::reader::FileReader;
        let schema = reader.metadata().file_metadata().schema_descr();
        let column = schema.columns().iter().find(|c| c.name() == "updated_at").expect("updated_at");
        let logical = format!("{:?}", column.logical_type_ref());
        assert!(
            logical.contains("Timestamp") && logical.contains("is_adjusted_to_u_t_c: true"),
            "{}: {logical}",
            file.display()
        );
    }
}
