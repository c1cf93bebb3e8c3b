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

#[test]
fn a_connector_that_is_not_installed() {
    let env = crate::env();
    env.write("p.toml", GOOD);
    env.headwater(&["run", "p.toml"]).fails(2, &["connector `rest` is not installed", "headwater connector install"]);
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
