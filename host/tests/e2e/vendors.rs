//! Real vendors' APIs, through the `rest` connector, against mocks modelled on
//! their public docs (`headwater_mock::vendors`): a full load, changes at the
//! source, then an incremental run, each read back row by row.

use headwater_mock::vendors::stripe_charge;
use headwater_mock::{MockApi, orders};
use headwater_testkit::Env;
use serde_json::Value;

/// A pipeline of one `rest` stream (`stream`: TOML lines), with `extra` sections.
fn pipeline(env: &Env, api: &MockApi, stream: &str, extra: &str) {
    env.write(
        "vendor.toml",
        format!(
            "name = \"vendor\"\n[source]\nconnector = \"rest\"\n[source.config]\nbase_url = \"{url}\"\n\
             [[source.config.streams]]\n{stream}\n[allow]\nhosts = [\"{host}\"]\n{extra}\n[sink]\npath = \"lake\"\n",
            url = api.url(),
            host = api.host()
        ),
    );
}

/// The charges in the sink, by id, each compared field by field with the source's.
#[track_caller]
fn assert_same_charges(env: &Env, source: &[Value]) {
    let mut rows = env.rows("lake/charges");
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let mut expected: Vec<Value> = source.iter().map(stripe_charge).collect();
    expected.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    assert_eq!(rows.len(), expected.len(), "rows in the sink");
    for (row, want) in rows.iter().zip(&expected) {
        for key in ["id", "object", "amount", "currency", "customer", "created", "description", "paid"] {
            assert_eq!(row.get(key).unwrap_or(&Value::Null), &want[key], "{key} of {} in {row:?}", want["id"]);
        }
    }
}

const STRIPE: &str = r#"name = "charges"
path = "/v1/charges"
params = { limit = 100 }
records = "/data"
primary_key = ["id"]
paginator = { type = "last_record", cursor_field = "id", cursor_param = "starting_after", has_more_path = "/has_more" }
incremental = { cursor_field = "created", cursor_param = "created[gte]" }"#;

/// Stripe lists newest first and pages with `starting_after` the last object's
/// id while `has_more`; `created[gte]` is inclusive, so the charges at the
/// watermark come again and the seam drops them.
#[test]
fn stripe_charges_page_by_the_last_id_and_sync_from_created() {
    let env = crate::env_with("rest");
    let api = MockApi::start(orders(1..=250), 100);
    pipeline(&env, &api, STRIPE, "");
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 250, "{run}");
    let pages = api.requests().iter().filter(|r| r.starts_with("/v1/charges")).count();
    assert_eq!(pages, 3, "100 + 100 + 50");
    assert_same_charges(&env, &orders(1..=250));

    // New charges at the source; the next run asks only from the watermark on.
    api.with(|s| s.orders.extend(orders(251..=320)));
    let before = api.requests().len();
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 70, "{run}");
    assert_eq!(run["streams"][0]["deduplicated"], 1, "the charge at the watermark came again: {run}");
    let first = &api.requests()[before];
    let watermark = stripe_charge(&orders(250..=250)[0])["created"].as_i64().unwrap();
    assert!(first.contains(&format!("created%5Bgte%5D={watermark}")), "{first}");
    assert_same_charges(&env, &orders(1..=320));
}

/// Real-world issue: a stream whose paginator does not follow the API's own
/// flag landed the first page and said `ok`. A page that says `has_more` after
/// which the paginator stops fails the stream, naming the flag.
#[test]
fn a_page_that_says_there_is_more_fails_a_paginator_that_stops() {
    let env = crate::env_with("rest");
    let api = MockApi::start(orders(1..=250), 100);
    pipeline(
        &env,
        &api,
        "name = \"charges\"\npath = \"/v1/charges\"\nparams = { limit = 100 }\nrecords = \"/data\"",
        "",
    );
    let run = env.headwater(&["run", "vendor.toml", "--json"]).fails(1, &["`/has_more` is true", "last_record"]);
    assert_eq!(run.json()["streams"][0]["total_rows"], 0, "nothing of a partial sync is committed");
}

/// GitHub answers its rate limits with 403, not 429: the secondary limit with
/// `Retry-After`, the primary one with `X-RateLimit-Remaining: 0`. Both were
/// reported as an auth error; they are waited out like a 429.
#[test]
fn github_rate_limits_answered_with_403_are_waited_out() {
    for header in [("retry-after", "1"), ("x-ratelimit-remaining", "0")] {
        let env = crate::env_with("rest");
        let api = MockApi::start(orders(1..=30), 10);
        api.with(|s| {
            s.throttle_after = 1;
            s.throttle = 1;
            s.throttle_status = 403;
            s.retry_after = String::new();
            s.throttle_headers = vec![(header.0.into(), header.1.into())];
        });
        if header.0 == "retry-after" {
            api.with(|s| s.retry_after = "1".into());
        }
        pipeline(&env, &api, ORDERS, "");
        let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
        assert_eq!(run["streams"][0]["rows"], 30, "{header:?}: {run}");
        let host = &run["hosts"][format!("http://{}", api.host())];
        assert_eq!(host["throttled_429"], 1, "{header:?}: counted as a rate limit: {run}");
    }
}

/// `Stripe-Should-Retry: false` on a 429 is the server saying a retry cannot
/// help: the host does not retry it, and the stream fails naming the status.
#[test]
fn stripe_should_retry_false_is_not_retried() {
    let env = crate::env_with("rest");
    let api = MockApi::start(orders(1..=30), 10);
    api.with(|s| {
        s.throttle = 100;
        s.throttle_headers = vec![("stripe-should-retry".into(), "false".into())];
    });
    pipeline(&env, &api, ORDERS, "");
    env.headwater(&["run", "vendor.toml"]).fails(1, &["429"]);
    assert_eq!(api.requests().len(), 1, "sent once, not retried");
}

/// The generic orders stream, paged by cursor.
const ORDERS: &str = r#"name = "orders"
path = "/orders"
records = "/data"
primary_key = ["id"]
paginator = { type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor" }"#;

/// GitHub's `Authorization: token <PAT>`: a credential whose value has a prefix
/// around the reference. The literal `${env:…}` was sent before.
#[test]
fn github_token_auth_with_a_prefix_around_the_secret() {
    let mut env = crate::env_with("rest");
    env.var("GH_TOKEN", "ghp_s3cret");
    let api = MockApi::start(orders(1..=30), 10);
    api.with(|s| s.auth = headwater_mock::Auth::Header("authorization".into(), "token ghp_s3cret".into()));
    let stream = format!("{ORDERS}\nauth = \"gh\"");
    let auth = format!(
        "[auth.gh]\nkind = \"header\"\nheader = \"Authorization\"\nvalue = \"token ${{env:GH_TOKEN}}\"\nhosts = [\"{}\"]",
        api.host()
    );
    pipeline(&env, &api, &stream, &auth);
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 30, "{run}");
    assert_eq!(api.with(|s| s.unauthorized), 0);
}
