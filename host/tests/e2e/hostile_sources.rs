//! Sources that are themselves hostile or broken, met by the real `rest`
//! connector: a decompression bomb, an endless body, a one-byte-a-second
//! trickle, a redirect loop, a megabyte header, a page too big for the
//! connector's memory, and paginators that never end. Each fails its own stream
//! naming the limit that stopped it, and the host stays alive: the pipeline's
//! other stream lands in full beside it.

use crate::api::{cursor_stream, oauth_pipeline, pipeline as api_pipeline};
use headwater_mock::hostile::{HostileApi, Hostility};
use headwater_mock::{Auth, MockApi, orders};
use headwater_testkit::{Env, assert_same_orders};

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
    // Review T6: `"header"` is inside `/big-header`; match hyper's own reason.
    let bad = bad_stream_fails(&env, &["/big-header", "message head is too large"]);
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

/// Runs `api.toml` and asserts what a hostile figure from the server must come
/// to: no panic (exit 101 before review D1's fix), and the stream paused with
/// the wait it was asked for named against `max_wait_s`, its first page kept.
#[track_caller]
fn pauses_at_max_wait(env: &Env) -> serde_json::Value {
    let run = env.headwater(&["run", "api.toml", "--json"]);
    assert!(!run.stderr.contains("panicked"), "the host panicked:\n{}", run.stderr);
    assert_eq!(run.code, 0, "a paused run exits 0:\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let summary = run.json();
    let status = summary["streams"][0]["status"].as_str().unwrap_or_default().to_string();
    assert!(status.starts_with("paused: rate limit") && status.contains("max_wait_s = 5"), "{summary}");
    summary
}

/// Each figure a server may send for how long to wait, at its most hostile:
/// beyond `u64` seconds, infinite, past chrono's dates, a policy whose quota is
/// all but zero. Each once reached a panicking conversion (review D1).
#[test]
fn hostile_rate_limit_headers_pause_the_stream_and_never_crash_the_host() {
    let spent = |reset: &str, dialect: (&str, &str)| {
        vec![(dialect.0.to_string(), "0".to_string()), (dialect.1.to_string(), reset.to_string())]
    };
    let x = ("x-ratelimit-remaining", "x-ratelimit-reset");
    let ietf = ("ratelimit-remaining", "ratelimit-reset");
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        ("X-RateLimit-Reset: inf", spent("inf", x)),
        ("X-RateLimit-Reset: 1e300", spent("1e300", x)),
        ("X-RateLimit-Reset: 1e15 (a Unix time past chrono's dates)", spent("1e15", x)),
        ("X-RateLimit-Reset: 9.3e18", spent("9300000000000000000", x)),
        ("RateLimit-Reset: inf", spent("inf", ietf)),
        ("RateLimit: r=0;t=1e300", vec![("ratelimit".into(), "\"default\";r=0;t=1e300".into())]),
        ("RateLimit-Policy q=1e-320", vec![("ratelimit-policy".into(), "\"x\";q=1e-320;w=60".into())]),
    ];
    for (case, headers) in cases {
        let env = crate::env_with("rest");
        let api = MockApi::start(orders(1..=30), 10);
        api.with(|s| s.extra_headers = headers);
        api_pipeline(&env, &api, &cursor_stream(), "[limits]\nmax_wait_s = 5");
        let summary = pauses_at_max_wait(&env);
        assert_eq!(summary["streams"][0]["rows"], 10, "{case}: the first page is kept: {summary}");
        assert_eq!(api.requests().len(), 1, "{case}: no request is sent before the reset");
    }
}

/// `Retry-After` on a 429 or a 503, in seconds past any clock: the stream
/// pauses (a 503 asking for hours is a maintenance window, not a retry).
#[test]
fn a_retry_after_past_any_clock_pauses_the_stream() {
    for (status, retry_after) in [(429, "10000000000000"), (429, "1e300"), (503, "10000000000000"), (503, "inf")] {
        let env = crate::env_with("rest");
        let api = MockApi::start(orders(1..=30), 10);
        api.with(|s| {
            s.throttle_after = 1;
            s.throttle = 100;
            s.throttle_status = status;
            s.retry_after = retry_after.into();
        });
        api_pipeline(&env, &api, &cursor_stream(), "[limits]\nmax_wait_s = 5");
        let summary = pauses_at_max_wait(&env);
        assert_eq!(summary["streams"][0]["rows"], 10, "{status} {retry_after}: {summary}");
    }
}

/// An OAuth `expires_in` near `u64::MAX` overflowed `Instant + Duration` (review D1).
#[test]
fn an_oauth_token_that_expires_past_any_clock_is_used_without_a_crash() {
    let mut env = crate::env_with("rest");
    env.var("CLIENT_SECRET", "shh");
    let api = MockApi::start(orders(1..=30), 10);
    api.with(|s| {
        s.auth = Auth::OAuth;
        s.expires_in = u64::MAX;
    });
    oauth_pipeline(&env, &api, false);
    let run = env.headwater(&["run", "api.toml"]);
    assert!(!run.stderr.contains("panicked"), "the host panicked:\n{}", run.stderr);
    run.ok();
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=30));
    assert_eq!(api.with(|s| s.token_requests.len()), 1);
}

/// Review D11: a text watermark is source data, and the run summary and `state
/// show` printed it raw: a value with terminal escapes and a line break reached
/// the terminal. Tables show every cell escaped, on one line.
#[test]
fn a_watermark_with_terminal_escapes_is_shown_escaped() {
    let env = crate::env_with("rest");
    let mut source = orders(1..=3);
    source[2]["updated_at"] = serde_json::json!("z\u{1b}]0;pwned\u{7}\r\nforged line");
    let api = MockApi::start(source, 10);
    let stream = format!(
        "{}\nincremental = {{ cursor_field = \"updated_at\", cursor_param = \"updated_since\" }}",
        cursor_stream()
    );
    api_pipeline(&env, &api, &stream, "");
    for args in [&["run", "api.toml"][..], &["state", "show", "api.toml"]] {
        let run = env.headwater(args).ok();
        assert!(run.stdout.contains("z\\u{1b}]0;pwned\\u{7}\\u{d}\\u{a}forged line"), "{args:?}:\n{}", run.stdout);
        assert!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\r'), "{args:?}: a raw escape");
        assert!(!run.stdout.lines().any(|l| l.starts_with("forged")), "{args:?}: a forged line");
    }
}

/// A hostile export file: a Parquet file of 250 KB whose schema nests 20,000
/// groups deep overflowed the decoding thread's stack and aborted the process
/// (every stream with it). It fails its own load, naming the file and the depth;
/// a good file beside it in another stream lands.
#[test]
fn a_parquet_file_nested_past_any_stack_fails_its_stream_not_the_host() {
    use parquet::basic::{Repetition, Type as Physical};
    use parquet::schema::types::Type;
    use std::sync::Arc;
    let env = crate::env();
    let path = env.path("exports/deep/deep.parquet");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Written on a thread with a stack large enough for the parquet crate's own recursion.
    let write = move || {
        let leaf = Type::primitive_type_builder("leaf", Physical::INT32).with_repetition(Repetition::OPTIONAL);
        let mut t = Arc::new(leaf.build().unwrap());
        for i in 0..20_000 {
            let name = format!("g{i}");
            let group = Type::group_type_builder(&name).with_repetition(Repetition::OPTIONAL);
            t = Arc::new(group.with_fields(vec![t]).build().unwrap());
        }
        let root = Arc::new(Type::group_type_builder("schema").with_fields(vec![t]).build().unwrap());
        let file = std::fs::File::create(&path).unwrap();
        parquet::file::writer::SerializedFileWriter::new(file, root, Default::default()).unwrap().close().unwrap();
    };
    std::thread::Builder::new().stack_size(1 << 30).spawn(write).unwrap().join().unwrap();
    env.write("exports/good/a.csv", headwater_mock::orders_csv(&orders(1..=5)));
    for (name, glob) in [("deep", "deep/*.parquet"), ("good", "good/*.csv")] {
        env.write(
            &format!("{name}.toml"),
            format!(
                "name = \"{name}\"\n[source]\nconnector = \"files\"\nconfig = {{ root = \"./exports\", glob = \"{glob}\", stream = \"{name}\" }}\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"lake\"\n"
            ),
        );
    }
    env.headwater(&["run", "deep.toml"]).fails(1, &["deep.parquet", "20001 levels deep"]);
    env.headwater(&["run", "good.toml"]).ok();
    assert_same_orders(&env.rows("lake/good"), &orders(1..=5));
    assert!(!env.exists("lake/deep"), "nothing of the deep file landed");
}
