//! `hostile`: the security model, one hostile connector attack per rule. Each
//! time the host refuses, survives, says clearly what happened, and commits nothing.

use headwater_mock::MockApi;
use headwater_mock::hostile::{HostileApi, Hostility};
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
    nothing_left_staged(env);
}

/// Review T1: `parquet_files` does not see `*.parquet.staged`, so leftover
/// staging went unnoticed; a refused attack leaves none.
#[track_caller]
fn nothing_left_staged(env: &Env) {
    let staged: Vec<_> = crate::crash::walk(&env.path("lake")).into_iter().filter(|p| p.ends_with(".staged")).collect();
    assert!(staged.is_empty(), "an attack left files staged: {staged:?}");
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

/// Review D17: a connector's error was copied and escaped whole; 8 MiB of it
/// reached the terminal. It is cut to 4 KiB.
#[test]
fn a_connector_error_of_megabytes_is_cut() {
    let env = env();
    hostile(&env, "long-error", "", "");
    let run = env.headwater(&["run", "attack.toml"]).fails(1, &["connector `hostile` failed in read", "start EEEE"]);
    assert!(run.stderr.len() < 20_000, "{} bytes of error", run.stderr.len());
    assert!(!run.stderr.contains(" end"), "the end of the message is cut");
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

/// Under a soft limit on open files below what the streams may hold (256 here,
/// 1024 is a common default), the host lifts it to the hard limit at start: a
/// connector opening files without end meets the host's own handle limit, not
/// the process's, so it cannot take the other streams' file descriptors.
#[test]
fn a_low_open_file_limit_is_lifted_so_the_handle_limit_is_what_a_connector_meets() {
    use std::os::unix::process::CommandExt as _;
    let env = env();
    hostile(&env, "readers", "ok.txt", "");
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct passed.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    assert!(limit.rlim_max >= 2048, "the hard limit on open files ({}) is too low for this test", limit.rlim_max);
    limit.rlim_cur = 256;
    let mut command = env.command(&["run", "attack.toml"]);
    // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("close readers you no longer need"), "the host's handle limit, not the OS's:\n{stderr}");
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
    nothing_left_staged(env);
}

/// A few hundred bytes of Arrow IPC claiming four billion rows are refused
/// from the header, before arrow sizes a buffer by the claim.
#[test]
fn a_batch_claiming_billions_of_rows_is_refused_before_anything_is_allocated() {
    let env = env();
    hostile(&env, "huge-batch", "", "");
    refused_after_a_commit(&env, &["4000000000 rows", "max_emit_cells"]);
}

/// Review D15: a one-row `LargeList<Null>` claiming four billion children passed
/// the rows × columns check, and Parquet's level builder then built every child.
/// The values of every array, children included, are counted from the header.
#[test]
fn a_list_claiming_billions_of_children_is_refused_before_anything_is_allocated() {
    let env = env();
    hostile(&env, "huge-list", "", "");
    refused_after_a_commit(&env, &["4000000001 values", "max_emit_cells"]);
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

/// `emit-records` returns once a page is split and its records decode while the
/// connector goes on: a connector that ignores every error after a page whose
/// records do not decode still commits none of it, nor anything after it, and
/// the failure names the page.
#[test]
fn a_page_whose_records_fail_later_commits_nothing_even_when_its_errors_are_ignored() {
    let env = env();
    hostile(&env, "ignored-bad-page", "", "");
    refused_after_a_commit(&env, &["page 1 of this call's emit-records", "not an object"]);
}

/// Review D2: a pointer of 100,000 segments over a page nested as deep
/// recursed once per segment on the host call's fiber stack (SIGSEGV); it is
/// refused at `[limits] max_json_depth`, before the page is walked.
#[test]
fn a_records_pointer_deeper_than_the_depth_limit_is_refused() {
    let env = env();
    hostile(&env, "deep-pointer", "", "");
    refused_after_a_commit(&env, &["more than 128 segments", "max_json_depth"]);
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

/// The hostile API, and the `[allow]` lines (and a bearer credential `api`) that reach it.
fn reachable(secret: &str) -> (HostileApi, String) {
    let api = HostileApi::start(Hostility::default());
    let host = api.host();
    let extra =
        format!("hosts = [\"{host}\"]\n[auth.api]\nkind = \"bearer\"\ntoken = \"{secret}\"\nhosts = [\"{host}\"]");
    (api, extra)
}

/// Review D10: a host rule without a scheme allows http, and the connector chose
/// `http://` for a request carrying the credential, which then went out in clear
/// text. A credential goes only over https unless its own rule says `http://`
/// (or the host is this machine); refused before any connection is made.
#[test]
fn a_credential_is_not_sent_over_plain_http_to_a_remote_host() {
    let env = env();
    let extra = "hosts = [\"api.example.com\"]\n[auth.api]\nkind = \"bearer\"\ntoken = \"s3cr3t\"\nhosts = [\"api.example.com\"]";
    hostile(&env, "echo", "http://api.example.com/echo", extra);
    let run = env.headwater(&["run", "attack.toml"]).fails(1, &["credential `api` is sent only over https"]);
    assert!(run.stderr.contains("http://api.example.com:80 is plain http"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cr3t"));
}

#[test]
fn a_host_header_that_would_pick_a_virtual_host_is_refused_unsent() {
    let env = env();
    let (api, extra) = reachable("unused");
    hostile(&env, "host-header", &format!("{}/echo", api.url()), &extra);
    refused(&env, &["header `host` is set by the host, not by a connector"]);
    assert_eq!(api.requests(), 0, "the request must not be sent");
}

#[test]
fn trace_and_other_undocumented_methods_are_refused_unsent() {
    let env = env();
    let (api, extra) = reachable("s3cr3t-value");
    hostile(&env, "trace", &format!("{}/echo", api.url()), &extra);
    let run = env.headwater(&["run", "attack.toml"]).fails(1, &["HTTP method `TRACE` is not allowed"]);
    assert!(!run.stderr.contains("s3cr3t-value"));
    assert_eq!(api.requests(), 0, "the request must not be sent");
}

/// A server that reflects the request hands the injected credential back in its
/// body and a header: the host cuts it out before the connector sees either.
#[test]
fn a_reflecting_server_cannot_hand_the_credential_back() {
    let env = env();
    let secret = "s3cr3t-bearer-7f9c2b";
    let (api, extra) = reachable(secret);
    hostile(&env, "echo", &format!("{}/echo", api.url()), &extra);
    env.headwater(&["run", "attack.toml"]).ok();
    assert_eq!(api.requests(), 1);
    let rows = env.rows("lake/loot");
    let values: Vec<&str> = rows.iter().filter_map(|r| r["value"].as_str()).collect();
    assert_eq!(values.len(), 4, "the committed row, the two loot rows and the last: {values:?}");
    assert!(values.iter().any(|v| v.contains("authorization: Bearer")), "the server did echo: {values:?}");
    assert!(values.iter().any(|v| v.contains("x-echo-authorization")), "and reflected a header: {values:?}");
    for v in &values {
        assert!(!v.contains(secret), "the credential reached the connector's rows: {v}");
    }
}

/// Escape sequences and line breaks a connector writes reach the terminal only as
/// text: no clipboard write, title change or screen clear, no forged log line.
#[test]
fn terminal_escapes_in_logs_and_errors_are_shown_escaped() {
    let env = env();
    hostile(&env, "ansi", "", "");
    let run = env.headwater(&["run", "attack.toml", "-v"]).fails(1, &["\\u{1b}]0;pwned", "\\u{1b}[2J"]);
    // The host's own log colours are SGR sequences; the connector's OSC and clear-screen never pass raw.
    assert!(!run.stderr.contains("\u{1b}]") && !run.stderr.contains("\u{1b}[2J"), "a raw escape:\n{}", run.stderr);
    assert!(run.stderr.contains("\\u{1b}]52;c;"), "the log line is shown, escaped:\n{}", run.stderr);
    assert!(!run.stderr.contains('\r'), "a raw CR reached the terminal");
    for line in run.stderr.lines() {
        assert!(!line.starts_with("INFO forged") && !line.starts_with("run ok"), "a forged line: {line}");
    }
}

/// `%2e%2e/` resolved by the URL parser climbs above an HTTP root's prefix: it is
/// refused before any request is sent, so the root's credential goes nowhere.
#[test]
fn an_http_root_cannot_be_escaped_with_encoded_dots() {
    let env = env();
    let (api, extra) = reachable("root-secret");
    let root = format!("{}/exports/", api.url());
    hostile(&env, "file", &format!("{root}|%2e%2e/echo"), &extra);
    let text = std::fs::read_to_string(env.path("attack.toml")).unwrap();
    let files = format!("files = [\"./data\", {{ root = \"{root}\", auth = \"api\" }}]");
    env.write("attack.toml", text.replace("files = [\"./data\"]", &files));
    refused(&env, &["%2e%2e/echo", "outside"]);
    assert_eq!(api.requests(), 0, "nothing may be requested outside the prefix");
}

/// The compiled code cached beside an installed connector is pinned: another
/// connector's code swapped in is not run under this one's name.
#[test]
fn a_swapped_compiled_cache_is_not_run() {
    let env = env();
    env.install("rest");
    let cached = |name: &str| {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.path(&format!("home/connectors/{name}/manifest.json"))).unwrap())
                .unwrap();
        let sha = manifest["sha256"].as_str().unwrap().to_string();
        std::fs::read_dir(env.path("home/cache"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name().unwrap().to_string_lossy().starts_with(&sha)
                    && p.extension().is_some_and(|x| x == "cwasm")
            })
            .unwrap_or_else(|| panic!("no cached code for {name}"))
    };
    let (hostile_code, rest_code) = (cached("hostile"), cached("rest"));
    assert_eq!(hostile_code.extension().unwrap(), "cwasm");
    std::fs::copy(&rest_code, &hostile_code).unwrap();
    hostile(&env, "ambient", "", "");
    let discovered = env.headwater(&["discover", "attack.toml", "--json"]).ok();
    assert!(discovered.stdout.contains("\"loot\""), "the hostile connector's own code ran:\n{}", discovered.stdout);
    assert_ne!(std::fs::read(&hostile_code).unwrap(), std::fs::read(&rest_code).unwrap(), "the cache was rebuilt");
}

/// Review D14: a component named by path trusted any `.cwasm` in the cache that
/// bore its name, so code planted there ran under its name. Only native code
/// the host recorded writing is loaded; anything else is compiled again.
#[test]
fn planted_compiled_code_is_not_run_for_a_component_named_by_path() {
    let env = env();
    env.install("rest");
    let wasm = headwater_testkit::component("hostile");
    let pipeline = format!(
        "name = \"attack\"\n[source]\npath = \"{}\"\nconfig = {{ attack = \"ambient\", target = \"\" }}\n[allow]\nfiles = [\"./data\"]\n[sink]\npath = \"lake\"\n",
        wasm.display()
    );
    env.write("by-path.toml", pipeline);
    env.headwater(&["discover", "by-path.toml", "--json"]).ok();
    let cache: Vec<_> = std::fs::read_dir(env.path("home/cache")).unwrap().flatten().map(|e| e.path()).collect();
    let sha = hex_sha256(&std::fs::read(&wasm).unwrap());
    let mine = cache
        .iter()
        .find(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with(&sha) && p.extension().is_some_and(|x| x == "cwasm")
        })
        .expect("the path-named component was cached");
    let other = cache
        .iter()
        .find(|p| {
            !p.file_name().unwrap().to_string_lossy().starts_with(&sha) && p.extension().is_some_and(|x| x == "cwasm")
        })
        .expect("rest's code is cached too");
    std::fs::copy(other, mine).unwrap();
    let discovered = env.headwater(&["discover", "by-path.toml", "--json"]).ok();
    assert!(discovered.stdout.contains("\"loot\""), "the hostile component's own code ran:\n{}", discovered.stdout);
    assert_ne!(std::fs::read(mine).unwrap(), std::fs::read(other).unwrap(), "the cache was rebuilt");
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A connector of a sliced stream that opens or loads by path a file its
/// listing did not return (another worker's slice, spelt plainly or as `./…`) is
/// refused: the slice is the host's to enforce, not the connector's to honour.
#[test]
fn a_sliced_stream_cannot_reach_another_slices_files() {
    let env = env();
    let shard = headwater::Shard::new(1, 2).unwrap();
    let names: Vec<String> = (0..16).map(|i| format!("f{i}.csv")).collect();
    for name in &names {
        env.write(&format!("data/{name}"), "value\nx\n");
    }
    let theirs = names.iter().find(|n| !shard.owns_file(n)).expect("some file is the other slice's");
    let ours = names.iter().find(|n| shard.owns_file(n)).expect("some file is this slice's");
    let pipeline = |attack: &str, target: &str| {
        env.write(
            "sliced.toml",
            format!(
                "name = \"sliced\"\n[source]\nconnector = \"hostile\"\nconfig = {{ attack = \"{attack}\", target = \"{target}\" }}\n\
                 [allow]\nfiles = [\"./data\"]\n[sink]\npath = \"lake\"\nformat = \"delta\"\n[sharding]\nslice = [\"loot\"]\n"
            ),
        );
    };
    for (attack, path) in [("load", theirs.clone()), ("load", format!("./{theirs}")), ("file", theirs.clone())] {
        pipeline(attack, &format!("./data|{path}"));
        let run = env.headwater(&["run", "sliced.toml", "--shard", "1/2"]).fails(1, &["another worker's slice", "1/2"]);
        assert!(!run.stderr.contains("panicked at host/"), "{}", run.stderr);
    }
    // The same attack on a file of its own slice is an ordinary load.
    pipeline("load", &format!("./data|{ours}"));
    env.headwater(&["run", "sliced.toml", "--shard", "1/2"]).ok();
}

/// A compile bomb: a component of a few megabytes whose functions each keep
/// 49,000 values live at once (nearly the most locals a function may have), which
/// takes Cranelift seconds of CPU and hundreds of megabytes per function. It is
/// compiled in a child process under the compile limits, stopped at each, and
/// refused with a message naming the limit and the variable that raises it;
/// nothing is installed. (The limits here are set low to keep the test short;
/// the defaults are 300 s and 4096 MB.)
#[test]
fn a_compile_bomb_is_stopped_at_the_compile_limits() {
    let mut env = crate::env();
    env.write("bomb.wasm", compile_bomb(8, 49_000));
    let mut timed = crate::env();
    timed.var("HEADWATER_COMPILE_TIMEOUT_S", "1");
    timed.write("bomb.wasm", compile_bomb(8, 49_000));
    timed
        .headwater(&["connector", "install", "bomb.wasm", "--name", "bomb"])
        .fails(2, &["bomb.wasm", "compile time limit of 1 s", "HEADWATER_COMPILE_TIMEOUT_S"]);
    env.var("HEADWATER_COMPILE_MEMORY_MB", "64");
    env.headwater(&["connector", "install", "bomb.wasm", "--name", "bomb"])
        .fails(2, &["bomb.wasm", "compile memory limit of 64 MB", "HEADWATER_COMPILE_MEMORY_MB"]);
    let listed = env.headwater(&["connector", "list"]).ok();
    assert!(!listed.stdout.contains("bomb"), "nothing installed:\n{}", listed.stdout);
    // Under the same limits an honest connector compiles and installs.
    let files = headwater_testkit::component("files");
    env.headwater(&["connector", "install", files.to_str().unwrap(), "--name", "files"]).ok();
    env.var("HEADWATER_COMPILE_TIMEOUT_S", "soon");
    env.headwater(&["connector", "list"]).fails(2, &["HEADWATER_COMPILE_TIMEOUT_S", "\"soon\""]);
}

/// A component holding one core module of `functions` functions, each with
/// `locals` i64 locals defined one from another and all summed at the end, so
/// every one is live until then.
fn compile_bomb(functions: u32, locals: u32) -> Vec<u8> {
    fn leb(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u64, out);
        out.extend_from_slice(body);
    }
    let mut body = Vec::new();
    leb(1, &mut body); // one group of locals:
    leb(u64::from(locals), &mut body);
    body.push(0x7e); // i64
    body.extend_from_slice(&[0x20, 0x00, 0xad, 0x21, 0x01]); // local 1 = i64(param 0)
    for i in 2..locals {
        let other = 1 + (u64::from(i) * 7919) % u64::from(i - 1);
        body.push(0x20);
        leb(u64::from(i - 1), &mut body);
        body.push(0x20);
        leb(other, &mut body);
        body.extend_from_slice(&[0x7c, 0x21]); // i64.add; local.set i
        leb(u64::from(i), &mut body);
    }
    body.extend_from_slice(&[0x42, 0x00]); // i64.const 0
    for i in 1..locals {
        body.push(0x20);
        leb(u64::from(i), &mut body);
        body.push(0x7c);
    }
    body.extend_from_slice(&[0xa7, 0x0b]); // i32.wrap_i64; end
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f], &mut module); // type (i32) -> i32
    let mut funcs = Vec::new();
    leb(u64::from(functions), &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, functions as usize));
    section(3, &funcs, &mut module);
    let mut code = Vec::new();
    leb(u64::from(functions), &mut code);
    for _ in 0..functions {
        leb(body.len() as u64, &mut code);
        code.extend_from_slice(&body);
    }
    section(10, &code, &mut module);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, &module, &mut component); // a core module section
    component
}
