//! The Delta Lake sink (`[sink] format = "delta"`) and sharded workers: each
//! checkpoint one Delta commit carrying the shard's transaction and progress,
//! read back by an independent reader (the `deltalake` package from PyPI,
//! installed by `just setup-test`) and compared row by row; a worker with an
//! empty state folder resuming from the table; workers sharing a sliced stream;
//! and a zombie twin of a shard refused at its commit.

use headwater_testkit::{Env, workspace_root};
use serde_json::Value;
use std::process::Command;

/// The table at `table` (a path under the test's folder, or a URL) as the
/// `deltalake` package reads it: `{version, rows, files, history}`.
pub fn delta_read(env: &Env, table: &str, options: &[&str]) -> Value {
    let uri = if table.contains("://") { table.to_string() } else { env.path(table).display().to_string() };
    foreign_reader("delta_read.py", &uri, options)
}

/// What `tests/kit/foreign/<script> <uri> <options…>` prints, as JSON; its
/// readers are installed by `just setup-test`.
fn foreign_reader(script: &str, uri: &str, options: &[&str]) -> Value {
    let script = workspace_root().join("tests/kit/foreign").join(script);
    let out = Command::new("python3").arg(&script).arg(uri).args(options).output().expect("running python3");
    assert!(
        out.status.success(),
        "{} {uri} failed (its readers are installed by `just setup-test`):\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the reader prints JSON")
}

/// The rows of the table at `table` (a path under the test's folder) as the
/// readers users query it with see them: `deltalake`, DuckDB's `delta_scan` and
/// Polars' `read_delta` (each cell as text, sorted by `id`); asserts that the
/// three agree, and returns their rows.
pub fn readers_agree(env: &Env, table: &str) -> Vec<Value> {
    let read = foreign_reader("readers_agree.py", &env.path(table).display().to_string(), &[]);
    let rows = read["deltalake"].as_array().expect("deltalake's rows").clone();
    for reader in ["duckdb", "polars"] {
        assert_eq!(read[reader].as_array(), Some(&rows), "{reader} reads {table} as deltalake does");
    }
    rows
}

/// Starts `headwater args…` held at fault point `point` (`HEADWATER_HOLD`) and
/// waits until it is there; `release` lets it go on, and the handle gives its output.
fn held(env: &Env, args: &[&str], point: &str) -> Held {
    let hold = env.path("hold");
    std::fs::create_dir_all(&hold).unwrap();
    let child = env
        .command(args)
        .env("HEADWATER_HOLD", format!("{point}={}", hold.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("headwater starts");
    let run = std::thread::spawn(move || child.wait_with_output());
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !hold.join("reached").exists() {
        assert!(std::time::Instant::now() < until, "`headwater {}` never reached {point}", args.join(" "));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Held { hold, run }
}

struct Held {
    hold: std::path::PathBuf,
    run: std::thread::JoinHandle<std::io::Result<std::process::Output>>,
}

impl Held {
    fn release(self) -> std::process::Output {
        std::fs::write(self.hold.join("release"), "").unwrap();
        self.run.join().unwrap().expect("the held run ended")
    }
}

/// `files` CSV exports of `rows` rows each, ids counting from `first`.
fn exports(env: &Env, first: u64, files: u64, rows: u64) {
    for f in 0..files {
        let mut text = String::from("id,customer,amount,updated_at\n");
        for i in 0..rows {
            let id = first + f * rows + i;
            text.push_str(&format!("{id},c{},{}.25,2026-01-{:02}T10:00:00Z\n", id % 37, id, id % 28 + 1));
        }
        env.write(&format!("exports/part-{:05}.csv", first + f), text);
    }
}

/// A pipeline of one `orders` stream from the CSV exports into a Delta sink,
/// its state in `state`; `extra` is appended (e.g. `[sharding]`).
fn pipeline(env: &Env, file: &str, state: &str, extra: &str) {
    env.write(
        file,
        format!(
            r#"
name = "lakes"
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
[sink]
path = "lake"
format = "delta"
[state]
path = "{state}"
{extra}
"#
        ),
    );
}

/// The ids of the table's rows, as read back, in order.
fn ids(table: &Value) -> Vec<u64> {
    table["rows"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

#[test]
fn each_checkpoint_is_one_delta_commit_and_an_empty_worker_resumes_from_the_table() {
    let env = crate::env_with("files");
    exports(&env, 0, 4, 250);
    pipeline(&env, "p.toml", "state", "");
    let run = env.headwater(&["run", "p.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 1000, "{run}");

    let table = delta_read(&env, "lake/orders", &[]);
    assert_eq!(ids(&table), (0..1000).collect::<Vec<_>>(), "every row once, in the table the reader sees");
    let row = &table["rows"][7];
    assert_eq!((row["customer"].as_str(), row["amount"].as_f64()), (Some("c7"), Some(7.25)), "{row}");
    assert!(row["updated_at"].as_str().unwrap().starts_with("2026-01-08 10:00:00"), "{row}");
    assert!(row["_hw_run_id"].is_string(), "lineage columns are in the table: {row}");
    // Version 0 creates the table; then one commit per checkpoint (a file each).
    assert_eq!(table["version"], 4, "{}", table["history"]);
    assert_eq!(table["files"], 4);
    // No Parquet file outside the table's log: staging is the worker's own.
    let in_folder = std::fs::read_dir(env.path("lake/orders")).unwrap().count();
    assert_eq!(in_folder, 5, "4 data files and _delta_log");

    // A new worker with no state of its own (a fresh pod) resumes where the table says.
    std::fs::remove_dir_all(env.path("state")).unwrap();
    exports(&env, 1000, 1, 300);
    let run = env.headwater(&["run", "p.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 300, "only the new file: {run}");
    assert_eq!(run["streams"][0]["total_rows"], 1300, "{run}");
    let table = delta_read(&env, "lake/orders", &[]);
    assert_eq!(ids(&table), (0..1300).collect::<Vec<_>>());

    let status = env.headwater(&["status", "p.toml", "--json"]).ok().json();
    assert_eq!(status[0]["transaction"], "headwater/lakes/orders", "{status}");
    assert_eq!(status[0]["version"], 4, "five checkpoints, versions 0 to 4: {status}");
    assert_eq!(status[0]["rows"], 1300, "{status}");
    assert_eq!(status[0]["watermark"], "2026-01-28T10:00:00Z", "{status}");

    // A full refresh replaces the table's files in one commit: every row once, not twice.
    let run = env.headwater(&["run", "p.toml", "--full-refresh", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["total_rows"], 1300, "{run}");
    let table = delta_read(&env, "lake/orders", &[]);
    assert_eq!(ids(&table), (0..1300).collect::<Vec<_>>());
    assert_eq!(table["files"], 5, "the old files are removed from the table");
    assert_eq!(table["version"], 6, "one commit for the whole refresh: {}", table["history"]);
}

/// A new column is Delta schema evolution (a nullable column, earlier rows null);
/// a column whose type changes is refused, naming it, and nothing of it commits.
#[test]
fn delta_tables_gain_columns_and_refuse_a_changed_type() {
    let env = crate::env_with("files");
    env.write("exports/a.csv", "id,customer,qty,updated_at\n1,c1,1,2026-01-01T00:00:00Z\n");
    pipeline(&env, "p.toml", "state", "");
    env.headwater(&["run", "p.toml"]).ok();
    env.write("exports/b.csv", "id,customer,qty,updated_at,region\n2,c2,2,2026-01-02T00:00:00Z,eu\n");
    env.headwater(&["run", "p.toml"]).ok();
    let table = delta_read(&env, "lake/orders", &[]);
    assert_eq!(ids(&table), [1, 2]);
    assert_eq!((&table["rows"][0]["region"], &table["rows"][1]["region"]), (&Value::Null, &Value::from("eu")));

    // The host widens an integer column that meets a decimal (its Parquet files may
    // differ); a Delta table's column keeps its type, so the commit is refused.
    env.write("exports/c.csv", "id,customer,qty,updated_at\n3,c3,2.5,2026-01-03T00:00:00Z\n");
    let run = env.headwater(&["run", "p.toml"]);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, 1, "{out}");
    assert!(out.contains("column `qty`") && out.contains("keeps its type"), "{out}");
    assert_eq!(ids(&delta_read(&env, "lake/orders", &[])), [1, 2], "nothing of the refused file committed");
}

/// Three workers share one sliced stream, each with its own state folder (as
/// three machines would): together they land every row once, each file by the
/// one shard its path hashes to, each under its own transaction.
#[test]
fn sharded_workers_land_each_slice_of_a_stream_once() {
    let env = crate::env_with("files");
    exports(&env, 0, 24, 50);
    for i in 1..=3 {
        pipeline(&env, &format!("p{i}.toml"), &format!("state{i}"), "[sharding]\nslice = [\"orders\"]");
    }
    let workers: Vec<_> = (1..=3)
        .map(|i| {
            env.command(&["run", &format!("p{i}.toml"), "--shard", &format!("{i}/3")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for w in workers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "a worker failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let table = delta_read(&env, "lake/orders", &[]);
    assert_eq!(ids(&table), (0..1200).collect::<Vec<_>>(), "every row exactly once");

    let status = env.headwater(&["status", "p1.toml", "--json"]).ok().json();
    let shards: Vec<(&str, u64)> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["transaction"].as_str().unwrap(), s["rows"].as_u64().unwrap()))
        .collect();
    assert_eq!(shards.len(), 3, "a transaction per slice: {status}");
    assert!(shards.iter().all(|(t, rows)| t.contains("/orders/slice-") && *rows > 0), "{shards:?}");
    assert_eq!(shards.iter().map(|(_, r)| r).sum::<u64>(), 1200, "{shards:?}");

    // Run again, the same shards: each slice's progress is in the table, so nothing is reloaded.
    for i in 1..=3 {
        let run = env.headwater(&["run", &format!("p{i}.toml"), "--shard", &format!("{i}/3"), "--json"]).ok().json();
        assert_eq!(run["streams"][0]["rows"], 0, "{run}");
    }
    // Another shard count would deal the files among other slices than the progress
    // covers, and so would an unsharded run: both are refused, and nothing lands twice.
    for args in [&["--shard", "1/4"][..], &[][..]] {
        let mut command = vec!["run", "p1.toml"];
        command.extend_from_slice(args);
        let run = env.headwater(&command);
        assert_ne!(run.code, 0, "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains("slice-") && run.stderr.contains("rows would land twice"), "{}", run.stderr);
    }
    assert_eq!(ids(&delta_read(&env, "lake/orders", &[])).len(), 1200);
    // What the refusal advises: a full refresh in one unsharded run reloads the stream whole.
    env.headwater(&["run", "p1.toml", "--full-refresh"]).ok();
    assert_eq!(ids(&delta_read(&env, "lake/orders", &[])), (0..1200).collect::<Vec<_>>());
    let run = env.headwater(&["run", "p1.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 0, "the unsharded progress holds now: {run}");
}

/// A zombie: a worker of shard 1/2 is held just before its first commit while a
/// twin of the same shard (a rescheduled pod) runs and commits. Released, the
/// zombie's commit is refused, it exits naming the reason, and no row is twice.
#[test]
fn a_zombie_twin_of_a_shard_is_refused_at_its_commit() {
    let env = crate::env_with("files");
    exports(&env, 0, 6, 100);
    for name in ["zombie", "twin"] {
        pipeline(&env, &format!("{name}.toml"), &format!("state-{name}"), "[sharding]\nslice = [\"orders\"]");
    }
    let zombie = held(&env, &["run", "zombie.toml", "--shard", "1/2"], "lake.before-commit");
    env.headwater(&["run", "twin.toml", "--shard", "1/2"]).ok();
    let twin_rows = ids(&delta_read(&env, "lake/orders", &[])).len();
    assert!(twin_rows > 0, "shard 1/2 owns some of the six files");

    let out = zombie.release();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another worker is running the same shard") && stderr.contains("slice-1-of-2"), "{stderr}");
    let table = delta_read(&env, "lake/orders", &[]);
    assert_eq!(ids(&table).len(), twin_rows, "the zombie added nothing");
    let mut unique = ids(&table);
    unique.dedup();
    assert_eq!(unique.len(), twin_rows, "no id twice");

    // Shard 2/2 then completes the stream.
    pipeline(&env, "second.toml", "state-second", "[sharding]\nslice = [\"orders\"]");
    env.headwater(&["run", "second.toml", "--shard", "2/2"]).ok();
    assert_eq!(ids(&delta_read(&env, "lake/orders", &[])), (0..600).collect::<Vec<_>>());
}

#[test]
fn shards_are_named_correctly_or_refused() {
    let mut env = crate::env_with("files");
    exports(&env, 0, 1, 10);
    pipeline(&env, "p.toml", "state", "");
    for bad in ["0/3", "4/3", "3", "x/y"] {
        env.headwater(&["run", "p.toml", "--shard", bad]).fails(2, &["--shard", "`i/n`"]);
    }
    env.headwater(&["run", "p.toml", "--shards", "4"]).fails(2, &["JOB_COMPLETION_INDEX is not set"]);
    // A Hive-layout sink keeps progress per worker: sharding it is refused.
    env.write(
        "hive.toml",
        "name = \"h\"\n[source]\nconnector = \"files\"\nconfig = { root = \"./exports\", glob = \"*.csv\", stream = \"o\" }\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"hive\"\n",
    );
    env.headwater(&["run", "hive.toml", "--shard", "1/2"]).fails(2, &["format = \"delta\""]);
    // Slicing needs a table sink too, and names a stream that exists.
    env.write(
        "sliced-hive.toml",
        "name = \"h\"\n[source]\nconnector = \"files\"\nconfig = { root = \"./exports\", glob = \"*.csv\", stream = \"o\" }\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"hive\"\n[sharding]\nslice = [\"o\"]\n",
    );
    env.headwater(&["run", "sliced-hive.toml"]).fails(2, &["[sharding] slice", "format = \"delta\""]);
    pipeline(&env, "typo.toml", "state-typo", "[sharding]\nslice = [\"ordres\"]");
    env.headwater(&["run", "typo.toml", "--shard", "1/2"]).fails(2, &["[sharding] slice", "ordres"]);
    pipeline(&env, "sliced.toml", "state-sliced", "[sharding]\nslice = [\"orders\"]");
    env.headwater(&["run", "sliced.toml", "--shard", "1/2", "--full-refresh"])
        .fails(2, &["--full-refresh with --shard", "orders"]);
    // Kubernetes' index: 0-based, so index 1 of 2 is shard 2/2.
    env.var("JOB_COMPLETION_INDEX", "1");
    let run = env.headwater(&["run", "p.toml", "--shards", "2", "--json"]).ok().json();
    // One whole stream, dealt to shard 1: shard 2 has nothing to do.
    assert_eq!(run["streams"].as_array().unwrap().len(), 0, "{run}");
    env.var("HEADWATER_SHARD", "1/2");
    let run = env.headwater(&["run", "p.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 10, "{run}");
}

/// A child stream sliced across workers by its parents: each shard reads the
/// parents' pages whose filled path (`/customers/{id}/orders`) hashes to its
/// slice (`state.owns`), so two shards together read each customer's orders once.
#[test]
fn a_child_stream_is_sliced_by_its_parents() {
    use headwater_mock::{MockApi, orders};
    let env = crate::env_with("rest");
    let all = orders(1..=200);
    let api = MockApi::start(all.clone(), 50);
    for i in 1..=2 {
        env.write(
            &format!("c{i}.toml"),
            format!(
                r#"
name = "crm"
[source]
connector = "rest"
[source.config]
base_url = "{url}"
[[source.config.streams]]
name = "customers"
path = "/customers"
records = "/customers"
paginator = {{ type = "page", page_size = 5 }}
[[source.config.streams]]
name = "customer_orders"
parent = "customers"
path = "/customers/{{id}}/orders"
records = "/orders"
[allow]
hosts = ["{host}"]
[sink]
path = "lake"
format = "delta"
[sharding]
slice = ["customer_orders"]
[state]
path = "state{i}"
"#,
                url = api.url(),
                host = api.host()
            ),
        );
    }
    let mut loaded = Vec::new();
    for i in 1..=2 {
        let run = env.headwater(&["run", &format!("c{i}.toml"), "--shard", &format!("{i}/2"), "--json"]).ok().json();
        let child = run["streams"].as_array().unwrap().iter().find(|s| s["stream"] == "customer_orders").cloned();
        loaded.push(child.map_or(0, |c| c["rows"].as_u64().unwrap()));
    }
    assert!(loaded.iter().all(|&n| n > 0), "each shard read some customers' orders: {loaded:?}");
    let expected: Vec<u64> = all
        .iter()
        .filter(|o| (1..=10).any(|i| o["customer"] == format!("c{i}").as_str()))
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids(&delta_read(&env, "lake/customer_orders", &[])), expected, "each order once");
    assert_eq!(delta_read(&env, "lake/customers", &[])["rows"].as_array().unwrap().len(), 10);
}

/// A merge stream holds one row per key, the last to arrive: a backfill of
/// exports, then changed rows (updates, a `deleted_at` marking deletions) in
/// later exports, and after each run the table equals the source's current state.
#[test]
fn a_merge_stream_holds_the_latest_row_of_each_key_and_drops_deleted_ones() {
    let env = crate::env_with("files");
    let csv = |rows: &[(u64, &str, &str)]| {
        let mut text = String::from("id,customer,deleted_at,updated_at\n");
        for (id, customer, deleted) in rows {
            text.push_str(&format!("{id},{customer},{deleted},2026-01-01T00:00:00Z\n"));
        }
        text
    };
    let first: Vec<(u64, String, &str)> = (1..=300).map(|i| (i, format!("v1-{i}"), "")).collect();
    let first: Vec<(u64, &str, &str)> = first.iter().map(|(i, c, d)| (*i, c.as_str(), *d)).collect();
    env.write("exports/a.csv", csv(&first));
    let far: Vec<(u64, String, &str)> = (1000..1100).map(|i| (i, format!("v1-{i}"), "")).collect();
    let far: Vec<(u64, &str, &str)> = far.iter().map(|(i, c, d)| (*i, c.as_str(), *d)).collect();
    env.write("exports/c.csv", csv(&far));
    pipeline(&env, "m.toml", "state", "[streams.orders]\nwrite = \"merge\"\ndelete_when = \"deleted_at\"");
    env.headwater(&["run", "m.toml"]).ok();
    let mut all: Vec<u64> = (1..=300).collect();
    all.extend(1000..1100);
    assert_eq!(ids(&delta_read(&env, "lake/orders", &[])), all);

    // Updates to 1..=20 (21 twice in one file: the later row wins), deletes of 41..=50, a new 301.
    let mut changes: Vec<(u64, &str, &str)> = (1..=20).map(|i| (i, "v2", "")).collect();
    changes.extend([(21, "v2", ""), (21, "v3", "")]);
    changes.extend((41..=50).map(|i| (i, "gone", "2026-02-01T00:00:00Z")));
    changes.push((301, "v1-301", ""));
    env.write("exports/b.csv", csv(&changes));
    // Killed with the merge's files written and before its commit: nothing of it shows.
    let killed = env.command(&["run", "m.toml"]).env("HEADWATER_FAULT", "lake.before-commit").output().unwrap();
    assert!(!killed.status.success());
    assert_eq!(ids(&delta_read(&env, "lake/orders", &[])), all);
    let merged = env.headwater(&["-v", "run", "m.toml"]).ok();
    // The file of keys 1000-1099 is bounded away from every changed key (1-301) by
    // its statistics: it is not read, and only the other is rewritten.
    assert!(merged.stderr.contains("1 of 2 files read, 1 rewritten"), "{}", merged.stderr);

    let table = delta_read(&env, "lake/orders", &[]);
    let mut expected: Vec<(u64, String)> =
        (1..=301).chain(1000..1100).filter(|i| !(41..=50).contains(i)).map(|i| (i, format!("v1-{i}"))).collect();
    for row in expected.iter_mut() {
        if row.0 <= 20 {
            row.1 = "v2".into();
        } else if row.0 == 21 {
            row.1 = "v3".into();
        }
    }
    let got: Vec<(u64, String)> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_u64().unwrap(), r["customer"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, expected, "the table equals the source's current state");
    assert_eq!(readers_agree(&env, "lake/orders").len(), expected.len(), "as DuckDB and Polars read it too");

    // An older version of key 1 arriving later (an old export loaded again) does not
    // undo its update: the cursor orders a key's versions; a newer one of 2 does land.
    env.write(
        "exports/d.csv",
        "id,customer,deleted_at,updated_at\n1,stale,,2025-01-01T00:00:00Z\n2,newer,,2026-05-01T00:00:00Z\n",
    );
    env.headwater(&["run", "m.toml"]).ok();
    let rows = delta_read(&env, "lake/orders", &[])["rows"].clone();
    let customer = |id: u64| rows.as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()["customer"].clone();
    assert_eq!((customer(1), customer(2)), ("v2".into(), "newer".into()));
    assert_eq!(rows.as_array().unwrap().len(), expected.len());

    // A full refresh of a merge stream reloads every export into an empty table: one
    // row per key again, each from its newest export.
    env.headwater(&["run", "m.toml", "--full-refresh"]).ok();
    let refreshed = delta_read(&env, "lake/orders", &[])["rows"].clone();
    assert_eq!(refreshed.as_array().unwrap().len(), expected.len(), "no key twice after the refresh");
    // A merge on a Hive sink, or of a stream that does not exist, is refused with the reason.
    env.write(
        "hive.toml",
        "name = \"h\"\n[source]\nconnector = \"files\"\nconfig = { root = \"./exports\", glob = \"*.csv\", stream = \"o\" }\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"hive\"\n[streams.o]\nwrite = \"merge\"\n",
    );
    env.headwater(&["run", "hive.toml"]).fails(2, &["[streams.o] write = \"merge\"", "format = \"delta\""]);
    pipeline(
        &env,
        "sliced.toml",
        "state-sliced",
        "[streams.orders]\nwrite = \"merge\"\n[sharding]\nslice = [\"orders\"]",
    );
    env.headwater(&["run", "sliced.toml"]).fails(2, &["[sharding] slice", "merge stream"]);
    pipeline(&env, "typo.toml", "state-typo", "[streams.ordres]\nwrite = \"merge\"");
    env.headwater(&["run", "typo.toml"]).fails(2, &["[streams.ordres]: no such stream"]);
}

/// `keep_history` keeps the append table `<stream>_history` of every version
/// served beside the merged one, and `soft_delete` keeps a deleted key's row,
/// marked. The history commit lands first: a run killed between it and the merge
/// is finished at the next start by merging that commit's files (rolled
/// forward), and neither table holds a row twice.
#[test]
fn a_merge_stream_keeps_its_history_and_a_crash_between_its_two_commits_is_rolled_forward() {
    let env = crate::env_with("files");
    let csv = |rows: &[(u64, String, &str)]| {
        let mut text = String::from("id,customer,deleted_at,updated_at\n");
        for (id, customer, deleted) in rows {
            text.push_str(&format!("{id},{customer},{deleted},2026-01-01T00:00:00Z\n"));
        }
        text
    };
    env.write("exports/a.csv", csv(&(1..=100).map(|i| (i, format!("v1-{i}"), "")).collect::<Vec<_>>()));
    let extra =
        "[streams.orders]\nwrite = \"merge\"\ndelete_when = \"deleted_at\"\nsoft_delete = true\nkeep_history = true";
    pipeline(&env, "m.toml", "state", extra);
    env.headwater(&["run", "m.toml"]).ok();
    assert_eq!(ids(&delta_read(&env, "lake/orders", &[])), (1..=100).collect::<Vec<_>>());
    assert_eq!(ids(&delta_read(&env, "lake/orders_history", &[])), (1..=100).collect::<Vec<_>>());

    // Updates to 1..=10, deletions of 11..=15, a new 101; killed after the history commit.
    let mut changes: Vec<(u64, String, &str)> = (1..=10).map(|i| (i, "v2".to_string(), "")).collect();
    changes.extend((11..=15).map(|i| (i, "gone".to_string(), "2026-02-01T00:00:00Z")));
    changes.push((101, "v1-101".into(), ""));
    env.write("exports/b.csv", csv(&changes));
    let killed =
        env.command(&["run", "m.toml"]).env("HEADWATER_FAULT", "lake.between-history-and-merge").output().unwrap();
    assert!(!killed.status.success(), "the fault point was reached");
    let history = |env: &Env| {
        let mut ids = ids(&delta_read(env, "lake/orders_history", &[]));
        ids.sort_unstable();
        ids
    };
    let mut served: Vec<u64> = (1..=100).chain(1..=15).chain([101]).collect();
    served.sort_unstable();
    assert_eq!(history(&env), served, "the history holds the change set");
    assert_eq!(delta_read(&env, "lake/orders", &[])["rows"].as_array().unwrap().len(), 100, "the merge did not land");

    // The next start merges the history commit's files, then finds nothing new.
    let resumed = env.headwater(&["run", "m.toml"]).ok();
    assert!(resumed.stderr.contains("had not landed"), "{}", resumed.stderr);
    let check = |env: &Env| {
        let table = delta_read(env, "lake/orders", &[]);
        let got: Vec<(u64, String, bool)> = table["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let deleted = r["_hw_deleted"].as_bool().expect("every row is marked");
                (r["id"].as_u64().unwrap(), r["customer"].as_str().unwrap().to_string(), deleted)
            })
            .collect();
        let expected: Vec<(u64, String, bool)> = (1..=101)
            .map(|i| match i {
                1..=10 => (i, "v2".to_string(), false),
                11..=15 => (i, "gone".to_string(), true),
                _ => (i, format!("v1-{i}"), false),
            })
            .collect();
        assert_eq!(got, expected, "one row per key, the deleted ones marked");
    };
    check(&env);
    assert_eq!(readers_agree(&env, "lake/orders").len(), 101, "DuckDB and Polars read the marked rows too");
    assert_eq!(history(&env), served, "rolled forward without a second history commit");
    env.headwater(&["run", "m.toml"]).ok();
    check(&env);
    assert_eq!(history(&env), served, "a run with nothing new adds nothing");

    // A full refresh replaces the merged table and appends what it served to the history.
    env.headwater(&["run", "m.toml", "--full-refresh"]).ok();
    check(&env);
    assert_eq!(history(&env).len(), served.len() * 2, "the history keeps everything ever served");
    // Both tables' transactions stand at the same checkpoint, as `status` shows.
    let status = env.headwater(&["status", "m.toml"]).ok();
    assert!(status.stdout.contains("orders_history"), "{}", status.stdout);

    // The options are for merge streams, and a soft delete needs its marker.
    pipeline(&env, "bad.toml", "state-bad", "[streams.orders]\nkeep_history = true");
    env.headwater(&["run", "bad.toml"]).fails(2, &["[streams.orders]", "keep_history", "write = \"merge\""]);
    pipeline(&env, "soft.toml", "state-soft", "[streams.orders]\nwrite = \"merge\"\nsoft_delete = true");
    env.headwater(&["run", "soft.toml"]).fails(2, &["soft_delete = true", "delete_when"]);
}

/// Two writers merging into one table at once (two pipelines, so two
/// transactions: within a pipeline a merge stream has one writer): the one that
/// commits second read the table before the first's commit, and Delta's
/// conflict check refuses it (a merge declares that it read the whole table); it
/// merges again on the table as the first left it. No key twice, no row lost.
#[test]
fn a_merge_that_lost_a_race_to_another_writer_is_merged_again() {
    let env = crate::env_with("files");
    let csv = |ids: std::ops::RangeInclusive<u64>, who: &str, at: &str| {
        let mut text = String::from("id,customer,updated_at\n");
        for id in ids {
            text.push_str(&format!("{id},{who},{at}\n"));
        }
        text
    };
    env.write("exports1/a.csv", csv(1..=100, "first", "2026-02-01T00:00:00Z"));
    env.write("exports2/a.csv", csv(1..=50, "second", "2026-03-01T00:00:00Z"));
    for (n, file) in [(1, "first.toml"), (2, "second.toml")] {
        pipeline(&env, file, &format!("state{n}"), "[streams.orders]\nwrite = \"merge\"");
        let text = std::fs::read_to_string(env.path(file)).unwrap();
        env.write(file, text.replace("./exports", &format!("./exports{n}")).replace("\"lakes\"", &format!("\"p{n}\"")));
    }
    let first = held(&env, &["-v", "run", "first.toml"], "lake.actions-built");
    // The second writer merges and commits while the first holds its merge.
    env.headwater(&["run", "second.toml"]).ok();
    let out = first.release();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = delta_read(&env, "lake/orders", &[])["rows"].clone();
    let got: Vec<(u64, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_u64().unwrap(), r["customer"].as_str().unwrap().to_string()))
        .collect();
    // 1..=50 are newer in the second writer's rows (by `updated_at`): they stay.
    let expected: Vec<(u64, String)> =
        (1..=100).map(|i| (i, if i <= 50 { "second" } else { "first" }.to_string())).collect();
    assert_eq!(got, expected, "one row per key, the newest");
}

/// The hybrid pattern into a merge stream: a backfill of exports, then an API
/// sync from the handed-off watermark bringing updates and deletions (a `deleted`
/// flag); after each run the table equals the source's current state, row for row.
#[test]
fn the_hybrid_pattern_into_a_merge_stream_ends_equal_to_the_source() {
    use headwater_mock::{MockApi, orders, orders_csv};
    let env = crate::env_with("files");
    env.install("rest");
    env.write("exports/orders.csv", orders_csv(&orders(1..=200)));
    let api = MockApi::start(orders(1..=250), 100);
    let hybrid = super::hybrid::pipeline(&api).replace(
        "[sink]\npath = \"lake\"\n",
        "[sink]\npath = \"lake\"\nformat = \"delta\"\n[streams.orders]\nwrite = \"merge\"\ndelete_when = \"deleted\"\n",
    );
    env.write("h.toml", hybrid);
    env.headwater(&["run", "h.toml"]).ok();
    let current = |api: &MockApi| -> Vec<(u64, f64)> {
        api.with(|s| {
            s.orders
                .iter()
                .filter(|o| o.get("deleted") != Some(&serde_json::Value::Bool(true)))
                .map(|o| (o["id"].as_u64().unwrap(), o["amount"].as_f64().unwrap()))
                .collect()
        })
    };
    let table = |env: &Env| -> Vec<(u64, f64)> {
        delta_read(env, "lake/orders", &[])["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_u64().unwrap(), r["amount"].as_f64().unwrap()))
            .collect()
    };
    assert_eq!(table(&env), current(&api), "after the backfill and the first sync");

    // At the source: ten orders change, five are deleted (flagged), three are new.
    api.with(|s| {
        for o in s.orders.iter_mut() {
            let id = o["id"].as_u64().unwrap();
            if (10..20).contains(&id) || (30..35).contains(&id) {
                o["updated_at"] = "2026-06-01T00:00:00Z".into();
                o["amount"] = (id as f64 + 0.5).into();
            }
            if (30..35).contains(&id) {
                o["deleted"] = true.into();
            }
        }
        s.orders.extend(orders(251..=253));
    });
    let run = env.headwater(&["run", "h.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["phase"], "source", "{run}");
    assert_eq!(table(&env), current(&api), "after the sync of changes and deletions");
    assert_eq!(table(&env).len(), 248);
    let read: Vec<u64> =
        readers_agree(&env, "lake/orders").iter().map(|r| r["id"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(read, current(&api).iter().map(|(id, _)| *id).collect::<Vec<_>>(), "DuckDB and Polars agree");
}

/// Past 100 commits the table gets a Delta checkpoint (a Parquet summary of the
/// log), and progress is still found: a fresh worker resumes, a reader agrees.
#[test]
fn a_table_past_its_checkpoint_interval_keeps_its_progress() {
    use headwater_mock::{MockApi, orders};
    let env = crate::env_with("rest");
    // Each run brings one new order: one checkpoint, one commit.
    let api = MockApi::start(orders(1..=1), 100);
    env.write(
        "p.toml",
        format!(
            r#"
name = "long"
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
[allow]
hosts = ["{host}"]
[sink]
path = "lake"
format = "delta"
[state]
path = "state"
"#,
            url = api.url(),
            host = api.host()
        ),
    );
    for id in 2..=101 {
        env.headwater(&["run", "p.toml"]).ok();
        api.with(|s| s.orders.extend(orders(id..=id)));
    }
    env.headwater(&["run", "p.toml"]).ok();
    let log: Vec<String> = std::fs::read_dir(env.path("lake/orders/_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(log.iter().any(|n| n.ends_with(".checkpoint.parquet")), "no checkpoint: {log:?}");
    std::fs::remove_dir_all(env.path("state")).unwrap();
    api.with(|s| s.orders.extend(orders(102..=105)));
    let run = env.headwater(&["run", "p.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 4, "{run}");
    assert_eq!(ids(&delta_read(&env, "lake/orders", &[])), (1..=105).collect::<Vec<_>>());
}
