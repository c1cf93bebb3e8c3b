//! The C example connector (`connectors/examples/c-files/`), built from source
//! with clang-19, wasi-libc, `wit-bindgen c` and `wasm-tools component new`,
//! installed with `headwater connector install` and run by the real host over
//! folders of CSV files: the Parquet read back row by row against the CSV, a
//! rerun loading only the files after the connector's own checkpoint, and the
//! host's errors coming back out of the connector unchanged.

use crate::languages::installed;
use headwater_mock::{orders, orders_csv};
use headwater_testkit::{Env, assert_same_orders};

#[test]
fn c_files_loads_each_file_once_in_path_order() {
    loads_each_file_once_in_path_order("c-files");
}

#[test]
fn c_files_names_its_stream_from_the_config() {
    names_its_stream_from_the_config("c-files");
}

#[test]
fn c_files_reports_its_errors() {
    reports_its_errors("c-files");
}

// The checks below hold for every example file connector (`c-files`, `go-files`).

/// A pipeline running the connector `name` with `config` (TOML inline-table fields) over the granted `./exports`.
pub(crate) fn pipeline(env: &Env, name: &str, file: &str, config: &str) {
    env.write(
        file,
        format!(
            "name = \"exports\"\n[source]\nconnector = \"{name}\"\nconfig = {{ {config} }}\n[allow]\nfiles = \
             [\"./exports\"]\n[sink]\npath = \"lake\"\n"
        ),
    );
}

/// Every CSV lands once, in path order, one checkpoint per file; a rerun loads
/// only the file added after the last checkpointed path, and one with nothing
/// new loads nothing. A file name with a quote and non-ASCII letters checks the
/// connector's JSON escaping of its state (the host refuses a checkpoint whose
/// state is not JSON; a wrong path in it would reload or skip files).
pub(crate) fn loads_each_file_once_in_path_order(name: &str) {
    let env = installed(name);
    env.write("exports/dt=2025-01-01/a.csv", orders_csv(&orders(1..=300)));
    env.write("exports/dt=2025-01-02/b \"été\".csv", orders_csv(&orders(301..=450)));
    env.write("exports/dt=2025-01-03/c.csv", orders_csv(&orders(451..=500)));
    env.write("exports/dt=2025-01-03/notes.txt", "not matched by the glob");
    pipeline(&env, name, "pipeline.toml", r#"root = "./exports", glob = "**/*.csv""#);

    let discovered = env.headwater(&["discover", "pipeline.toml", "--json"]).ok().json();
    assert_eq!(discovered.as_array().map(Vec::len), Some(1), "one stream: {discovered}");
    assert_eq!(discovered[0]["stream"], "files", "the default stream: {discovered}");
    assert_eq!(
        discovered[0]["fields"],
        serde_json::json!([]),
        "no declared fields: the host infers them: {discovered}"
    );

    let run = env.headwater(&["run", "pipeline.toml", "--json"]).ok().json();
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["streams"][0]["rows"], 500, "{run}");
    assert_eq!(run["streams"][0]["checkpoints"], 3, "one checkpoint per file: {run}");
    assert_same_orders(&env.rows("lake/files"), &orders(1..=500));

    // A new file sorting after the last one loaded: only its rows land, and
    // the connector's log (shown with -v) says so.
    env.write("exports/dt=2025-01-04/d.csv", orders_csv(&orders(501..=560)));
    let out = env.headwater(&["run", "pipeline.toml", "--json", "-v"]).ok();
    let run = out.json();
    assert_eq!(run["streams"][0]["rows"], 60, "only the new file: {run}");
    for line in ["files: loaded dt=2025-01-04/d.csv (60 rows", "files: 1 file(s) loaded, 60 row(s); 3 already loaded"] {
        assert!(out.stderr.contains(line), "the connector logs `{line}`:\n{}", out.stderr);
    }
    assert_eq!(run["streams"][0]["checkpoints"], 1, "{run}");
    assert_same_orders(&env.rows("lake/files"), &orders(1..=560));

    // Nothing new: nothing loaded, nothing written.
    let files_before = env.parquet_files("lake").len();
    let run = env.headwater(&["run", "pipeline.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 0, "{run}");
    assert_eq!(env.parquet_files("lake").len(), files_before);
    assert_same_orders(&env.rows("lake/files"), &orders(1..=560));
}

/// The stream is named by the config, and a narrower glob loads only what it matches.
pub(crate) fn names_its_stream_from_the_config(name: &str) {
    let env = installed(name);
    env.write("exports/dt=2025-01-01/a.csv", orders_csv(&orders(1..=20)));
    env.write("exports/dt=2025-01-02/b.csv", orders_csv(&orders(21..=30)));
    pipeline(&env, name, "pipeline.toml", r#"root = "./exports", glob = "dt=2025-01-02/*.csv", stream = "orders""#);
    let run = env.headwater(&["run", "pipeline.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["stream"], "orders", "{run}");
    assert_eq!(run["streams"][0]["rows"], 10, "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(21..=30));
    assert!(!env.exists("lake/files"), "nothing lands under the default stream");
}

/// The host's errors, raised inside the connector, come back out as its own
/// (same variant, same message); a config its schema refuses never reaches it.
pub(crate) fn reports_its_errors(name: &str) {
    let env = installed(name);
    env.write("exports/a.csv", orders_csv(&orders(1..=3)));
    env.write("elsewhere/a.csv", orders_csv(&orders(1..=3)));

    // A root the pipeline does not grant: the host's `denied`, naming the root.
    pipeline(&env, name, "denied.toml", r#"root = "./elsewhere", glob = "*.csv""#);
    env.headwater(&["run", "denied.toml"]).fails(1, &["denied", "file root `./elsewhere` is not granted"]);
    assert!(!env.exists("lake/files"), "nothing landed");

    // A glob the host cannot parse: the host's `config` error, naming the glob.
    pipeline(&env, name, "bad_glob.toml", r#"root = "./exports", glob = "dt=[.csv""#);
    env.headwater(&["run", "bad_glob.toml"]).fails(1, &["config", "glob `dt=[.csv`"]);
    // `check` returns the same error, from its own call of files.list.
    env.headwater(&["check", "bad_glob.toml"]).fails(1, &["config", "glob `dt=[.csv`"]);

    // Configs the connector's schema refuses: a missing glob, an unknown key.
    pipeline(&env, name, "no_glob.toml", r#"root = "./exports""#);
    env.headwater(&["run", "no_glob.toml"]).fails(2, &["glob"]);
    pipeline(&env, name, "extra.toml", r#"root = "./exports", glob = "*.csv", format = "csv""#);
    env.headwater(&["run", "extra.toml"]).fails(2, &["format"]);
}
