//! API ingestion with the `rest` connector against the mock API: every
//! paginator, POST bodies, GraphQL, parent/child streams, every credential kind,
//! and the host's HTTP policy (retries, pacing, rate limits, private addresses,
//! a spent quota). Each asserts on the Parquet rows read back.

use headwater_mock::{Auth, MockApi, calendar, orders};
use headwater_testkit::{Env, assert_same_orders};
use std::time::Duration;

const COLUMNS: &str = r#"schema = [
  { name = "id", type = "int64", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "float64" },
  { name = "updated_at", type = "string" },
]"#;

/// A pipeline with one `orders` stream configured by `stream` (TOML lines), plus `extra` sections.
pub(crate) fn pipeline(env: &Env, api: &MockApi, stream: &str, extra: &str) {
    env.write(
        "api.toml",
        format!(
            r#"
name = "api"
[source]
connector = "rest"
[source.config]
base_url = "{url}"
[[source.config.streams]]
name = "orders"
primary_key = ["id"]
{stream}
[allow]
hosts = ["{host}"]
{extra}
[sink]
path = "lake"
"#,
            url = api.url(),
            host = api.host()
        ),
    );
}

fn env() -> Env {
    crate::env_with("rest")
}

/// The `orders` stream paged by cursor, with the declared columns.
pub(crate) fn cursor_stream() -> String {
    format!(
        "path = \"/orders\"\nrecords = \"/data\"\npaginator = {{ type = \"cursor\", cursor_path = \"/next_cursor\", cursor_param = \"cursor\" }}\n{COLUMNS}"
    )
}

#[test]
fn offset_pagination_with_concurrent_pages() {
    let (env, api) = (env(), MockApi::start(orders(1..=1234), 100));
    let stream = format!(
        "path = \"/offset\"\nrecords = \"/items\"\nconcurrency = 4\npaginator = {{ type = \"offset\", limit = 100, total_path = \"/total\" }}\n{COLUMNS}"
    );
    pipeline(&env, &api, &stream, "");
    env.headwater(&["run", "api.toml"]).ok();
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=1234));
    // 13 pages hold the data; fetching 4 at a time asks for at most 3 beyond the end.
    let n = api.requests().len();
    assert!((13..=16).contains(&n), "{n} requests: {:?}", api.requests());
}

#[test]
fn page_number_pagination_stops_at_total_pages() {
    let (env, api) = (env(), MockApi::start(orders(1..=250), 50));
    let stream = format!(
        "path = \"/pages\"\nrecords = \"/results\"\nparams = {{ per_page = 50 }}\npaginator = {{ type = \"page\", total_pages_path = \"/meta/total_pages\" }}\n{COLUMNS}"
    );
    pipeline(&env, &api, &stream, "");
    env.headwater(&["run", "api.toml"]).ok();
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=250));
    assert_eq!(api.requests().len(), 5, "exactly the 5 pages: {:?}", api.requests());
}

#[test]
fn next_url_pagination_follows_relative_links() {
    let (env, api) = (env(), MockApi::start(orders(1..=95), 20));
    let stream = format!(
        "path = \"/next\"\nrecords = \"/items\"\npaginator = {{ type = \"next_url\", next_url_path = \"/links/next\" }}\n{COLUMNS}"
    );
    pipeline(&env, &api, &stream, "");
    env.headwater(&["run", "api.toml"]).ok();
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=95));
    assert_eq!(api.requests().last().unwrap(), "/next?after=80");
}

#[test]
fn link_header_pagination() {
    let (env, api) = (env(), MockApi::start(orders(1..=70), 25));
    let stream = format!("path = \"/linked\"\npaginator = {{ type = \"link_header\" }}\n{COLUMNS}");
    pipeline(&env, &api, &stream, "");
    env.headwater(&["run", "api.toml"]).ok();
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=70));
    assert_eq!(api.requests(), ["/linked", "/linked?page=2", "/linked?page=3"]);
}

#[test]
fn cursor_in_a_post_body_with_incremental_in_the_body() {
    let (env, api) = (env(), MockApi::start(orders(1..=300), 100));
    let stream = format!(
        r#"path = "/orders"
method = "POST"
body = {{ kind = "orders" }}
records = "/data"
paginator = {{ type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor", cursor_in = "body" }}
incremental = {{ cursor_field = "updated_at", cursor_param = "updated_since", cursor_in = "body" }}
{COLUMNS}"#
    );
    pipeline(&env, &api, &stream, "");
    env.headwater(&["run", "api.toml"]).ok();
    assert_eq!(api.requests().len(), 3);
    api.with(|s| s.orders.extend(orders(301..=320)));
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 20);
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=320));
}

#[test]
fn graphql_with_relay_page_info_retried_on_5xx() {
    let (env, api) = (env(), MockApi::start(orders(1..=130), 50));
    let stream = format!(
        r#"path = "/graphql"
records = "/data/orders/nodes"
graphql = {{ query = "query($first: Int, $after: String, $since: String) {{ orders(first: $first, after: $after, since: $since) {{ nodes {{ id customer amount updated_at }} pageInfo {{ hasNextPage endCursor }} }} }}", variables = {{ first = 50 }}, page_info = "/data/orders/pageInfo" }}
incremental = {{ cursor_field = "updated_at", cursor_param = "since", cursor_in = "body" }}
{COLUMNS}"#
    );
    pipeline(&env, &api, &stream, "");
    // GraphQL queries are POSTs, yet reads: the host retries them on 5xx like a GET.
    api.with(|s| s.fail_5xx = 2);
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["hosts"][format!("http://{}", api.host())]["retries"], 2);
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=130));
    assert_eq!(api.requests().len(), 2 + 3, "two 503s, then three pages");
}

#[test]
fn graphql_errors_in_a_200_fail_the_stream() {
    let (env, api) = (env(), MockApi::start(orders(1..=5), 50));
    let stream = "path = \"/graphql\"\nrecords = \"/data/items\"\ngraphql = { query = \"{ items { id } }\" }";
    pipeline(&env, &api, stream, "");
    env.headwater(&["run", "api.toml"]).fails(1, &["GraphQL errors from", "/graphql", "Cannot query field"]);
    assert!(env.parquet_files("lake").is_empty());
}

/// Customers (pages of 5) and, for each, its orders from `/customers/{id}/orders`,
/// with `child` (TOML lines) added to the child stream.
fn customers_and_their_orders(api: &MockApi, child: &str) -> String {
    format!(
        r#"
name = "api"
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
{child}
{COLUMNS}
[allow]
hosts = ["{host}"]
[sink]
path = "lake"
"#,
        url = api.url(),
        host = api.host()
    )
}

#[test]
fn child_stream_fills_its_path_from_parent_records() {
    let env = env();
    // Orders of customers c1..c10 (orders() spreads them over c0..c36).
    let all = orders(1..=200);
    let api = MockApi::start(all.clone(), 50);
    env.write("api.toml", customers_and_their_orders(&api, ""));
    env.headwater(&["run", "api.toml"]).ok();
    assert_eq!(env.rows("lake/customers").len(), 10);
    let expected: Vec<_> =
        all.iter().filter(|o| (1..=10).any(|i| o["customer"] == format!("c{i}").as_str())).cloned().collect();
    let landed = env.rows("lake/customer_orders");
    assert_same_orders(&landed, &expected);
    assert!(landed.iter().all(|r| r["parent_id"] == r["customer"]), "each row carries its parent's id");
}

#[test]
fn each_credential_kind_is_injected() {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("ann:pw");
    let kinds = [
        (
            Auth::Header("x-api-key".into(), "k3y".into()),
            "kind = \"header\"\nheader = \"X-Api-Key\"\nvalue = \"${env:SECRET}\"",
        ),
        (Auth::Basic(basic), "kind = \"basic\"\nusername = \"ann\"\npassword = \"${env:PASSWORD}\""),
        (
            Auth::Query("api_key".into(), "k3y".into()),
            "kind = \"query\"\nparam = \"api_key\"\nvalue = \"${env:SECRET}\"",
        ),
        (Auth::Bearer("k3y".into()), "kind = \"bearer\"\ntoken = \"${file:token.txt}\""),
    ];
    for (auth, toml) in kinds {
        let mut env = env();
        env.var("SECRET", "k3y");
        env.var("PASSWORD", "pw");
        env.write("token.txt", "k3y\n");
        let api = MockApi::start(orders(1..=30), 10);
        api.with(|s| s.auth = auth);
        let stream = format!("auth = \"api\"\n{}", cursor_stream());
        pipeline(&env, &api, &stream, &format!("[auth.api]\n{toml}"));
        let run = env.headwater(&["run", "api.toml"]).ok();
        assert!(!run.stdout.contains("k3y") && !run.stderr.contains("k3y"), "a secret was printed");
        assert_same_orders(&env.rows("lake/orders"), &orders(1..=30));
        // The rows were committed with the stream's state, and the secret was not.
        let state = env.headwater(&["state", "show", "api.toml", "--json"]).ok();
        assert_eq!(state.json()[0]["stream"], "orders", "{}", state.stdout);
        assert_eq!(state.json()[0]["rows"], 30, "{}", state.stdout);
        assert!(!state.stdout.contains("k3y"), "state show reveals the secret:\n{}", state.stdout);
        for file in files_under(&env.path(".headwater")) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!bytes.windows(3).any(|w| w == b"k3y"), "the secret was written to {}", file.display());
        }
    }
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() { stack.push(e.path()) } else { files.push(e.path()) }
        }
    }
    assert!(!files.is_empty(), "no state store under {}", dir.display());
    files
}

pub(crate) fn oauth_pipeline(env: &Env, api: &MockApi, refresh: bool) {
    let stream = format!("auth = \"api\"\n{}", cursor_stream());
    let refresh = if refresh { "refresh_token = \"${env:REFRESH}\"\n" } else { "" };
    let auth = format!(
        "[auth.api]\nkind = \"oauth2\"\ntoken_url = \"{}/token\"\nclient_id = \"app\"\nclient_secret = \"${{env:CLIENT_SECRET}}\"\n{refresh}hosts = [\"{}\"]",
        api.url(),
        api.host()
    );
    pipeline(env, api, &stream, &auth);
}

#[test]
fn oauth2_client_credentials() {
    let mut env = env();
    env.var("CLIENT_SECRET", "shh");
    let api = MockApi::start(orders(1..=30), 10);
    api.with(|s| {
        s.auth = Auth::OAuth;
        s.expires_in = 3600;
    });
    oauth_pipeline(&env, &api, false);
    env.headwater(&["run", "api.toml"]).ok();
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=30));
    assert_eq!(api.with(|s| s.token_requests.clone()), ["client_credentials"], "one token for the whole run");
}

/// An OAuth2 server with a refresh token `refresh-0` and the orders `1..=30` in pages of 10.
fn oauth_api(env: &mut Env) -> MockApi {
    env.var("CLIENT_SECRET", "shh");
    env.var("REFRESH", "refresh-0");
    let api = MockApi::start(orders(1..=30), 10);
    api.with(|s| {
        s.auth = Auth::OAuth;
        s.refresh_token = "refresh-0".into();
        s.expires_in = 3600;
    });
    oauth_pipeline(env, &api, true);
    api
}

#[test]
fn oauth2_refreshes_a_token_before_it_expires() {
    let mut env = env();
    let api = oauth_api(&mut env);
    // Tokens that are already expiring: each request refreshes first.
    api.with(|s| s.expires_in = 0);
    env.headwater(&["run", "api.toml"]).ok();
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=30));
    let grants = api.with(|s| s.token_requests.clone());
    assert!(grants.len() >= 3, "a token at its expiry is refreshed before use: {grants:?}");
    assert!(grants.iter().all(|g| g == "refresh_token"), "{grants:?}");
    assert_eq!(api.with(|s| s.unauthorized), 0, "no request went out with an expired token");
}

/// A token that lives 30 s is used for most of its life: the margin before
/// expiry is a quarter of the lifetime when that is less than a minute, not a
/// token request per API call.
#[test]
fn oauth2_a_short_lived_token_serves_many_requests() {
    let mut env = env();
    let api = oauth_api(&mut env);
    api.with(|s| s.expires_in = 30);
    env.headwater(&["run", "api.toml"]).ok();
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=30));
    assert_eq!(api.with(|s| s.token_requests.len()), 1, "one token for three pages within its life");
}

/// Review D23: the refresh after a 401 spent a retry, so with `max_retries = 0`
/// the run ended in "gave up after 1 attempts; last: " and the 401 was lost.
#[test]
fn oauth2_the_refresh_after_a_401_is_not_a_retry() {
    let mut env = env();
    let api = oauth_api(&mut env);
    api.with(|s| s.revoke_tokens_after = Some(1));
    let text = std::fs::read_to_string(env.path("api.toml")).unwrap();
    env.write("api.toml", text.replace("[sink]", "[limits]\nmax_retries = 0\n[sink]"));
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 30, "{run}");
    assert_eq!(api.with(|s| s.unauthorized), 1);
    assert_eq!(api.with(|s| s.token_requests.len()), 2, "one token to start, one refresh after the 401");
}

/// The server revokes its access tokens after the first page, long before they
/// expire: the next request is answered 401, and within the same run the host
/// refreshes the token once and sends the request again.
#[test]
fn oauth2_refreshes_once_on_a_401_and_the_run_goes_on() {
    let mut env = env();
    let api = oauth_api(&mut env);
    api.with(|s| s.revoke_tokens_after = Some(1));
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 30, "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=30));
    assert_eq!(api.with(|s| s.unauthorized), 1, "exactly one request met the revoked token");
    assert_eq!(
        api.with(|s| s.token_requests.clone()),
        ["refresh_token", "refresh_token"],
        "one token to start, one refresh after the 401"
    );
    let requests = api.requests();
    assert_eq!(requests.len(), 4, "page 1, the 401, page 2 again, page 3: {requests:?}");
    assert_eq!(requests[1], requests[2], "the refused request is the one sent again: {requests:?}");
}

/// The refresh token in the environment is rotated away by the first run: the
/// next run (a new process, with no token in memory) must use the rotated one
/// the host stored, and `state show` must not reveal it.
#[test]
fn oauth2_keeps_the_rotated_refresh_token_across_runs() {
    let mut env = env();
    let api = oauth_api(&mut env);
    env.headwater(&["run", "api.toml"]).ok();
    assert_eq!(api.with(|s| s.refresh_token.clone()), "refresh-1", "the first run rotated the refresh token");

    api.with(|s| s.orders.extend(orders(31..=40)));
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 40, "no incremental config: the stream is read whole");
    assert_eq!(api.with(|s| s.token_requests.len()), 2, "one refresh per run, none refused");
    assert_eq!(api.with(|s| s.refresh_token.clone()), "refresh-2");
    let state = env.headwater(&["state", "show", "api.toml", "--json"]).ok();
    assert!(!state.stdout.contains("refresh-"), "state show must not reveal refresh tokens:\n{}", state.stdout);
}

#[test]
fn retry_after_as_an_http_date_and_a_burst_of_5xx() {
    let (env, api) = (env(), MockApi::start(orders(1..=40), 20));
    let date = calendar::http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    api.with(|s| {
        s.throttle = 1;
        s.retry_after = date;
        s.fail_5xx = 0;
    });
    let stream = cursor_stream();
    pipeline(&env, &api, &stream, "");
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    let host = &run["hosts"][format!("http://{}", api.host())];
    assert_eq!(host["throttled_429"], 1);
    assert!(host["waited_ms"].as_u64().unwrap() >= 900, "the HTTP date was waited for: {host}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=40));

    let env = self::env();
    let api = MockApi::start(orders(1..=40), 20);
    api.with(|s| s.fail_5xx = 3);
    pipeline(&env, &api, &stream, "");
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["hosts"][format!("http://{}", api.host())]["retries"], 3);
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=40));
}

#[test]
fn the_configured_rate_limit_is_never_exceeded() {
    let (env, api) = (env(), MockApi::start(orders(1..=24), 2));
    let stream = cursor_stream();
    pipeline(&env, &api, &stream, "[limits]\nrequests_per_second = 5\nburst = 2");
    env.headwater(&["run", "api.toml"]).ok();
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=24));
    let times = api.request_times();
    assert_eq!(times.len(), 12);
    // Any window of one second holds at most rate + burst requests.
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|u| u.duration_since(*t) < Duration::from_secs(1)).count();
        assert!(in_window <= 7, "{in_window} requests within one second starting at request {i}");
    }
    let span = times.last().unwrap().duration_since(times[0]);
    assert!(span >= Duration::from_millis(1800), "12 requests at 5/s with a burst of 2 take ~2s, took {span:?}");
}

#[test]
fn rate_limit_headers_hold_requests_until_the_reset() {
    let (env, api) = (env(), MockApi::start(orders(1..=8), 2));
    api.with(|s| {
        s.rate_headers_every = 2;
        s.rate_reset_s = 1;
    });
    let stream = cursor_stream();
    pipeline(&env, &api, &stream, "");
    env.headwater(&["run", "api.toml"]).ok();
    let times = api.request_times();
    assert_eq!(times.len(), 4);
    // The 2nd response says the budget is spent for 1s: the 3rd request waits for it.
    let gap = times[2].duration_since(times[1]);
    assert!(gap >= Duration::from_millis(900), "the 3rd request came {gap:?} after the 2nd");
    assert_eq!(api.with(|s| s.log.len()), 4, "no 429 was needed");
}

/// A policy's burst limit spreads requests at its rate; its daily quota does not
/// (spread over a day, each gap would exceed `max_wait_s` and pause the stream).
#[test]
fn a_rate_limit_policy_spreads_bursts_and_spends_quotas_as_needed() {
    let (env, api) = (env(), MockApi::start(orders(1..=8), 2));
    api.with(|s| s.rate_policy = "\"burst\";q=5;w=1, \"day\";q=1000;w=86400".into());
    pipeline(&env, &api, &cursor_stream(), "[limits]\nmax_wait_s = 5");
    let out = env.headwater(&["run", "api.toml", "--json"]).ok();
    assert_eq!(out.json()["streams"][0]["status"], "ok", "{}", out.stdout);
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=8));
    let times = api.request_times();
    assert_eq!(times.len(), 4);
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(gap >= Duration::from_millis(180), "5 requests a second means 200ms apart, not {gap:?}");
    }
}

#[test]
fn a_name_resolving_to_a_private_address_is_refused_unless_the_address_is_listed() {
    let (env, api) = (env(), MockApi::start(orders(1..=5), 10));
    let stream = format!("path = \"/orders\"\nrecords = \"/data\"\n{COLUMNS}");
    let localhost = format!("http://localhost:{}", api.port);
    pipeline(&env, &api, &stream, "");
    let text = std::fs::read_to_string(env.path("api.toml"))
        .unwrap()
        .replace(&api.url(), &localhost)
        .replace(&format!("hosts = [\"{}\"]", api.host()), &format!("hosts = [\"localhost:{}\"]", api.port));
    env.write("api.toml", &text);
    env.headwater(&["run", "api.toml"]).fails(1, &["denied", "resolves to", "non-public address"]);
    assert!(api.requests().is_empty());

    env.write(
        "api.toml",
        text.replace(
            &format!("hosts = [\"localhost:{}\"]", api.port),
            &format!("hosts = [\"localhost:{0}\", \"127.0.0.1:{0}\"]", api.port),
        ),
    );
    env.headwater(&["run", "api.toml"]).ok();
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=5));
}

#[test]
fn incremental_with_lookback_and_an_inclusive_filter_lands_each_row_once() {
    let (env, api) = (env(), MockApi::start(orders(1..=100), 30));
    api.with(|s| s.inclusive = true);
    let stream = format!(
        r#"path = "/orders"
records = "/data"
paginator = {{ type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor" }}
incremental = {{ cursor_field = "updated_at", cursor_param = "updated_since", lookback = "PT10M" }}
{COLUMNS}"#
    );
    pipeline(&env, &api, &stream, "");
    env.headwater(&["run", "api.toml"]).ok();
    // Order 100 is at 01:39; the lookback re-reads from 01:29 (orders 90..100).
    api.with(|s| s.orders.extend(orders(101..=120)));
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 20, "{run}");
    let last = api.requests().into_iter().rev().find(|r| r.contains("updated_since")).unwrap();
    assert!(last.contains("updated_since=2025-01-01T01%3A29%3A00Z"), "{last}");
    // An order updated since it landed comes back as a new version.
    api.with(|s| {
        let mut changed = s.orders[99].clone();
        changed["amount"] = serde_json::json!(1.0);
        changed["updated_at"] = serde_json::json!("2025-01-01T02:05:00Z");
        s.orders.push(changed);
    });
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 1, "only the new version: {run}");
    let rows = env.rows("lake/orders");
    assert_eq!(rows.len(), 121);
    let versions: Vec<_> = rows.iter().filter(|r| r["id"] == 100).map(|r| r["amount"].clone()).collect();
    assert_eq!(versions.len(), 2, "order 100 has its old and its new version");
}

#[test]
fn a_spent_quota_pauses_the_stream_and_the_next_run_resumes() {
    let (env, api) = (env(), MockApi::start(orders(1..=100), 20));
    api.with(|s| {
        s.throttle_after = 2;
        s.throttle = 1000;
        s.retry_after = "3600".into();
    });
    let stream = format!(
        r#"path = "/orders"
records = "/data"
paginator = {{ type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor" }}
incremental = {{ cursor_field = "updated_at", cursor_param = "updated_since" }}
{COLUMNS}"#
    );
    pipeline(&env, &api, &stream, "[limits]\nmax_wait_s = 5");
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["status"], "paused", "{run}");
    let status = run["streams"][0]["status"].as_str().unwrap();
    assert!(status.starts_with("paused: rate limit") && status.contains("resets at"), "{status}");
    assert_eq!(run["streams"][0]["rows"], 40, "the two pages read before the quota ran out are kept");
    assert_eq!(env.rows("lake/orders").len(), 40);

    api.with(|s| s.throttle = 0);
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["status"], "ok");
    assert_eq!(run["streams"][0]["rows"], 60);
    let resumed = api.requests().into_iter().rev().nth(2).unwrap();
    assert!(resumed.contains("cursor=40"), "the next run continues at the page that was refused: {resumed}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=100));
}

#[test]
fn schema_drift_new_field_becomes_a_column_and_a_wrong_type_fails_naming_the_page() {
    let (env, api) = (env(), MockApi::start(orders(1..=30), 10));
    api.with(|s| s.drift_from_page_2 = true);
    let paginator = "paginator = { type = \"cursor\", cursor_path = \"/next_cursor\", cursor_param = \"cursor\" }";
    // No declared columns: inferred, and `coupon` appears from page 2 on.
    pipeline(&env, &api, &format!("path = \"/orders\"\nrecords = \"/data\"\n{paginator}"), "");
    env.headwater(&["run", "api.toml"]).ok();
    let rows = env.rows("lake/orders");
    assert_eq!(rows.len(), 30);
    assert_eq!(rows.iter().filter(|r| r.get("coupon").is_some_and(|c| c == "SPRING")).count(), 20);

    // Declared: `customer` as int64 does not fit "c1".
    let env = self::env();
    pipeline(
        &env,
        &api,
        &format!(
            "path = \"/orders\"\nrecords = \"/data\"\n{paginator}\nschema = [{{ name = \"id\", type = \"int64\" }}, {{ name = \"customer\", type = \"int64\" }}]"
        ),
        "",
    );
    // The records decode while the connector fetches the next page: the failure
    // surfaces at the stream's next step, naming the page whose records failed.
    let run = env.headwater(&["run", "api.toml"]).fails(1, &["customer", "c1", "/orders"]);
    assert!(run.stderr.contains("page 1 of this call's emit-records"), "{}", run.stderr);
    // The connector names that page's URL (the first), not the one it was fetching.
    assert!(run.stderr.contains(&format!("(page {}/orders)", api.url())), "{}", run.stderr);
    assert!(env.parquet_files("lake").is_empty());
}

#[test]
fn a_stream_rate_limit_overrides_the_host_one() {
    let (env, api) = (env(), MockApi::start(orders(1..=12), 2));
    let stream = cursor_stream();
    pipeline(
        &env,
        &api,
        &stream,
        "[limits]\nrequests_per_second = 100\n[limits.streams.orders]\nrequests_per_second = 4\nburst = 1",
    );
    env.headwater(&["run", "api.toml"]).ok();
    let times = api.request_times();
    assert_eq!(times.len(), 6);
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(gap >= Duration::from_millis(200), "4 requests a second with no burst: a gap of {gap:?}");
    }
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=12));

    let text = std::fs::read_to_string(env.path("api.toml"))
        .unwrap()
        .replace("[limits.streams.orders]", "[limits.streams.ordres]");
    env.write("api.toml", text);
    env.headwater(&["run", "api.toml"]).fails(2, &["[limits.streams.ordres]", "no such stream"]);
}

/// Real-world issue: a row edited again within its cursor's second (same key,
/// same `updated_at`, new content) was dropped at the seam of an inclusive API
/// as already landed. The seam compares content: the edit lands, a row that
/// did not change does not.
#[test]
fn an_edit_within_the_watermarks_second_lands_and_an_unchanged_row_does_not() {
    let (env, api) = (env(), MockApi::start(orders(1..=30), 10));
    api.with(|s| s.inclusive = true);
    let stream = format!(
        "{}\nincremental = {{ cursor_field = \"updated_at\", cursor_param = \"updated_since\" }}",
        cursor_stream()
    );
    pipeline(&env, &api, &stream, "");
    env.headwater(&["run", "api.toml"]).ok();

    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(
        (run["streams"][0]["rows"].as_u64(), run["streams"][0]["deduplicated"].as_u64()),
        (Some(0), Some(1)),
        "{run}"
    );

    api.with(|s| s.orders[29]["amount"] = serde_json::json!(1234.5));
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 1, "the edit at the watermark lands: {run}");
    let versions: Vec<f64> =
        env.rows("lake/orders").iter().filter(|r| r["id"] == 30).map(|r| r["amount"].as_f64().unwrap()).collect();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions.contains(&1234.5));
}

/// Review D24: one stream's store error (here, its state unreadable) aborted the
/// whole summary, and the other streams' committed work went unreported. The
/// stream fails alone, saying why; the others land and are reported.
#[test]
fn one_streams_unreadable_state_fails_that_stream_alone() {
    let (env, api) = (env(), MockApi::start(orders(1..=30), 10));
    env.write(
        "api.toml",
        format!(
            "name = \"api\"\n[source]\nconnector = \"rest\"\n[source.config]\nbase_url = \"{url}\"\n\
             [[source.config.streams]]\nname = \"orders\"\n{stream}\n\
             [[source.config.streams]]\nname = \"again\"\n{stream}\n\
             [allow]\nhosts = [\"{host}\"]\n[sink]\npath = \"lake\"\n",
            url = api.url(),
            host = api.host(),
            stream = cursor_stream()
        ),
    );
    env.headwater(&["run", "api.toml"]).ok();
    // The state of `again` is damaged where it is stored.
    {
        let db = sled::open(env.path(".headwater")).unwrap();
        db.insert(b"stream\0api\0again", b"{not json".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let run = env.headwater(&["run", "api.toml", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let summary = run.json();
    let streams = summary["streams"].as_array().unwrap();
    let again = streams.iter().find(|s| s["stream"] == "again").expect("`again` is reported");
    assert!(again["error"].as_str().unwrap().contains("state of stream `again` is unreadable"), "{again}");
    let orders = streams.iter().find(|s| s["stream"] == "orders").expect("`orders` is reported");
    assert_eq!(orders["status"], "ok", "{summary}");
}

/// `on_error` rules: an API's own way of saying "quota spent" (a 400 with a code
/// in the body) pauses the stream, and the next run resumes at that page; without
/// the rule the same answer fails the run. A "try again" answer is retried.
#[test]
fn on_error_rules_pause_and_resume_or_retry_what_the_api_says() {
    let env = env();
    let api = MockApi::start(orders(1..=250), 100);
    let incremental = "incremental = { cursor_field = \"updated_at\", cursor_param = \"updated_since\" }";
    let quota = || ("cursor=100".to_string(), 400, vec![], "{\"error\":\"DAILY_LIMIT_EXCEEDED\"}".to_string());

    // No rule: a 400 is an error.
    api.with(|s| s.scripted.push(quota()));
    pipeline(&env, &api, &format!("{}\n{incremental}", cursor_stream()), "");
    env.headwater(&["run", "api.toml"]).fails(1, &["HTTP 400", "DAILY_LIMIT_EXCEEDED"]);

    // The rule: the stream pauses with the first page, and the next run resumes at the second.
    let rules = "on_error = [\n  { status = [400], body_contains = \"DAILY_LIMIT\", action = \"pause\" },\n  { header = \"x-try-again\", action = \"retry\", wait_s = 0 },\n]";
    pipeline(&env, &api, &format!("{}\n{incremental}\n{rules}", cursor_stream()), "");
    std::fs::remove_dir_all(env.path("lake")).ok();
    env.headwater(&["state", "reset", "api.toml"]).ok();
    api.with(|s| s.scripted.push(quota()));
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert!(run["streams"][0]["status"].as_str().unwrap().starts_with("paused"), "{run}");
    assert_eq!(run["streams"][0]["rows"], 100, "{run}");
    let before = api.requests().len();
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["status"], "ok", "{run}");
    assert!(
        api.requests()[before].contains("cursor=100"),
        "resumed at the refused page: {:?}",
        &api.requests()[before..]
    );
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=250));

    // A "try again" answer, twice, then the page: retried, nothing lost, nothing twice.
    api.with(|s| {
        s.orders.extend(orders(251..=400));
        for _ in 0..2 {
            s.scripted.push(("cursor=100".into(), 409, vec![("x-try-again".into(), "1".into())], "busy".into()));
        }
    });
    let before = api.requests().len();
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 150, "{run}");
    let asked = api.requests()[before..].iter().filter(|r| r.contains("cursor=100")).count();
    assert_eq!(asked, 3, "the page asked three times");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=400));
}

/// A rule that skips a 404: a child stream's parent that is gone (its orders
/// answer 404) is skipped, the others land; a rule that matches nothing in
/// particular is refused when the pipeline loads.
#[test]
fn on_error_skip_passes_over_a_parent_that_is_gone() {
    let env = env();
    let all = orders(1..=200);
    let api = MockApi::start(all.clone(), 50);
    api.with(|s| s.scripted.push(("/customers/c3/orders".into(), 404, vec![], "{\"error\":\"not found\"}".into())));
    let config = |rule: &str| customers_and_their_orders(&api, &format!("on_error = [{rule}]"));
    env.write("api.toml", config("{ action = \"skip\" }"));
    env.headwater(&["run", "api.toml"]).fails(1, &["on_error[0] matches nothing in particular"]);
    env.write("api.toml", config("{ status = [404], action = \"skip\" }"));
    env.headwater(&["run", "api.toml"]).ok();
    let expected: Vec<_> = all
        .iter()
        .filter(|o| (1..=10).filter(|&i| i != 3).any(|i| o["customer"] == format!("c{i}").as_str()))
        .cloned()
        .collect();
    assert_same_orders(&env.rows("lake/customer_orders"), &expected);
}

/// Templates in parameters: the watermark, and the config's `vars` through a
/// filter; a name that is not there fails, naming the template. (Its other forms,
/// `watermark_ms` in HubSpot's search body, are in `vendors_more`.)
#[test]
fn templates_put_the_watermark_in_any_form_and_the_configs_vars() {
    let env = env();
    let api = MockApi::start(orders(1..=150), 100);
    let stream = |params: &str| {
        format!(
            "{}\nparams = {{ {params} }}\nincremental = {{ cursor_field = \"updated_at\", start_value = \"2020-01-01T00:00:00Z\" }}",
            cursor_stream()
        )
    };
    let good = stream("updated_since = \"{{ watermark }}\", tag = \"{{ vars.tag | upper }}\"");
    let config_vars =
        |p: String| p.replace("[[source.config.streams]]", "vars = { tag = \"blue\" }\n[[source.config.streams]]");
    pipeline(&env, &api, &good, "");
    env.write("api.toml", config_vars(std::fs::read_to_string(env.path("api.toml")).unwrap()));
    env.headwater(&["run", "api.toml"]).ok();
    let first = &api.requests()[0];
    assert!(first.contains("updated_since=2020-01-01T00%3A00%3A00Z") && first.contains("tag=BLUE"), "{first}");
    api.with(|s| s.orders.extend(orders(151..=170)));
    let before = api.requests().len();
    let run = env.headwater(&["run", "api.toml", "--json"]).ok().json();
    let again = &api.requests()[before];
    assert!(again.contains("updated_since=2025-01-01T02%3A29%3A00Z") && again.contains("tag=BLUE"), "{again}");
    assert_eq!(run["streams"][0]["rows"], 20, "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=170));

    pipeline(&env, &api, &stream("region = \"{{ vars.region }}\""), "");
    env.headwater(&["run", "api.toml"]).fails(1, &["the template `{{ vars.region }}` does not render"]);
}

/// A cursor in a response header (`cursor_header`), the records the whole body.
#[test]
fn a_cursor_in_a_response_header() {
    let (env, api) = (env(), MockApi::start(orders(1..=230), 100));
    let stream = format!(
        "path = \"/headed\"\nrecords = \"\"\npaginator = {{ type = \"cursor\", cursor_header = \"X-Next-Cursor\", cursor_param = \"cursor\" }}\nincremental = {{ cursor_field = \"updated_at\", cursor_param = \"updated_since\" }}\n{COLUMNS}"
    );
    pipeline(&env, &api, &stream, "");
    env.headwater(&["run", "api.toml"]).ok();
    assert_eq!(api.requests().len(), 3, "{:?}", api.requests());
    assert!(api.requests()[2].contains("cursor=200"), "{:?}", api.requests());
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=230));
}

/// A column declared `json` takes whatever JSON a field holds and lands its JSON
/// text: here `amount` (numbers) and `customer` (strings, landed quoted).
#[test]
fn a_column_declared_json_lands_each_value_as_its_json_text() {
    let (env, api) = (env(), MockApi::start(orders(1..=250), 100));
    let stream = "path = \"/orders\"\nrecords = \"/data\"\npaginator = { type = \"cursor\", cursor_path = \"/next_cursor\", cursor_param = \"cursor\" }\nschema = [{ name = \"id\", type = \"int64\" }, { name = \"amount\", type = \"json\" }, { name = \"customer\", type = \"json\" }]";
    pipeline(&env, &api, stream, "");
    env.headwater(&["run", "api.toml"]).ok();
    let mut rows = env.rows("lake/orders");
    rows.sort_by_key(|r| r["id"].as_i64());
    let expected = orders(1..=250);
    assert_eq!(rows.len(), expected.len());
    for (row, order) in rows.iter().zip(&expected) {
        assert_eq!(row["amount"].as_str(), Some(order["amount"].to_string().as_str()), "{row:?}");
        assert_eq!(row["customer"].as_str(), Some(order["customer"].to_string().as_str()), "{row:?}");
    }
}
