//! The `rest` connector against the mock API: pagination, incremental reruns,
//! 429s, credentials, lineage.

use headwater_mock::{Auth, MockApi, orders};
use headwater_testkit::{Env, assert_same_orders};

fn pipeline(api: &MockApi, extra: &str) -> String {
    format!(
        r#"
name = "shop"
[source]
connector = "rest"
[source.config]
base_url = "{url}"
auth = "api"
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
  {{ name = "updated_at", type = "string" }},
]
[allow]
hosts = ["{host}"]
[auth.api]
kind = "bearer"
token = "${{env:SHOP_TOKEN}}"
hosts = ["{host}"]
[sink]
path = "lake"
{extra}
"#,
        url = api.url(),
        host = api.host()
    )
}

fn env_with_token() -> Env {
    let mut env = crate::env();
    env.var("SHOP_TOKEN", "t0ps3cret");
    env.install("rest");
    env
}

#[test]
fn paginates_lands_every_row_and_reruns_load_only_new_rows() {
    let env = env_with_token();
    let api = MockApi::start(orders(1..=2500), 1000);
    api.with(|s| s.auth = Auth::Bearer("t0ps3cret".into()));
    env.write("shop.toml", pipeline(&api, ""));

    let run = env.headwater(&["run", "shop.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 2500);
    assert_eq!(api.requests().len(), 3, "2500 rows in pages of 1000 is 3 requests: {:?}", api.requests());
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=2500));

    // The API gains rows; the rerun asks from the watermark and loads exactly those.
    api.with(|s| s.orders.extend(orders(2501..=2800)));
    let run = env.headwater(&["run", "shop.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 300);
    let last = api.requests().pop().unwrap();
    assert!(last.contains("updated_since=2025-01-02T17%3A39%3A00Z"), "rerun did not pass the watermark: {last}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=2800));

    let state = env.headwater(&["state", "show", "shop.toml", "--json"]).ok().json();
    assert_eq!(state[0]["watermark"], "2025-01-02T22:39:00Z");
    assert_eq!(state[0]["rows"], 2800);
}

#[test]
fn waits_out_429_with_retry_after_and_loses_nothing() {
    let env = env_with_token();
    let api = MockApi::start(orders(1..=1500), 500);
    api.with(|s| {
        s.throttle = 2;
        s.retry_after = "1".into();
    });
    env.write("shop.toml", pipeline(&api, ""));
    let run = env.headwater(&["run", "shop.toml", "--json"]).ok().json();
    let host = &run["hosts"][format!("http://{}", api.host())];
    assert_eq!(host["throttled_429"], 2, "{run}");
    assert_eq!(host["retries"], 2, "{run}");
    assert!(host["waited_ms"].as_u64().unwrap() >= 2000, "Retry-After: 1 twice is at least 2s of waiting: {run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=1500));
}

#[test]
fn too_many_429s_fail_the_run_naming_the_url_and_commit_nothing() {
    let env = env_with_token();
    let api = MockApi::start(orders(1..=10), 500);
    api.with(|s| {
        s.throttle = 100;
        s.retry_after = "0".into();
    });
    env.write("shop.toml", pipeline(&api, "[limits]\nmax_retries = 2"));
    env.headwater(&["run", "shop.toml"]).fails(1, &["gave up after 3 attempts", "429", "/orders"]);
    assert!(env.parquet_files("lake").is_empty());
}

/// A sink folder that cannot be written fails the checkpoint, naming the path,
/// and commits nothing; what the checkpoint recorded is completed whole by the
/// next run, once the way is clear: every row lands once.
#[test]
fn a_sink_that_cannot_be_written_fails_the_stream_and_commits_nothing() {
    let env = env_with_token();
    let api = MockApi::start(orders(1..=1200), 500);
    env.write("shop.toml", pipeline(&api, ""));
    // A file where the stream's folder must go.
    let blocked = env.write("lake/orders", "in the way");
    env.headwater(&["run", "shop.toml"]).fails(1, &["orders", "creating", "lake/orders/dt="]);
    assert!(env.parquet_files("lake").is_empty(), "nothing is visible to a reader of the lake");
    let state = env.headwater(&["state", "show", "shop.toml", "--json"]).ok().json();
    assert!(state[0]["watermark"].is_null(), "nothing was committed: {state}");
    assert_eq!(state[0]["interrupted_commit"]["lost_files"], serde_json::json!([]), "{state}");

    std::fs::remove_file(blocked).unwrap();
    let run = env.headwater(&["run", "shop.toml", "--json"]).ok().json();
    assert_eq!(run["recovered"], serde_json::json!(["orders"]), "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=1200));
}

#[test]
fn wrong_credential_fails_with_auth_and_the_secret_never_shows() {
    let env = env_with_token();
    let api = MockApi::start(orders(1..=10), 500);
    api.with(|s| s.auth = Auth::Bearer("the-right-one".into()));
    env.write("shop.toml", pipeline(&api, ""));
    let run = env.headwater(&["run", "shop.toml"]).fails(1, &["auth", "401"]);
    assert!(!run.stderr.contains("t0ps3cret") && !run.stdout.contains("t0ps3cret"));
    assert!(env.parquet_files("lake").is_empty());
}

#[test]
fn parquet_files_carry_lineage_and_hw_columns() {
    let env = env_with_token();
    let api = MockApi::start(orders(1..=5), 500);
    env.write("shop.toml", pipeline(&api, ""));
    let run = env.headwater(&["run", "shop.toml", "--json"]).ok().json();
    let files = env.parquet_files("lake/orders");
    assert_eq!(files.len(), 1);
    let path = files[0].to_string_lossy().into_owned();
    let run_id = run["run_id"].as_str().unwrap();
    assert!(path.contains("/lake/orders/dt=") && path.contains(&format!("part-{run_id}-")), "{path}");

    let file = std::fs::File::open(&files[0]).unwrap();
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    let meta = reader.metadata().file_metadata();
    let kv: std::collections::HashMap<_, _> = meta
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect();
    let sha = sha256_hex(&std::fs::read(headwater_testkit::component("rest")).unwrap());
    assert_eq!(kv["headwater.connector"], "rest");
    assert_eq!(kv["headwater.connector_sha256"], sha);
    assert_eq!(kv["headwater.run_id"], run_id);
    assert_eq!(kv["headwater.config_sha256"].len(), 64);
    let compression = reader.metadata().row_group(0).column(0).compression();
    assert!(matches!(compression, parquet::basic::Compression::ZSTD(_)), "{compression:?}");

    let rows = env.rows("lake/orders");
    assert!(rows.iter().all(|r| r["_hw_run_id"] == run_id && r["_hw_extracted_at"].is_string()));
}

fn sha256_hex(bytes: &[u8]) -> String {
    // The test computes it independently of the host, with the system's sha256sum.
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// `check` asks the API for a first page: it passes when the API answers,
/// and fails naming the URL when the API is down or refuses the credential.
#[test]
fn check_reaches_the_api_and_names_what_is_wrong_when_it_cannot() {
    let env = env_with_token();
    let api = MockApi::start(orders(1..=10), 5);
    api.with(|s| s.auth = Auth::Bearer("t0ps3cret".into()));
    env.write("shop.toml", pipeline(&api, ""));
    let ok = env.headwater(&["check", "shop.toml"]).ok();
    assert_eq!(ok.stdout.trim(), "[source] connector `rest`: ok");
    assert_eq!(api.requests().len(), 1, "check fetches one page: {:?}", api.requests());
    assert!(!env.exists("lake"), "check wrote to the sink");

    api.with(|s| s.auth = Auth::Bearer("another".into()));
    env.headwater(&["check", "shop.toml"]).fails(1, &["connector `rest`", "check", "401", &api.host()]);

    // Nothing listens on a port just freed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.write("shop.toml", pipeline(&api, "").replace(&api.port.to_string(), &closed.to_string()));
    env.headwater(&["check", "shop.toml"]).fails(1, &["connector `rest`", "check", &format!("127.0.0.1:{closed}")]);
}
