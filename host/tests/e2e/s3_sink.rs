//! Sinks on an S3-compatible bucket (a real moto server on 127.0.0.1, which
//! honours conditional writes): Hive-layout Parquet, read back by pyarrow's own
//! S3 client, with nothing of an uncommitted checkpoint in the bucket and a
//! crash mid-publish completed exactly once; and Delta tables written by
//! concurrent workers, read back by the `deltalake` package.

use super::lake::delta_read;
use headwater_testkit::s3::S3Server;
use headwater_testkit::{Env, workspace_root};
use serde_json::Value;
use std::process::Command;

fn s3_read(s3: &S3Server, where_: &str) -> Value {
    let script = workspace_root().join("tests/kit/foreign/s3_parquet_read.py");
    let out = Command::new("python3").arg(&script).arg(s3.endpoint()).arg(where_).output().expect("running python3");
    assert!(out.status.success(), "{}:\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the reader prints JSON")
}

fn exports(env: &Env, files: u64, rows: u64) {
    for f in 0..files {
        let mut text = String::from("id,customer,updated_at\n");
        for i in 0..rows {
            let id = f * rows + i;
            text.push_str(&format!("{id},c{},2026-03-{:02}T08:00:00Z\n", id % 11, id % 28 + 1));
        }
        env.write(&format!("exports/x{f:03}.csv"), text);
    }
}

fn pipeline(env: &Env, s3: &S3Server, file: &str, state: &str, format: &str, extra: &str) {
    env.write(
        file,
        format!(
            r#"
name = "bucketed"
[source]
connector = "files"
[source.config]
root = "./exports"
glob = "*.csv"
stream = "orders"
primary_key = ["id"]
cursor_field = "updated_at"
[allow]
files = ["./exports"]
[auth.lake]
kind = "s3"
access_key_id = "${{env:LAKE_KEY}}"
secret_access_key = "${{env:LAKE_SECRET}}"
[sink]
path = "s3://lakes/landing/"
format = "{format}"
endpoint = "{endpoint}"
auth = "lake"
[state]
path = "{state}"
{extra}
"#,
            endpoint = s3.endpoint()
        ),
    );
}

fn env() -> Env {
    let mut env = crate::env_with("files");
    env.var("LAKE_KEY", "testing");
    env.var("LAKE_SECRET", "testing");
    env
}

/// What the `deltalake` package needs to read a table in the moto bucket.
fn storage_options(s3: &S3Server) -> [String; 5] {
    [
        format!("AWS_ENDPOINT_URL={}", s3.endpoint()),
        "AWS_ACCESS_KEY_ID=testing".to_string(),
        "AWS_SECRET_ACCESS_KEY=testing".to_string(),
        "AWS_REGION=us-east-1".to_string(),
        "AWS_ALLOW_HTTP=true".to_string(),
    ]
}

fn ids(rows: &Value) -> Vec<u64> {
    rows.as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

#[test]
fn parquet_on_s3_is_uploaded_only_at_commit_and_a_crash_mid_publish_completes_once() {
    let env = env();
    let s3 = S3Server::start();
    s3.create_bucket("lakes");
    exports(&env, 5, 200);
    pipeline(&env, &s3, "p.toml", "state", "parquet", "");

    // Killed with its first checkpoint's intent recorded and nothing published: the
    // bucket holds nothing, since staging is on the worker's disk.
    let killed = env.command(&["run", "p.toml"]).env("HEADWATER_FAULT", "commit.after-intent").output().unwrap();
    assert!(!killed.status.success());
    assert_eq!(s3_read(&s3, "lakes/landing/orders")["keys"], serde_json::json!([]), "an uncommitted file is visible");
    // Killed again after the third file of the run reached the bucket; then a clean run.
    let killed = env.command(&["run", "p.toml"]).env("HEADWATER_FAULT", "publish.after-rename:3").output().unwrap();
    assert!(!killed.status.success());
    let run = env.headwater(&["run", "p.toml", "--json"]).ok().json();
    assert!(run["recovered"].as_array().is_some_and(|r| !r.is_empty()), "recovery finished the upload: {run}");

    let read = s3_read(&s3, "lakes/landing/orders");
    assert_eq!(ids(&read["rows"]), (0..1000).collect::<Vec<_>>(), "every row once, as pyarrow reads the bucket");
    let keys = read["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(keys.iter().all(|k| k.as_str().unwrap().contains("/orders/dt=")), "Hive layout: {keys:?}");
    assert_eq!(read["rows"][3]["customer"], "c3");

    // A full refresh would need an atomic swap of the stream's files: refused up front.
    env.headwater(&["run", "p.toml", "--full-refresh"]).fails(2, &["--full-refresh", "format = \"delta\""]);
}

#[test]
fn delta_on_s3_takes_concurrent_workers_and_an_empty_worker_resumes() {
    let env = env();
    let s3 = S3Server::start();
    s3.create_bucket("lakes");
    exports(&env, 16, 50);
    for i in 1..=3 {
        pipeline(&env, &s3, &format!("p{i}.toml"), &format!("state{i}"), "delta", "[sharding]\nslice = [\"orders\"]");
    }
    let workers: Vec<_> =
        (1..=3).map(|i| env.spawn(&["run", &format!("p{i}.toml"), "--shard", &format!("{i}/3")])).collect();
    for mut w in workers {
        assert!(w.wait().unwrap().success(), "a worker failed");
    }
    let options = storage_options(&s3);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let table = delta_read(&env, "s3://lakes/landing/orders", &options);
    assert_eq!(ids(&table["rows"]), (0..800).collect::<Vec<_>>(), "every row once from three concurrent workers");

    // A fresh pod for shard 2, with no state folder at all, finds its progress in the table.
    std::fs::remove_dir_all(env.path("state2")).unwrap();
    let run = env.headwater(&["run", "p2.toml", "--shard", "2/3", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 0, "{run}");
    let status = env.headwater(&["status", "p1.toml", "--json"]).ok().json();
    assert_eq!(status.as_array().unwrap().len(), 3, "{status}");
}

#[test]
fn sink_settings_for_a_bucket_are_checked() {
    let env = env();
    exports(&env, 1, 5);
    let with_sink = |sink: &str| {
        format!(
            "name = \"b\"\n[source]\nconnector = \"files\"\nconfig = {{ root = \"./exports\", glob = \"*.csv\", stream = \"o\" }}\n[allow]\nfiles = [\"./exports\"]\n[auth.web]\nkind = \"bearer\"\ntoken = \"t\"\n[sink]\n{sink}\n"
        )
    };
    for (sink, needles) in [
        ("path = \"lake\"\nendpoint = \"http://127.0.0.1:1\"", &["[sink] endpoint", "only for an `s3://`"][..]),
        ("path = \"gs://bucket/lake/\"", &["gs://bucket/lake/", "`s3://bucket/prefix/`"][..]),
        ("path = \"s3:///lake/\"", &["names no bucket"][..]),
        ("path = \"s3://b/lake/\"\nauth = \"web\"", &["credential `web` is not of kind \"s3\""][..]),
        ("path = \"s3://b/lake/\"\nauth = \"nobody\"", &["credential `nobody` is not defined"][..]),
    ] {
        env.write("b.toml", with_sink(sink));
        env.headwater(&["check", "b.toml"]).fails(2, needles);
    }
}

/// A merge stream on S3: the copy-on-write commit reads and rewrites the
/// table's files in the bucket as it does on a local folder.
#[test]
fn a_merge_stream_on_s3_holds_the_latest_row_of_each_key() {
    let env = env();
    let s3 = S3Server::start();
    s3.create_bucket("lakes");
    exports(&env, 2, 50);
    pipeline(
        &env,
        &s3,
        "m.toml",
        "state",
        "delta",
        "[streams.orders]\nwrite = \"merge\"\ndelete_when = \"gone\"\nkeep_history = true",
    );
    env.headwater(&["run", "m.toml"]).ok();
    // Changes: 0..10 get a new customer, 20..25 are deleted; the run is killed between
    // the history commit and the merge, and the next start merges from the history.
    let mut text = String::from("id,customer,updated_at,gone\n");
    for id in 0..10 {
        text.push_str(&format!("{id},new,2026-04-01T08:00:00Z,\n"));
    }
    for id in 20..25 {
        text.push_str(&format!("{id},x,2026-04-01T08:00:00Z,true\n"));
    }
    env.write("exports/y000.csv", text);
    let killed =
        env.command(&["run", "m.toml"]).env("HEADWATER_FAULT", "lake.between-history-and-merge").output().unwrap();
    assert!(!killed.status.success(), "the fault point was reached");
    let resumed = env.headwater(&["run", "m.toml"]).ok();
    assert!(resumed.stderr.contains("had not landed"), "{}", resumed.stderr);
    let options = storage_options(&s3);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let table = delta_read(&env, "s3://lakes/landing/orders", &options);
    let rows: Vec<(u64, String)> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_u64().unwrap(), r["customer"].as_str().unwrap().to_string()))
        .collect();
    let expected: Vec<(u64, String)> = (0..100)
        .filter(|id| !(20..25).contains(id))
        .map(|id| (id, if id < 10 { "new".to_string() } else { format!("c{}", id % 11) }))
        .collect();
    assert_eq!(rows, expected);
    // The history holds every row served once: the 100 exported, then the 15 changes.
    let history = delta_read(&env, "s3://lakes/landing/orders_history", &options);
    assert_eq!(history["rows"].as_array().unwrap().len(), 115, "{}", history["rows"]);
}
