//! `headwater connector inspect NAME --pipeline FILE`: the connector as that
//! pipeline would run it: its streams, from its `discover` with the
//! pipeline's config, and what the pipeline grants it (hosts, file roots,
//! credentials by name and kind, never their values, and limits).

use serde_json::json;

/// A pipeline with a backfill (`files`) and a source (`rest`), a credential
/// read from the environment, and limits of its own.
const PIPELINE: &str = r#"
name = "shop"
[backfill]
connector = "files"
config = { root = "./exports", glob = "*.csv", stream = "orders", primary_key = ["id"], cursor_field = "updated_at" }
[source]
connector = "rest"
[source.config]
base_url = "https://api.example.com"
auth = "api"
[[source.config.streams]]
name = "orders"
path = "/v1/orders"
records = "/data"
primary_key = ["id"]
schema = [{ name = "id", type = "int64", nullable = false }, { name = "updated_at", type = "timestamp" }]
[source.config.streams.incremental]
cursor_field = "updated_at"
cursor_param = "updated_since"
[allow]
hosts = ["api.example.com", "*.example.org:8443"]
files = ["./exports"]
[auth.api]
kind = "bearer"
token = "${env:SHOP_TOKEN}"
hosts = ["api.example.com"]
[auth.spare]
kind = "header"
header = "x-api-key"
value = "literal-key-value"
[limits]
requests_per_second = 4
burst = 2
memory_mb = 256
[limits.streams.orders]
requests_per_second = 0.5
[sink]
path = "lake"
"#;

const TOKEN: &str = "tok-e2e-never-shown";

#[test]
fn inspect_with_a_pipeline_shows_the_streams_and_the_grants_never_a_secret() {
    let mut env = crate::env();
    env.var("SHOP_TOKEN", TOKEN);
    env.write("exports/.keep", "");
    env.write("shop.toml", PIPELINE);

    let out = env.headwater(&["connector", "inspect", "rest", "--pipeline", "shop.toml", "--json"]).ok();
    let inspected = out.json();
    assert_eq!(inspected["name"], "rest", "the spec as before: {inspected}");
    assert!(inspected["config_schema"]["properties"]["base_url"].is_object(), "{inspected}");
    // Only the phase that runs `rest`.
    assert_eq!(
        inspected["streams"],
        json!([{
            "phase": "source",
            "stream": "orders",
            "fields": [
                {"name": "id", "type": "int64", "nullable": false},
                {"name": "updated_at", "type": "timestamp", "nullable": true},
            ],
            "primary_key": ["id"],
            "cursor_field": "updated_at",
        }]),
        "{inspected}"
    );
    let pipeline = &inspected["pipeline"];
    assert_eq!(pipeline["name"], "shop");
    assert_eq!(pipeline["phases"], json!(["source"]));
    let grants = &pipeline["grants"];
    assert_eq!(grants["hosts"], json!(["api.example.com", "*.example.org:8443"]), "{grants}");
    let root = env.path("exports").canonicalize().unwrap();
    assert_eq!(
        grants["files"],
        json!([{"root": "./exports", "kind": "local", "location": root.display().to_string()}]),
        "{grants}"
    );
    assert_eq!(
        grants["auth"],
        json!([
            {"name": "api", "kind": "bearer", "hosts": ["api.example.com"]},
            {"name": "spare", "kind": "header", "hosts": []},
        ]),
        "{grants}"
    );
    let limits = &grants["limits"];
    assert_eq!(limits["rate"], json!({"requests_per_second": 4.0, "burst": 2}), "{limits}");
    assert_eq!(limits["streams"], json!({"orders": {"requests_per_second": 0.5, "burst": 1}}), "{limits}");
    assert_eq!(limits["memory_mb"], 256, "{limits}");
    assert!(limits["call_timeout_s"].as_u64().is_some_and(|s| s > 0), "the defaults too: {limits}");

    // The backfill's connector, the same way; and the text form.
    let files = env.headwater(&["connector", "inspect", "files", "--pipeline", "shop.toml", "--json"]).ok().json();
    assert_eq!(files["pipeline"]["phases"], json!(["backfill"]), "{files}");
    assert_eq!(files["streams"][0]["stream"], "orders", "{files}");
    assert_eq!(files["streams"][0]["phase"], "backfill", "{files}");
    let text = env.headwater(&["connector", "inspect", "rest", "--pipeline", "shop.toml"]).ok();
    for needle in [
        "pipeline:    shop",
        "runs it in [source]",
        "orders",
        "id:int64, updated_at:timestamp",
        "hosts:   api.example.com, *.example.org:8443",
        "./exports (local: ",
        "api (bearer, sent to api.example.com)",
        "spare (header, sent to every allowed host)",
        "per host 4 requests/s (burst 2); stream orders 0.5 requests/s (burst 1)",
        "memory_mb 256",
        "config schema:",
    ] {
        assert!(text.stdout.contains(needle), "the text says `{needle}`:\n{}", text.stdout);
    }

    // Credentials are shown by name and kind: their values appear nowhere.
    for run in [&out, &text] {
        for secret in [TOKEN, "literal-key-value"] {
            assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{secret} was shown");
        }
    }
}

#[test]
fn inspect_without_a_pipeline_says_why_there_are_no_streams() {
    let env = crate::env();
    let inspected = env.headwater(&["connector", "inspect", "rest", "--json"]).ok().json();
    assert_eq!(inspected["streams"], serde_json::Value::Null, "{inspected}");
    assert_eq!(inspected["pipeline"], serde_json::Value::Null, "{inspected}");
    assert!(inspected["streams_note"].as_str().is_some_and(|n| n.contains("--pipeline")), "{inspected}");
    let text = env.headwater(&["connector", "inspect", "rest"]).ok();
    assert!(text.stdout.contains("streams:     not shown") && text.stdout.contains("--pipeline"), "{}", text.stdout);
}

/// A pipeline that does not run the connector is refused, saying what it runs;
/// one whose config the connector's schema refuses fails as `discover` would.
#[test]
fn inspect_with_a_pipeline_that_does_not_run_the_connector_is_refused() {
    let mut env = crate::env();
    env.var("SHOP_TOKEN", TOKEN);
    env.write("exports/.keep", "");
    env.write("shop.toml", PIPELINE);
    env.headwater(&["connector", "inspect", "files", "--pipeline", "shop.toml"]).ok();
    env.write("other.toml", PIPELINE.replace("connector = \"files\"", "connector = \"rest\""));
    env.headwater(&["connector", "inspect", "files", "--pipeline", "other.toml"]).fails(
        2,
        &[
            "other.toml",
            "pipeline `shop` does not run connector `files`",
            "`rest` in [backfill] and `rest` in [source]",
        ],
    );
    env.write("bad.toml", PIPELINE.replace("base_url = \"https://api.example.com\"", "base_url = 3"));
    env.headwater(&["connector", "inspect", "rest", "--pipeline", "bad.toml"]).fails(2, &["base_url"]);
    env.headwater(&["connector", "inspect", "rest", "--pipeline", "missing.toml"]).fails(2, &["missing.toml"]);
}
