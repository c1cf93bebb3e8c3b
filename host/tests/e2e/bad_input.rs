//! Bad input exits 2 with a message naming the problem, and writes nothing.

use headwater_testkit::Env;

/// Neither a sink folder nor a state store exists.
#[track_caller]
pub(crate) fn nothing_written(env: &Env) {
    assert!(!env.exists("lake"), "a sink folder was created");
    assert!(!env.exists(".headwater"), "a state store was created");
}

/// A valid pipeline for the `rest` connector (its API is never reached).
pub(crate) const GOOD: &str = r#"
name = "p"
[source]
connector = "rest"
[source.config]
base_url = "http://127.0.0.1:9"
[[source.config.streams]]
name = "orders"
path = "/orders"
[allow]
hosts = ["127.0.0.1:9"]
[sink]
path = "lake"
"#;

#[test]
fn a_pipeline_file_with_a_syntax_error() {
    let env = crate::env_with("rest");
    env.write("p.toml", GOOD.replace("[sink]", "[sink"));
    env.headwater(&["run", "p.toml"]).fails(2, &["p.toml", "invalid pipeline file", "line 12"]);
    nothing_written(&env);
}

/// A name that is neither installed nor built in: the message names what a
/// pipeline can use instead.
#[test]
fn a_connector_that_is_not_installed() {
    let env = crate::env();
    env.write("p.toml", GOOD.replace("connector = \"rest\"", "connector = \"restful\""));
    env.headwater(&["run", "p.toml"]).fails(
        2,
        &["connector `restful` is not installed", "headwater connector install", "files (built in), rest (built in)"],
    );
    nothing_written(&env);
}

#[test]
fn config_that_violates_the_connectors_schema_names_the_field() {
    let env = crate::env_with("rest");
    env.write("p.toml", GOOD.replace("path = \"/orders\"", "path = 42\nrecrods = \"/data\""));
    env.headwater(&["run", "p.toml"]).fails(
        2,
        &["p.toml", "[source] config does not match the schema of connector `rest`", "/streams/0/path", "recrods"],
    );
    nothing_written(&env);
}

#[test]
fn a_wasm_file_that_is_not_a_component() {
    let env = crate::env();
    // The smallest valid core module: magic and version 1.
    let module = env.write("module.wasm", b"\0asm\x01\0\0\0");
    env.headwater(&["connector", "install", module.to_str().unwrap()])
        .fails(2, &["module.wasm", "core WebAssembly module, not a component"]);
    let junk = env.write("junk.wasm", b"MZ this is not wasm");
    env.headwater(&["connector", "install", junk.to_str().unwrap()]).fails(2, &["junk.wasm", "not a WebAssembly file"]);
    assert!(!env.exists("home/connectors"));
}

#[test]
fn an_unknown_stream_is_a_usage_error() {
    let env = crate::env_with("rest");
    env.write("p.toml", GOOD);
    env.headwater(&["run", "p.toml", "--stream", "nope"]).fails(2, &["--stream nope", "streams: orders"]);
    assert!(!env.exists("lake"));
}

/// Each mistake in a pipeline file exits 2, names the key or value at fault, and
/// writes nothing: a table, so that every case is held to the same three rules.
#[test]
fn mistakes_in_the_pipeline_file_each_name_the_key() {
    let auth = |token: &str| format!("[auth.api]\nkind = \"bearer\"\ntoken = \"{token}\"\n");
    let cases: Vec<(String, Vec<&str>)> = vec![
        // A typo of a known key, with the key it is close to.
        (
            GOOD.replace("[sink]", "[limits]\nmax_retires = 3\n[sink]"),
            vec!["unknown field `max_retires`", "did you mean `max_retries`?"],
        ),
        (GOOD.replace("path = \"lake\"", "paht = \"lake\""), vec!["unknown field `paht`", "did you mean `path`?"]),
        (
            format!("{GOOD}{}", auth("${env:HEADWATER_TEST_NEVER_SET}")),
            vec!["[auth.api] token", "HEADWATER_TEST_NEVER_SET is not set"],
        ),
        (
            format!("{GOOD}{}", auth("token ${env:HEADWATER_TEST_NEVER_SET}")),
            vec!["[auth.api] token", "HEADWATER_TEST_NEVER_SET is not set"],
        ),
        (format!("{GOOD}{}", auth("token ${env:HOME")), vec!["[auth.api] token", "never closed"]),
        (
            format!("{GOOD}{}", auth("${vault:api}")),
            vec!["[auth.api] token", "neither `${env:VAR}` nor `${file:PATH}`"],
        ),
        (
            GOOD.replace("[sink]", "[limits]\nrequests_per_second = 5\nburst = 0\n[sink]"),
            vec!["[limits] burst must be at least 1"],
        ),
        (GOOD.replace("[sink]", "[limits]\nrequest_timeout_s = 0\n[sink]"), vec!["request_timeout_s"]),
        (GOOD.replace("[sink]", "[limits]\ncall_timeout_s = 0\n[sink]"), vec!["call_timeout_s"]),
    ];
    for (text, needles) in cases {
        let env = crate::env_with("rest");
        env.write("p.toml", &text);
        let mut needles = needles;
        needles.push("p.toml");
        env.headwater(&["run", "p.toml"]).fails(2, &needles);
        nothing_written(&env);
    }
}

#[test]
fn a_truncated_component_is_refused_at_install() {
    let env = crate::env();
    let whole = std::fs::read(headwater_testkit::component("rest")).unwrap();
    let cut = env.write("rest.wasm", &whole[..whole.len() / 2]);
    env.headwater(&["connector", "install", cut.to_str().unwrap()]).fails(2, &["rest.wasm"]);
    assert!(!env.exists("home/connectors/rest.wasm"));
}

#[test]
fn a_sink_path_that_is_a_file_is_named() {
    let env = crate::env_with("rest");
    env.write("lake", "not a folder");
    env.write("p.toml", GOOD);
    env.headwater(&["run", "p.toml"]).fails(2, &["[sink] path", "lake", "is a file, not a folder"]);
    assert_eq!(std::fs::read_to_string(env.path("lake")).unwrap(), "not a folder");
    assert!(!env.exists(".headwater"), "a state store was created");
}

/// A state store stamped with a format this build does not read is refused,
/// never misread, by every command that opens it.
#[test]
fn a_state_store_of_another_format_is_refused() {
    let env = crate::env_with("rest");
    env.write("p.toml", GOOD);
    env.headwater(&["state", "show", "p.toml"]).ok();
    {
        let db = sled::open(env.path(".headwater")).unwrap();
        assert_eq!(db.get("format").unwrap().as_deref(), Some(&b"1"[..]), "the store was stamped");
        db.insert("format", "7").unwrap();
        db.flush().unwrap();
    }
    for args in [&["run", "p.toml"][..], &["state", "show", "p.toml"], &["state", "reset", "p.toml"]] {
        env.headwater(args).fails(2, &[".headwater", "state store of format 7", "reads format 1"]);
    }
    assert!(!env.exists("lake"));
}
