//! The connector registry and state commands.

use headwater_mock::{orders, orders_csv};
use headwater_testkit::component;

#[test]
fn install_list_inspect_remove() {
    let env = crate::env();
    // A fresh home: the shipped connectors are there, built in.
    let list = env.headwater(&["connector", "list", "--json"]).ok().json();
    let origins = |list: &serde_json::Value| {
        list.as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["name"].as_str().unwrap().to_string(),
                    l["origin"].as_str().unwrap().to_string(),
                    l["overrides_builtin"] == true,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        origins(&list),
        [("files".into(), "built_in".into(), false), ("rest".into(), "built_in".into(), false)],
        "{list}"
    );
    let inspect = env.headwater(&["connector", "inspect", "rest"]).ok();
    assert!(
        inspect.stdout.contains("built into this headwater") && inspect.stdout.contains("base_url"),
        "{}",
        inspect.stdout
    );

    let file = component("files");
    let installed = env.headwater(&["connector", "install", file.to_str().unwrap(), "--json"]).ok().json();
    assert_eq!(installed["name"], "files", "the name defaults to the connector's own");
    assert_eq!(installed["sha256"].as_str().unwrap().len(), 64);

    let list = env.headwater(&["connector", "list"]).ok();
    assert!(list.stdout.contains("files") && list.stdout.contains("0.1.0"), "{}", list.stdout);
    assert!(
        list.stdout.contains("installed (over built-in)"),
        "an install over a built-in one says so: {}",
        list.stdout
    );
    let list = env.headwater(&["connector", "list", "--json"]).ok().json();
    assert_eq!(
        origins(&list),
        [("files".into(), "installed".into(), true), ("rest".into(), "built_in".into(), false)],
        "{list}"
    );

    let inspect = env.headwater(&["connector", "inspect", "files", "--json"]).ok().json();
    let props = &inspect["config_schema"]["properties"];
    assert!(props["glob"].is_object() && props["root"].is_object(), "{inspect}");
    assert!(inspect["config_schema"]["required"].as_array().unwrap().contains(&"glob".into()));
    assert_eq!(inspect["origin"], "installed", "{inspect}");
    assert!(inspect["installed_from"].as_str().unwrap().ends_with("files.wasm"), "{inspect}");

    // Removed, the built-in one takes its place again.
    env.headwater(&["connector", "remove", "files"]).ok();
    let list = env.headwater(&["connector", "list", "--json"]).ok().json();
    assert_eq!(
        origins(&list),
        [("files".into(), "built_in".into(), false), ("rest".into(), "built_in".into(), false)],
        "{list}"
    );
    env.headwater(&["connector", "remove", "files"]).fails(2, &["connector `files` is not installed"]);
    env.headwater(&["connector", "inspect", "nope"])
        .fails(2, &["connector `nope` is not installed", "files (built in)", "rest (built in)"]);
}

/// `connector = "files"` on a fresh home, with nothing installed: the built-in
/// connector runs, and its compiled code is cached for the next run.
#[test]
fn a_builtin_connector_runs_on_a_fresh_home() {
    let env = crate::env();
    env.write("exports/a.csv", orders_csv(&orders(1..=20)));
    env.write(
        "p.toml",
        "name = \"p\"\n[source]\nconnector = \"files\"\nconfig = { root = \"./exports\", glob = \"*.csv\", stream = \"o\" }\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"lake\"\n",
    );
    let run = env.headwater(&["run", "p.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 20, "{run}");
    assert!(!env.exists("home/connectors"), "nothing was installed");
    let cached = std::fs::read_dir(env.path("home/cache"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(cached, 1, "the built-in connector's compiled code is cached");
    env.write("exports/b.csv", orders_csv(&orders(21..=30)));
    let run = env.headwater(&["run", "p.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 10, "{run}");
}

#[test]
fn an_installed_connector_whose_bytes_changed_is_refused() {
    let env = crate::env_with("files");
    let installed = env.path("home/connectors/files/component.wasm");
    let mut bytes = std::fs::read(&installed).unwrap();
    // Tamper with the last byte (inside a custom section: still a valid component).
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&installed, bytes).unwrap();
    env.write("exports/a.csv", orders_csv(&orders(1..=2)));
    env.write(
        "p.toml",
        "name = \"p\"\n[source]\nconnector = \"files\"\nconfig = { root = \"./exports\", glob = \"*.csv\", stream = \"o\" }\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"lake\"\n",
    );
    env.headwater(&["run", "p.toml"]).fails(2, &["connector `files`", "has changed since it was installed"]);
    assert!(!env.exists("lake"));
}

#[test]
fn check_discover_and_state_reset() {
    let env = crate::env_with("files");
    env.write("exports/a.csv", orders_csv(&orders(1..=20)));
    env.write(
        "p.toml",
        "name = \"p\"\n[source]\nconnector = \"files\"\nconfig = { root = \"./exports\", glob = \"*.csv\", stream = \"o\", primary_key = [\"id\"], cursor_field = \"id\" }\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"lake\"\n",
    );
    env.headwater(&["check", "p.toml"]).ok();
    let discovered = env.headwater(&["discover", "p.toml", "--json"]).ok().json();
    assert_eq!(discovered[0]["stream"], "o");
    assert_eq!(discovered[0]["cursor_field"], "id");

    env.headwater(&["run", "p.toml"]).ok();
    let state = env.headwater(&["state", "show", "p.toml", "--json"]).ok().json();
    assert_eq!(state[0]["watermark"], "20");
    assert_eq!(
        state[0]["source_state"]["files"]["a.csv"]["size"],
        std::fs::metadata(env.path("exports/a.csv")).unwrap().len()
    );

    env.headwater(&["state", "reset", "p.toml"]).ok();
    assert_eq!(env.headwater(&["state", "show", "p.toml", "--json"]).ok().json(), serde_json::json!([]));
    // After a reset the file loads again.
    let run = env.headwater(&["run", "p.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 20);
}

/// `check` lists the root it was given: a root folder that does not exist fails
/// naming it, as does a `[limits.streams.*]` table for a stream no connector offers.
#[test]
fn check_fails_on_a_missing_root_and_on_limits_for_an_unknown_stream() {
    let env = crate::env_with("files");
    let pipeline = |root: &str, extra: &str| {
        format!(
            "name = \"p\"\n[source]\nconnector = \"files\"\nconfig = {{ root = \"{root}\", glob = \"*.csv\", stream = \"o\" }}\n[allow]\nfiles = [\"{root}\"]\n[sink]\npath = \"lake\"\n{extra}"
        )
    };
    env.write("exports/a.csv", orders_csv(&orders(1..=2)));
    env.write("p.toml", pipeline("./exports", ""));
    let ok = env.headwater(&["check", "p.toml", "--json"]).ok().json();
    assert_eq!(ok["status"], "ok");

    env.write("p.toml", pipeline("./nowhere", ""));
    env.headwater(&["check", "p.toml"]).fails(1, &["nowhere"]);

    env.write("p.toml", pipeline("./exports", "[limits.streams.orderz]\nrequests_per_second = 1\n"));
    env.headwater(&["check", "p.toml"]).fails(2, &["[limits.streams.orderz]", "o"]);
    assert!(!env.exists("lake"), "check wrote to the sink");
}

/// `headwater schema` prints the pipeline file's JSON Schema, generated from the types.
#[test]
fn schema_prints_the_pipeline_files_json_schema() {
    let env = crate::env();
    let schema = env.headwater(&["schema"]).ok().json();
    assert_eq!(schema["type"], "object");
    let props = schema["properties"].as_object().unwrap();
    for section in ["name", "source", "backfill", "allow", "auth", "sink", "limits"] {
        assert!(props.contains_key(section), "no `{section}` in the schema: {schema}");
    }
    assert_eq!(schema["additionalProperties"], false, "unknown fields are refused, and the schema says so");
    assert!(schema["required"].as_array().unwrap().contains(&"name".into()));
}

/// A connector name becomes `$HEADWATER_HOME/connectors/<name>`: `remove` and
/// `inspect` refuse a name that would reach anywhere else.
#[test]
fn connector_names_that_are_paths_are_refused() {
    let env = crate::env_with("files");
    env.write("home/keep/file", "kept");
    for name in ["../keep", "/tmp", "files/../../keep", ".."] {
        env.headwater(&["connector", "remove", name]).fails(2, &["connector name"]);
        env.headwater(&["connector", "inspect", name]).fails(2, &["connector name"]);
    }
    assert!(env.exists("home/keep/file") && env.exists("home/connectors/files"));
}

/// Issue "Trust, the rest": `headwater … | head` (stdout closed early) panicked
/// with "failed printing to stdout: Broken pipe"; the rest is dropped quietly.
#[test]
fn a_reader_that_stops_reading_is_no_error() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let env = crate::env();
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors `pipe` writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both are open descriptors this test owns; the read end closes at once.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let out = env.command(&["schema"]).stdout(std::process::Stdio::from(write)).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
