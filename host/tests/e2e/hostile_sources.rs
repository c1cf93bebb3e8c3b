//! Sources that are themselves hostile or broken, met by the real `rest`
//! connector: a decompression bomb, an endless body, a one-byte-a-second
//! trickle, a redirect loop, a megabyte header, a page too big for the
//! connector's memory, and paginators that never end. Each fails its own stream
//! naming the limit that stopped it, and the host stays alive: the pipeline's
//! other stream lands in full beside it.

use headwater_mock::hostile::{HostileApi, Hostility};
use headwater_testkit::Env;

/// A pipeline of two streams: `orders` from a well-behaved route, and `bad` from
/// the hostile route `path` (with `stream_extra` added to its table).
fn pipeline(env: &Env, hostile: &HostileApi, path: &str, stream_extra: &str, limits: &str) {
    env.write(
        "p.toml",
        format!(
            r#"
name = "hostile-sources"
[source]
connector = "rest"
[source.config]
base_url = "{bad}"
[[source.config.streams]]
name = "orders"
path = "/good"
records = "/data"
primary_key = ["id"]
paginator = {{ type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor" }}
[[source.config.streams]]
name = "bad"
path = "{path}"
records = "/data"
paginator = {{ type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor" }}
{stream_extra}
[allow]
hosts = ["{bad_host}"]
[limits]
request_timeout_s = 3
max_retries = 1
{limits}
[sink]
path = "lake"
"#,
            bad = hostile.url(),
            bad_host = hostile.host(),
        ),
    );
}

/// Runs the pipeline and asserts what every attack must come to: exit 1, the
/// `bad` stream failed naming each of `needles`, no panic, and `orders` landed whole.
#[track_caller]
fn bad_stream_fails(env: &Env, needles: &[&str]) -> serde_json::Value {
    let run = env.headwater(&["run", "p.toml", "--json"]);
    assert_eq!(run.code, 1, "expected the run to fail:\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("panicked"), "the host panicked:\n{}", run.stderr);
    let summary = run.json();
    let streams = summary["streams"].as_array().expect("a stream list");
    let bad = streams.iter().find(|s| s["stream"] == "bad").expect("the bad stream is reported");
    assert_eq!(bad["status"], "failed", "{bad}");
    let error = bad["error"].as_str().unwrap_or_else(|| panic!("`bad` has no error: {bad}"));
    for n in needles {
        assert!(error.contains(n), "the error does not mention `{n}`: {error}");
    }
    let good = streams.iter().find(|s| s["stream"] == "orders").expect("orders is reported");
    assert_eq!(good["status"], "ok", "the other stream must not be affected: {good}");
    let ids: Vec<i64> = env.rows("lake/orders").iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 3, "the other stream lands whole: {ids:?}");
    bad.clone()
}

fn setup(hostility: Hostility) -> (Env, HostileApi) {
    (crate::env_with("rest"), HostileApi::start(hostility))
}

#[test]
fn a_decompression_bomb_is_capped_by_what_it_expands_to() {
    let (env, hostile) = setup(Hostility::default());
    pipeline(&env, &hostile, "/bomb", "", "max_response_mb = 16");
    // 256 MiB of JSON whitespace in about 256 KiB of gzip: the cap counts the 256 MiB.
    let bad = bad_stream_fails(&env, &["/bomb", "larger than [limits] max_response_mb = 16"]);
    assert_eq!(bad["total_rows"], 0, "nothing of the failed stream is committed: {bad}");
}

#[test]
fn an_endless_body_is_cut_at_the_response_cap() {
    let (env, hostile) = setup(Hostility::default());
    pipeline(&env, &hostile, "/endless", "", "max_response_mb = 8");
    let bad = bad_stream_fails(&env, &["/endless", "larger than [limits] max_response_mb = 8"]);
    assert_eq!(bad["total_rows"], 0, "nothing of the failed stream is committed: {bad}");
}

#[test]
fn a_server_that_trickles_a_byte_a_second_is_cut_at_the_request_timeout() {
    let (env, hostile) = setup(Hostility::default());
    pipeline(&env, &hostile, "/trickle", "", "");
    let bad = bad_stream_fails(&env, &["/trickle", "[limits] request_timeout_s = 3"]);
    assert_eq!(bad["total_rows"], 0, "nothing of the failed stream is committed: {bad}");
}

#[test]
fn a_redirect_loop_ends_at_the_redirect_limit() {
    let (env, hostile) = setup(Hostility::default());
    pipeline(&env, &hostile, "/loop", "", "");
    let bad = bad_stream_fails(&env, &["/loop", "more than 10 redirects"]);
    assert_eq!(bad["total_rows"], 0, "nothing of the failed stream is committed: {bad}");
    assert!(hostile.requests() <= 11 * 2, "redirects are bounded: {} requests", hostile.requests());
}

#[test]
fn a_megabyte_header_is_refused() {
    let (env, hostile) = setup(Hostility::default());
    pipeline(&env, &hostile, "/big-header", "", "");
    let bad = bad_stream_fails(&env, &["/big-header", "header"]);
    assert_eq!(bad["total_rows"], 0, "nothing of the failed stream is committed: {bad}");
}

#[test]
fn a_page_too_big_for_the_connectors_memory_names_the_limits() {
    let (env, hostile) = setup(Hostility { page_bytes: 40 << 20, ..Hostility::default() });
    // Within max_response_mb, but not within the memory the connector may use.
    pipeline(&env, &hostile, "/huge-page", "", "max_response_mb = 64\nmemory_mb = 32");
    let bad = bad_stream_fails(&env, &["memory_mb = 32"]);
    assert_eq!(bad["total_rows"], 0, "nothing of the failed stream is committed: {bad}");
}

#[test]
fn a_paginator_returning_the_same_cursor_forever_fails_at_the_repeat() {
    let (env, hostile) = setup(Hostility::default());
    pipeline(&env, &hostile, "/same-cursor", "", "");
    bad_stream_fails(&env, &["the same cursor again"]);
    assert!(hostile.requests() <= 4, "the repeat is seen at once: {} requests", hostile.requests());
}

#[test]
fn a_paginator_with_a_new_cursor_on_every_page_ends_at_max_pages() {
    let (env, hostile) = setup(Hostility::default());
    pipeline(&env, &hostile, "/forever", "max_pages = 40", "");
    bad_stream_fails(&env, &["max_pages = 40"]);
    assert!(hostile.requests() <= 42, "{} requests for max_pages = 40", hostile.requests());
}
