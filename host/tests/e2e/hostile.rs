//! `hostile`: the security model, one hostile connector attack per rule. Each
//! time the host refuses, survives, says clearly what happened, and commits nothing.

use headwater_mock::MockApi;
use headwater_testkit::Env;

/// A pipeline running the hostile connector with one attack.
fn hostile(env: &Env, attack: &str, target: &str, extra: &str) {
    env.write(
        "attack.toml",
        format!(
            r#"
name = "attack"
[source]
connector = "hostile"
config = {{ attack = "{attack}", target = "{target}" }}
[allow]
files = ["./data"]
{extra}
[sink]
path = "lake"
"#
        ),
    );
}

fn env() -> Env {
    let env = crate::env_with("hostile");
    env.write("data/ok.txt", "fine");
    env.write("secret.txt", "top secret");
    env
}

#[track_caller]
fn refused(env: &Env, needles: &[&str]) {
    let run = env.headwater(&["run", "attack.toml"]).fails(1, needles);
    assert!(!run.stderr.contains("panicked at host/"), "the host panicked:\n{}", run.stderr);
    assert!(env.parquet_files("lake").is_empty(), "an attack left output behind");
}

#[test]
fn http_to_a_host_not_allowed_is_denied() {
    let env = env();
    let api = MockApi::start(vec![], 10);
    // `[allow]` has no hosts: nothing is reachable, even a server that is up.
    hostile(&env, "http", &format!("{}/orders", api.url()), "");
    refused(&env, &["denied", &format!("127.0.0.1:{}", api.port), "not in [allow] hosts"]);
    assert!(api.requests().is_empty(), "the request reached the server");
}

#[test]
fn a_redirect_to_a_host_not_allowed_is_denied() {
    let env = env();
    let api = MockApi::start(vec![], 10);
    let target = format!("{}/redirect?to=http://localhost:{}/orders", api.url(), api.port);
    hostile(&env, "http", &target, "");
    let text = std::fs::read_to_string(env.path("attack.toml")).unwrap();
    env.write("attack.toml", text.replace("[allow]\n", &format!("[allow]\nhosts = [\"{}\"]\n", api.host())));
    refused(&env, &["denied", "redirect to http://localhost", "not in [allow] hosts"]);
    assert_eq!(api.requests().len(), 0, "the redirect target (/orders) must not be fetched");
}

#[test]
fn a_credential_is_not_sent_to_a_host_it_is_not_granted_for() {
    let env = env();
    let api = MockApi::start(vec![], 10);
    let other = MockApi::start(vec![], 10);
    hostile(&env, "credential", &format!("{}/orders", other.url()), "");
    let text = std::fs::read_to_string(env.path("attack.toml")).unwrap().replace(
        "[allow]\n",
        &format!(
            "[auth.api]\nkind = \"bearer\"\ntoken = \"s3cr3t\"\nhosts = [\"{}\"]\n[allow]\nhosts = [\"{}\", \"{}\"]\n",
            api.host(),
            api.host(),
            other.host()
        ),
    );
    env.write("attack.toml", text);
    let run = env.headwater(&["run", "attack.toml"]).fails(1, &["denied", "credential `api` is not granted"]);
    assert!(!run.stderr.contains("s3cr3t"));
    assert!(other.requests().is_empty());
}

#[test]
fn a_path_outside_the_root_is_denied() {
    let env = env();
    hostile(&env, "file", "./data|../secret.txt", "");
    refused(&env, &["denied", "../secret.txt"]);
}

#[test]
fn a_symlink_out_of_the_root_is_denied() {
    let env = env();
    std::os::unix::fs::symlink(env.path("secret.txt"), env.path("data/link.txt")).unwrap();
    hostile(&env, "file", "./data|link.txt", "");
    refused(&env, &["denied", "outside root"]);
}

#[test]
fn a_root_not_granted_is_denied() {
    let env = env();
    hostile(&env, "list", "/", "");
    refused(&env, &["denied", "file root `/` is not granted"]);
}

#[test]
fn no_ambient_environment_files_or_sockets() {
    let mut env = env();
    env.var("HEADWATER_TEST_SECRET", "visible-to-the-host-only");
    let api = MockApi::start(vec![], 10);
    hostile(&env, "ambient", &api.host(), "");
    env.headwater(&["run", "attack.toml"]).ok();
    let rows = env.rows("lake/loot");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["value"], "env=0 fs=false net=false");
}

#[test]
fn a_cpu_hog_is_stopped_at_the_call_timeout() {
    let env = env();
    hostile(&env, "spin", "", "[limits]\ncall_timeout_s = 1");
    refused(&env, &["connector `hostile` failed in read", "call_timeout_s"]);
}

#[test]
fn a_memory_hog_is_stopped_at_the_memory_limit() {
    let env = env();
    hostile(&env, "memory", "", "[limits]\nmemory_mb = 64");
    refused(&env, &["connector `hostile` failed in read", "memory_mb = 64"]);
}

#[test]
fn a_panic_is_reported_with_its_message() {
    let env = env();
    hostile(&env, "panic", "", "");
    refused(&env, &["connector `hostile` failed in read", "panicked on purpose"]);
}

#[test]
fn bytes_that_are_not_arrow_are_refused() {
    let env = env();
    hostile(&env, "garbage", "", "");
    refused(&env, &["data", "not an Arrow IPC stream"]);
}

#[test]
fn writing_to_a_stream_not_being_read_is_denied() {
    let env = env();
    hostile(&env, "other-stream", "", "");
    refused(&env, &["denied", "stream `someone_elses` is not being read"]);
}

/// More rows than the sink coalesces in memory (64Ki), so that some were staged
/// as Parquet under `lake/_staging` before the call ended without a checkpoint:
/// `refused` then checks that the staged file was deleted too, as it looks for
/// Parquet anywhere under `lake/`.
#[test]
fn rows_never_checkpointed_are_discarded() {
    let env = env();
    hostile(&env, "no-checkpoint", "70000", "");
    refused(&env, &["70000 rows were emitted after the last checkpoint and were discarded"]);
}

#[test]
fn a_checkpoint_after_an_ignored_emit_error_is_refused() {
    let env = env();
    hostile(&env, "ignore-error", "", "");
    refused(&env, &["checkpoint refused", "earlier emit"]);
}

#[test]
fn opening_files_without_end_hits_the_handle_limit() {
    let env = env();
    hostile(&env, "readers", "ok.txt", "");
    refused(&env, &["too many open files"]);
}

#[test]
fn a_huge_log_line_is_cut_and_the_run_goes_on() {
    let env = env();
    hostile(&env, "log", "", "");
    let run = env.headwater(&["run", "attack.toml", "-v"]).ok();
    assert!(run.stderr.len() < 64 * 1024, "the 8 MiB log line reached stderr whole ({} bytes)", run.stderr.len());
    // The line is there, cut at the host's 4 KiB limit and marked as cut.
    let cut = format!("{}…", "x".repeat(4096));
    let line =
        run.stderr.lines().find(|l| l.contains("xxxx")).unwrap_or_else(|| panic!("no log line:\n{}", run.stderr));
    assert!(line.contains(&cut) && !line.contains(&"x".repeat(4097)), "not cut at 4096 bytes with `…`: {line:.200}");
    assert!(line.contains("INFO") && line.contains("hostile"), "the line names its level and connector: {line:.200}");
    assert_eq!(env.rows("lake/loot").len(), 1);
}

/// A stream name becomes `<sink>/<stream>/`: every name that would leave that
/// folder, read as a Hive partition or reach the sink's staging is refused at
/// discovery, before anything is written anywhere.
#[test]
fn stream_names_that_would_escape_their_folder_are_refused() {
    let env = env();
    for name in ["../../escaped", "/tmp/escaped", "loot/dt=2099-01-01", "_staging/attack", ".hidden", "a\\u0000b"] {
        hostile(&env, "stream-name", name, "");
        let run = env.headwater(&["run", "attack.toml"]).fails(1, &["connector `hostile`", "stream name", "discover"]);
        assert!(!run.stderr.contains("panicked"), "the host panicked:\n{}", run.stderr);
        assert!(!env.exists("lake"), "`{name}`: the run wrote into the sink");
        assert!(!env.path("..").join("escaped").exists() && !std::path::Path::new("/tmp/escaped").exists());
    }
    // `check` refuses the same names, so a bad connector is found before a run.
    hostile(&env, "stream-name", "../../escaped", "");
    env.headwater(&["check", "attack.toml"]).fails(1, &["stream name `../../escaped`"]);
}

/// An attack that comes after a committed checkpoint: the run fails naming the
/// connector and the rule, the host does not crash, and the committed row stays.
#[track_caller]
fn refused_after_a_commit(env: &Env, needles: &[&str]) {
    let run = env.headwater(&["run", "attack.toml"]).fails(1, &[&["connector `hostile`"], needles].concat());
    for crash in ["panicked", "overflow", "memory allocation", "Aborted"] {
        assert!(!run.stderr.contains(crash), "the host crashed ({crash}):\n{}", run.stderr);
    }
    let values: Vec<_> = env.rows("lake/loot").into_iter().map(|r| r["value"].clone()).collect();
    assert_eq!(values, vec![serde_json::json!("committed")], "committed data changed");
}

/// A few hundred bytes of Arrow IPC claiming four billion rows are refused
/// from the header, before arrow sizes a buffer by the claim.
#[test]
fn a_batch_claiming_billions_of_rows_is_refused_before_anything_is_allocated() {
    let env = env();
    hostile(&env, "huge-batch", "", "");
    refused_after_a_commit(&env, &["4000000000 rows", "max_emit_cells"]);
}

/// JSON nested 100,000 deep, as emitted rows or inside an API page, is refused at
/// `[limits] max_json_depth` instead of overflowing the host's stack.
#[test]
fn json_nested_deeper_than_the_limit_is_refused() {
    for attack in ["deep-json", "deep-records"] {
        let env = env();
        hostile(&env, attack, "", "");
        refused_after_a_commit(&env, &["max_json_depth = 128"]);
    }
}

/// A records pointer whose first character is multi-byte once panicked the host.
#[test]
fn a_records_pointer_that_is_not_a_pointer_is_refused() {
    let env = env();
    hostile(&env, "pointer", "é/x", "");
    refused_after_a_commit(&env, &["`é/x` is not a JSON pointer"]);
}

/// Lineage columns are the host's: a connector's column named like one, in any
/// case, is refused (a case-insensitive reader would have read the forged value).
#[test]
fn a_column_forging_lineage_in_any_case_is_refused() {
    for forged in ["_hw_run_id", "_HW_RUN_ID", "_Hw_Extracted_At"] {
        let env = env();
        hostile(&env, "lineage", forged, "");
        refused_after_a_commit(&env, &[forged, "reserved"]);
    }
}

/// A partition value is repeated over every row of its file: one of a megabyte is
/// refused before a row is read.
#[test]
fn a_partition_value_longer_than_a_path_segment_is_refused() {
    let env = env();
    env.write("data/ok.csv", "value\na\nb\n");
    hostile(&env, "partition", "1048576", "");
    refused_after_a_commit(&env, &["ok.csv", "1048576 bytes", "255"]);
    // A short one is a column like any other.
    hostile(&env, "partition", "10", "");
    env.headwater(&["run", "attack.toml"]).ok();
    let loaded: Vec<_> = env.rows("lake/loot").into_iter().filter(|r| r["value"] == "a" || r["value"] == "b").collect();
    assert_eq!(loaded.len(), 2);
    assert!(loaded.iter().all(|r| r["dt"] == "x".repeat(10)), "{loaded:?}");
}
