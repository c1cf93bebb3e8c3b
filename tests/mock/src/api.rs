//! The one mock orders API on 127.0.0.1. It serves the orders it holds through
//! every pagination style the `rest` connector speaks (cursor in the query or a
//! POST body, offset, page number, next URL, Link header, GraphQL pageInfo), a
//! parent/child pair, every credential kind including an OAuth2 token endpoint
//! that rotates refresh tokens and can revoke its access tokens mid-run, bulk
//! export jobs, and failures on demand: 429 with Retry-After (seconds or an
//! HTTP date), bursts of 5xx, rate-limit headers. It logs every data request
//! with its time.
//!
//! It runs on a thread and runtime of its own, so that tests stay plain
//! `#[test]` functions driving the real binary, and the demo's and the
//! benchmarks' measured processes never share a scheduler with it. For the
//! benchmarks, [`MockApi::prerendered`] renders every `/orders` page of the
//! dataset before the server starts, so that a request costs the server no
//! more than handing out a shared buffer and the figures measure the clients;
//! [`MockApi::prerendered_after`] does the same for the answer to one
//! `updated_since` (the hybrid benchmark's API phase).

use crate::dataset::{self, Shape};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the server requires of a request's credentials.
#[derive(Default, Clone)]
pub enum Auth {
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `<header>: <value>`.
    Header(String, String),
    /// `Authorization: Basic base64(user:password)`.
    Basic(String),
    /// `?<param>=<value>`.
    Query(String, String),
    /// A bearer access token issued by `/token`.
    OAuth,
}

/// A canned answer: (text the request's path and query contain, status, headers, body).
pub type Scripted = (String, u16, Vec<(String, String)>, String);

/// Everything the server serves and how it misbehaves; tests change it while
/// the server runs, through [`MockApi::with`].
#[derive(Default)]
pub struct ApiState {
    pub orders: Vec<Value>,
    pub page_size: usize,
    pub auth: Auth,
    /// `updated_since` matches `>=` (inclusive) instead of `>`.
    pub inclusive: bool,
    /// The next this-many requests get 429 (after `throttle_after` more requests succeed).
    pub throttle: u32,
    pub throttle_after: u32,
    /// Retry-After sent with each 429 (seconds, or an HTTP date).
    pub retry_after: String,
    /// The status of a throttled answer: 429 when 0; a 503 or GitHub's 403 otherwise.
    pub throttle_status: u16,
    /// Sent with every page as well: e.g. a hostile `X-RateLimit-Reset: inf`.
    pub extra_headers: Vec<(String, String)>,
    /// Sent with every throttled answer, beside Retry-After (e.g. `Stripe-Should-Retry`).
    pub throttle_headers: Vec<(String, String)>,
    /// The next this-many GraphQL queries are answered, in a 200, with Shopify's
    /// `THROTTLED` error and its cost figures.
    pub graphql_throttled: u32,
    /// The next this-many requests get 503.
    pub fail_5xx: u32,
    /// Send `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset: <n>` every `rate_headers_every` requests.
    pub rate_headers_every: u32,
    pub rate_reset_s: u32,
    /// Sent as `RateLimit-Policy` with every response, when not empty.
    pub rate_policy: String,
    /// Records of page 2 onwards get an extra field `coupon`.
    pub drift_from_page_2: bool,
    /// OAuth2: the refresh token the server accepts now (rotated at each use),
    /// the access tokens issued and their lifetime.
    pub refresh_token: String,
    pub access_tokens: Vec<String>,
    pub expires_in: u64,
    /// Leave `expires_in` out of token responses (Salesforce's do).
    pub omit_expires_in: bool,
    /// The grant type of every request to `/token`.
    pub token_requests: Vec<String>,
    /// OAuth2: once this many data requests were served, every access token
    /// issued so far is revoked (once), as a server does when it rotates keys:
    /// the next request is answered 401 although its token has not expired.
    pub revoke_tokens_after: Option<u32>,
    /// Data requests answered 401 because of their credentials.
    pub unauthorized: u32,
    /// Export jobs: polls that answer "InProgress" before the job completes, and jobs started.
    pub export_polls: u32,
    pub exports_started: u32,
    /// Canned answers: the first request whose path and query contain the text gets
    /// (status, headers, body) instead of its answer, once.
    pub scripted: Vec<Scripted>,
    /// Salesforce Bulk API 2.0 query jobs: the SOQL of each, by job number.
    pub bulk_jobs: Vec<String>,
    /// The Bulk API results page (1-based) answered with a 500 while this is set.
    pub bulk_fail_page: Option<usize>,
    /// The server's own base URL (for the file URLs an export job names).
    pub base_url: String,
    /// Path and query of every request to a data endpoint, and when it came.
    pub log: Vec<(Instant, String)>,
    /// `/orders` pages rendered once (see [`MockApi::prerendered`]); when set, GET
    /// `/orders` serves these instead of `orders`.
    pages: Option<Arc<Pages>>,
    served: u32,
}

impl ApiState {
    /// A server holding `orders`, served in pages of `page_size`, with no credentials and no failures.
    pub fn new(orders: Vec<Value>, page_size: usize) -> ApiState {
        ApiState { orders, page_size, retry_after: "1".into(), ..Default::default() }
    }
}

/// Every `/orders` page's body, rendered before the server starts.
pub struct Pages {
    page_size: u64,
    bodies: Vec<Bytes>,
    /// For [`MockApi::prerendered_after`]: the orders the pages hold are those
    /// of `1..=last` that an `updated_since` selects when it selects from `first`
    /// on; a request with an `updated_since` that selects from another order is
    /// refused. `None`: `updated_since` is not looked at.
    since: Option<Since>,
}

/// The orders pre-rendered pages hold, when they answer one `updated_since`.
#[derive(Clone, Copy)]
struct Since {
    first: u64,
    last: u64,
}

impl Pages {
    /// Orders `1..=records` of `shape` in cursor pages of `page_size`:
    /// `{"data":[…],"next_cursor":"K"}`, the last with `"next_cursor":null`.
    fn render(records: u64, page_size: u64, shape: Shape) -> Pages {
        Pages::render_ids(1, records, page_size, shape)
    }

    /// Orders `first..=last` of `shape` in cursor pages of `page_size`, the
    /// cursor counting records from `first` (as `/orders` counts them among the
    /// orders an `updated_since` selects).
    fn render_ids(first: u64, last: u64, page_size: u64, shape: Shape) -> Pages {
        let page_size = page_size.max(1);
        let records = (last + 1).saturating_sub(first);
        let count = records.div_ceil(page_size).max(1);
        let bodies = (0..count)
            .map(|p| {
                let (start, end) = (p * page_size, ((p + 1) * page_size).min(records));
                let mut body = Vec::with_capacity((end - start) as usize * 128 + 64);
                body.extend_from_slice(br#"{"data":["#);
                for offset in start + 1..=end {
                    if offset > start + 1 {
                        body.push(b',');
                    }
                    dataset::write_json(&mut body, (first - 1 + offset) as i64, shape);
                }
                body.extend_from_slice(br#"],"next_cursor":"#);
                if end < records {
                    body.extend_from_slice(format!("\"{end}\"").as_bytes());
                } else {
                    body.extend_from_slice(b"null");
                }
                body.push(b'}');
                Bytes::from(body)
            })
            .collect();
        Pages { page_size, bodies, since: None }
    }

    pub fn count(&self) -> u64 {
        self.bodies.len() as u64
    }

    /// Total bytes of every page's body.
    pub fn bytes(&self) -> u64 {
        self.bodies.iter().map(|b| b.len() as u64).sum()
    }
}

pub struct MockApi {
    pub port: u16,
    pub state: Arc<Mutex<ApiState>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

type Shared = Arc<Mutex<ApiState>>;

impl MockApi {
    /// Serves `orders` in pages of `page_size`. For tests: panics if the server cannot start.
    pub fn start(orders: Vec<Value>, page_size: usize) -> MockApi {
        MockApi::serve(ApiState::new(orders, page_size), 1).expect("the mock API starts on 127.0.0.1")
    }

    /// Serves `state` on a free port of 127.0.0.1, on `threads` runtime threads
    /// of its own (1: a current-thread runtime).
    pub fn serve(state: ApiState, threads: usize) -> std::io::Result<MockApi> {
        let state = Arc::new(Mutex::new(state));
        let app = axum::Router::new()
            .route("/orders", axum::routing::get(cursor_page).post(cursor_page_post))
            .route("/offset", axum::routing::get(offset_page))
            .route("/pages", axum::routing::get(numbered_page))
            .route("/next", axum::routing::get(next_url_page))
            .route("/linked", axum::routing::get(link_page))
            .route("/headed", axum::routing::get(header_cursor_page))
            .route("/customers", axum::routing::get(customers))
            .route("/customers/{id}/orders", axum::routing::get(customer_orders))
            .route("/graphql", axum::routing::post(graphql))
            .route("/exports", axum::routing::post(export_start))
            .route("/exports/{id}", axum::routing::get(export_status))
            .route("/files/{name}", axum::routing::get(export_file))
            .route("/v1/charges", axum::routing::get(crate::vendors::stripe_charges))
            .route("/repos/{owner}/{repo}/issues", axum::routing::get(crate::vendors_more::github_issues))
            .route("/repositories/{id}/issues", axum::routing::get(crate::vendors_more::github_issues_by_id))
            .route("/admin/api/2024-01/orders.json", axum::routing::get(crate::vendors_more::shopify_orders))
            .route("/admin/api/2024-01/graphql.json", axum::routing::post(crate::vendors_more::shopify_graphql))
            .route("/crm/v3/objects/contacts", axum::routing::get(crate::vendors_more::hubspot_contacts))
            .route("/crm/v3/objects/contacts/search", axum::routing::post(crate::vendors_more::hubspot_search))
            .route("/api/v2/incremental/tickets/cursor.json", axum::routing::get(crate::vendors::zendesk_tickets))
            .route("/services/data/v60.0/query", axum::routing::get(crate::vendors::salesforce_query))
            .route("/services/data/v60.0/query/{locator}", axum::routing::get(crate::vendors::salesforce_more))
            .route("/services/data/v60.0/jobs/query", axum::routing::post(crate::vendors::bulk_query_start))
            .route("/services/data/v60.0/jobs/query/{id}", axum::routing::get(crate::vendors::bulk_query_status))
            .route(
                "/services/data/v60.0/jobs/query/{id}/results",
                axum::routing::get(crate::vendors::bulk_query_results),
            )
            .route_layer(axum::middleware::from_fn_with_state(state.clone(), gatekeeper))
            .route("/token", axum::routing::post(token))
            .route("/redirect", axum::routing::get(redirect))
            .with_state(state.clone());
        let (port, shutdown) = serve_on_loopback(app, threads, "mock-api")?;
        state.lock().expect("mock API state").base_url = format!("http://127.0.0.1:{port}");
        Ok(MockApi { port, state, _shutdown: shutdown })
    }

    /// The benchmarks' server: orders `1..=records` of `shape`, every `/orders`
    /// page rendered before it starts, served on two threads.
    pub fn prerendered(records: u64, page_size: u64, shape: Shape) -> std::io::Result<MockApi> {
        let pages = Pages::render(records, page_size, shape);
        let state = ApiState { pages: Some(Arc::new(pages)), ..ApiState::new(Vec::new(), page_size as usize) };
        MockApi::serve(state, 2)
    }

    /// The hybrid benchmark's server: orders `1..=records` of `shape` behind an
    /// `updated_since` filter (`>=` with `inclusive`, as most APIs filter, else
    /// `>`), of which only the answer to one watermark is rendered before it
    /// starts: `updated_since` = order `after`'s `updated_at`, which selects
    /// orders `after + 1..=records` (and order `after` itself when inclusive).
    /// A request whose `updated_since` selects from another order is refused
    /// with 400, so a client that carries the wrong watermark fails loudly; one
    /// without `updated_since` gets the rendered pages (the benchmarks'
    /// fetch-only ceiling asks that way). Served on two threads.
    pub fn prerendered_after(
        after: u64,
        records: u64,
        page_size: u64,
        shape: Shape,
        inclusive: bool,
    ) -> std::io::Result<MockApi> {
        let since = updated_at_text(after);
        let first = first_matching(&since, records, inclusive);
        let mut pages = Pages::render_ids(first, records, page_size, shape);
        pages.since = Some(Since { first, last: records });
        let state =
            ApiState { pages: Some(Arc::new(pages)), inclusive, ..ApiState::new(Vec::new(), page_size as usize) };
        MockApi::serve(state, 2)
    }

    /// The pre-rendered pages, if this is a [`prerendered`](Self::prerendered) server.
    pub fn pages(&self) -> Option<Arc<Pages>> {
        self.with(|s| s.pages.clone())
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut ApiState) -> T) -> T {
        f(&mut self.state.lock().expect("mock API state"))
    }

    /// Path and query of every data request, in order.
    pub fn requests(&self) -> Vec<String> {
        self.with(|s| s.log.iter().map(|(_, r)| r.clone()).collect())
    }

    pub fn request_times(&self) -> Vec<Instant> {
        self.with(|s| s.log.iter().map(|(t, _)| *t).collect())
    }
}

/// Serves `app` on a free port of 127.0.0.1, on `threads` runtime threads of a
/// thread named `name` (1: a current-thread runtime), until the sender is dropped.
pub(crate) fn serve_on_loopback(
    app: axum::Router,
    threads: usize,
    name: &str,
) -> std::io::Result<(u16, tokio::sync::oneshot::Sender<()>)> {
    let runtime = match threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread().enable_all().build()?,
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).thread_name(name).enable_all().build()?,
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let shown = name.to_string();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a listener of this runtime");
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stop.await;
            });
            if let Err(e) = served.await {
                eprintln!("{shown} stopped: {e}");
            }
        });
    })?;
    Ok((port, shutdown))
}

/// Auth, logging and injected failures common to every data endpoint. `Err` is the response to send instead;
/// `Ok` holds headers to add to the answer.
fn gate(s: &mut ApiState, headers: &HeaderMap, uri: &Uri) -> Result<Vec<(String, String)>, Box<Response>> {
    s.log.push((Instant::now(), uri.to_string()));
    if s.revoke_tokens_after == Some(s.served) {
        s.revoke_tokens_after = None;
        s.access_tokens.clear();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let authorized = match &s.auth {
        Auth::None => true,
        Auth::Bearer(t) => header("authorization") == Some(format!("Bearer {t}")),
        Auth::Header(h, v) => header(h).as_ref() == Some(v),
        Auth::Basic(encoded) => header("authorization") == Some(format!("Basic {encoded}")),
        Auth::Query(p, v) => query.get(p) == Some(v),
        Auth::OAuth => header("authorization")
            .and_then(|h| h.strip_prefix("Bearer ").map(str::to_string))
            .is_some_and(|t| s.access_tokens.contains(&t)),
    };
    if !authorized {
        s.unauthorized += 1;
        return Err(Box::new((StatusCode::UNAUTHORIZED, Json(json!({"error": "unauthorized"}))).into_response()));
    }
    let target = uri.path_and_query().map_or_else(|| uri.path().to_string(), |p| p.to_string());
    if let Some(i) = s.scripted.iter().position(|(needle, ..)| target.contains(needle.as_str())) {
        let (_, status, headers, body) = s.scripted.remove(i);
        let mut response = (StatusCode::from_u16(status).expect("a test's status"), body).into_response();
        for (k, v) in headers {
            let name = axum::http::HeaderName::from_bytes(k.as_bytes()).expect("a test's header name");
            response.headers_mut().insert(name, v.parse().expect("a test's header value"));
        }
        return Err(Box::new(response));
    }
    if s.throttle_after > 0 {
        s.throttle_after -= 1;
    } else if s.throttle > 0 {
        s.throttle -= 1;
        let status = StatusCode::from_u16(s.throttle_status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        let status = if s.throttle_status == 0 { StatusCode::TOO_MANY_REQUESTS } else { status };
        let mut refusal = (status, "slow down").into_response();
        if !s.retry_after.is_empty() {
            refusal.headers_mut().insert("retry-after", s.retry_after.parse().expect("a test's Retry-After"));
        }
        for (k, v) in &s.throttle_headers {
            let name = axum::http::HeaderName::from_bytes(k.as_bytes()).expect("a test's header name");
            refusal.headers_mut().insert(name, v.parse().expect("a test's header value"));
        }
        return Err(Box::new(refusal));
    }
    if s.fail_5xx > 0 {
        s.fail_5xx -= 1;
        return Err(Box::new((StatusCode::SERVICE_UNAVAILABLE, "try later").into_response()));
    }
    s.served += 1;
    let mut extra = s.extra_headers.clone();
    if s.rate_headers_every > 0 && s.served.is_multiple_of(s.rate_headers_every) {
        extra.push(("x-ratelimit-remaining".into(), "0".to_string()));
        extra.push(("x-ratelimit-reset".into(), s.rate_reset_s.to_string()));
    }
    if !s.rate_policy.is_empty() {
        extra.push(("ratelimit-policy".into(), s.rate_policy.clone()));
    }
    Ok(extra)
}

fn matching(s: &ApiState, since: Option<&str>) -> Vec<Value> {
    s.orders
        .iter()
        .filter(|o| {
            let t = o["updated_at"].as_str().unwrap();
            since.is_none_or(|since| if s.inclusive { t >= since } else { t > since })
        })
        .cloned()
        .collect()
}

/// The first of orders `1..=records` that `updated_since = since` selects, as
/// [`matching`] compares (RFC 3339 text, `>=` when `inclusive`, else `>`), by
/// bisection: `updated_at` grows with the id. `records + 1` when none is.
fn first_matching(since: &str, records: u64, inclusive: bool) -> u64 {
    let selected = |id: u64| {
        let t = updated_at_text(id);
        if inclusive { t.as_str() >= since } else { t.as_str() > since }
    };
    let (mut lo, mut hi) = (1, records + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if selected(mid) { hi = mid } else { lo = mid + 1 }
    }
    lo
}

/// Order `id`'s `updated_at` as its records carry it.
fn updated_at_text(id: u64) -> String {
    crate::calendar::rfc3339(dataset::updated_at(id as i64))
}

/// Logging, auth, injected failures and rate-limit headers, for every data
/// endpoint: a layer, so that each handler only serves its data.
async fn gatekeeper(State(st): State<Shared>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let extra = match gate(&mut st.lock().expect("mock API state"), req.headers(), req.uri()) {
        Ok(extra) => extra,
        Err(refusal) => return *refusal,
    };
    let mut response = next.run(req).await;
    for (k, v) in extra {
        let name = axum::http::HeaderName::from_bytes(k.as_bytes()).expect("a test's header name");
        response.headers_mut().insert(name, v.parse().expect("a test's header value"));
    }
    response
}

/// Records `start..end` of `all`, with the drift field on pages after the first.
fn page_of(s: &ApiState, all: &[Value], start: usize, end: usize) -> Vec<Value> {
    let mut page: Vec<Value> = all[start.min(all.len())..end.min(all.len())].to_vec();
    if s.drift_from_page_2 && start >= s.page_size {
        for r in &mut page {
            r["coupon"] = json!("SPRING");
        }
    }
    page
}

async fn cursor_page(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = st.lock().expect("mock API state");
    if let Some(pages) = &s.pages {
        if let (Some(Since { first, last }), Some(since)) = (pages.since, q.get("updated_since")) {
            let from = first_matching(since, last, s.inclusive);
            if from != first {
                let text = format!(
                    "updated_since={since} selects orders from {from} on; only those from {first} on are rendered"
                );
                return (StatusCode::BAD_REQUEST, text).into_response();
            }
        }
        return prerendered_page(pages, q.get("cursor"));
    }
    let all = matching(&s, q.get("updated_since").map(String::as_str));
    let start: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let end = start + s.page_size;
    let next = (end < all.len()).then(|| end.to_string());
    let data = page_of(&s, &all, start, end);
    Json(json!({ "data": data, "next_cursor": next })).into_response()
}

/// `/orders` with the records as the whole body and the next cursor in the
/// `X-Next-Cursor` header (absent on the last page).
async fn header_cursor_page(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = st.lock().expect("mock API state");
    let all = matching(&s, q.get("updated_since").map(String::as_str));
    let start: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let end = start + s.page_size;
    let mut response = Json(page_of(&s, &all, start, end)).into_response();
    if end < all.len() {
        response.headers_mut().insert("x-next-cursor", end.to_string().parse().expect("digits"));
    }
    response
}

/// A pre-rendered page: the cursor must be where a page starts.
fn prerendered_page(pages: &Pages, cursor: Option<&String>) -> Response {
    let cursor = match cursor.map(|c| c.parse::<u64>()) {
        None => 0,
        Some(Ok(c)) => c,
        Some(Err(_)) => return (StatusCode::BAD_REQUEST, "cursor is not a number").into_response(),
    };
    match pages.bodies.get((cursor / pages.page_size) as usize) {
        Some(body) if cursor % pages.page_size == 0 => {
            ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "no page starts at this cursor").into_response(),
    }
}

/// POST /orders with `{"cursor": …, "updated_since": …}` in the body.
async fn cursor_page_post(State(st): State<Shared>, Json(body): Json<Value>) -> Response {
    let s = st.lock().expect("mock API state");
    if body.get("kind") != Some(&json!("orders")) {
        return (StatusCode::BAD_REQUEST, "the body must carry kind = orders").into_response();
    }
    // The watermark at the top (`updated_since`), or deep in a HubSpot-style search filter.
    let since = body.get("updated_since").or_else(|| body.pointer("/filterGroups/0/filters/0/value"));
    let all = matching(&s, since.and_then(Value::as_str));
    let start: usize = body.get("cursor").and_then(Value::as_str).and_then(|c| c.parse().ok()).unwrap_or(0);
    let end = start + s.page_size;
    let next = (end < all.len()).then(|| end.to_string());
    let data = page_of(&s, &all, start, end);
    Json(json!({ "data": data, "next_cursor": next })).into_response()
}

async fn offset_page(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = st.lock().expect("mock API state");
    let all = matching(&s, None);
    let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(10);
    let items = page_of(&s, &all, offset, offset + limit);
    Json(json!({ "items": items, "total": all.len() })).into_response()
}

async fn numbered_page(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = st.lock().expect("mock API state");
    let all = matching(&s, None);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let per: usize = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(s.page_size);
    let items = page_of(&s, &all, (page - 1) * per, page * per);
    Json(json!({ "results": items, "meta": { "total_pages": all.len().div_ceil(per) } })).into_response()
}

async fn next_url_page(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = st.lock().expect("mock API state");
    let all = matching(&s, None);
    let start: usize = q.get("after").and_then(|v| v.parse().ok()).unwrap_or(0);
    let end = start + s.page_size;
    let next = (end < all.len()).then(|| format!("/next?after={end}"));
    Json(json!({ "items": page_of(&s, &all, start, end), "links": { "next": next } })).into_response()
}

async fn link_page(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = st.lock().expect("mock API state");
    let all = matching(&s, None);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let (start, end) = ((page - 1) * s.page_size, page * s.page_size);
    let mut link = "<http://127.0.0.1/linked?page=1>; rel=\"first\"".to_string();
    if end < all.len() {
        link.push_str(&format!(", </linked?page={}>; rel=\"next\"", page + 1));
    }
    let mut response = Json(Value::Array(page_of(&s, &all, start, end))).into_response();
    response.headers_mut().insert("link", link.parse().unwrap());
    response
}

/// Ten customers, two pages of five.
async fn customers(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let _s = st.lock().expect("mock API state");
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let list: Vec<Value> = ((page - 1) * 5 + 1..=(page * 5).min(10)).map(|i| json!({"id": format!("c{i}")})).collect();
    Json(json!({ "customers": list })).into_response()
}

/// A customer's orders: those with `customer == id`.
async fn customer_orders(State(st): State<Shared>, Path(id): Path<String>) -> Response {
    let s = st.lock().expect("mock API state");
    let list: Vec<Value> = s.orders.iter().filter(|o| o["customer"] == id.as_str()).cloned().collect();
    Json(json!({ "orders": list })).into_response()
}

/// GraphQL: `{ orders(first, after, since) { nodes pageInfo { hasNextPage endCursor } } }`.
async fn graphql(State(st): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut s = st.lock().expect("mock API state");
    if s.graphql_throttled > 0 {
        s.graphql_throttled -= 1;
        // Shopify's cost-based throttle: 102 points asked, 52 left, 50 restored a second.
        return Json(json!({
            "errors": [{ "message": "Throttled", "extensions": { "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits" } }],
            "extensions": { "cost": { "requestedQueryCost": 102, "actualQueryCost": null,
                "throttleStatus": { "maximumAvailable": 1000.0, "currentlyAvailable": 52, "restoreRate": 50.0 } } }
        }))
        .into_response();
    }
    let query = body["query"].as_str().unwrap_or("");
    if !query.contains("orders") {
        return Json(json!({"data": null, "errors": [{"message": "Cannot query field on type Query"}]}))
            .into_response();
    }
    let vars = &body["variables"];
    let all = matching(&s, vars["since"].as_str());
    let first = vars["first"].as_u64().unwrap_or(s.page_size as u64) as usize;
    let start: usize = vars["after"].as_str().and_then(|a| a.parse().ok()).unwrap_or(0);
    let end = (start + first).min(all.len());
    let nodes = page_of(&s, &all, start, end);
    Json(json!({ "data": { "orders": { "nodes": nodes, "pageInfo": { "hasNextPage": end < all.len(), "endCursor": end.to_string() } } } }))
        .into_response()
}

/// OAuth2 token endpoint: client credentials, or a refresh token that rotates on each use.
async fn token(State(st): State<Shared>, body: String) -> Response {
    let mut s = st.lock().expect("mock API state");
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    s.token_requests.push(form.get("grant_type").cloned().unwrap_or_default());
    if form.get("client_id").map(String::as_str) != Some("app")
        || form.get("client_secret").map(String::as_str) != Some("shh")
    {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    // Numbered by request, so that a token issued after a revocation is a new one.
    let n = s.token_requests.len();
    let mut answer =
        json!({ "access_token": format!("access-{n}"), "token_type": "bearer", "expires_in": s.expires_in });
    if s.omit_expires_in {
        answer.as_object_mut().expect("an object").remove("expires_in");
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some("refresh_token") => {
            if form.get("refresh_token") != Some(&s.refresh_token) {
                return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
            }
            s.refresh_token = format!("refresh-{n}");
            answer["refresh_token"] = json!(s.refresh_token);
        }
        _ => return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type"}))).into_response(),
    }
    s.access_tokens.push(format!("access-{n}"));
    Json(answer).into_response()
}

async fn redirect(Query(q): Query<HashMap<String, String>>) -> Response {
    Redirect::temporary(q.get("to").map_or("/", String::as_str)).into_response()
}

async fn export_start(State(st): State<Shared>) -> Response {
    let mut s = st.lock().expect("mock API state");
    s.exports_started += 1;
    Json(json!({ "id": format!("job-{}", s.exports_started), "state": "UploadComplete" })).into_response()
}

async fn export_status(State(st): State<Shared>) -> Response {
    let mut s = st.lock().expect("mock API state");
    if s.export_polls > 0 {
        s.export_polls -= 1;
        return Json(json!({ "state": "InProgress" })).into_response();
    }
    let files: Vec<String> = (1..=2).map(|i| format!("{}/files/part-{i}.csv", s.base_url)).collect();
    Json(json!({ "state": "JobComplete", "files": files })).into_response()
}

/// The export's files: the orders in two CSV halves.
async fn export_file(State(st): State<Shared>, Path(name): Path<String>) -> Response {
    let s = st.lock().expect("mock API state");
    let half = s.orders.len() / 2;
    let rows = match name.as_str() {
        "part-1.csv" => &s.orders[..half],
        "part-2.csv" => &s.orders[half..],
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    dataset::orders_csv(rows).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updated_since_selects_from_the_first_newer_order() {
        let at = |id| updated_at_text(id);
        assert_eq!(first_matching(&at(10), 25, false), 11);
        assert_eq!(first_matching(&at(10), 25, true), 10);
        assert_eq!(first_matching("2024-12-31T00:00:00Z", 25, false), 1);
        assert_eq!(first_matching(&at(25), 25, false), 26, "none is newer");
        // Between two orders' minutes: the later one, inclusive or not.
        assert_eq!(first_matching("2025-01-01T00:09:30Z", 25, true), 11);
    }

    #[test]
    fn pages_rendered_after_an_order_hold_the_newer_orders() {
        let pages = Pages::render_ids(10, 25, 4, Shape::Basic);
        assert_eq!(pages.count(), 4);
        let first: Value = serde_json::from_slice(&pages.bodies[0]).unwrap();
        assert_eq!(first["data"][0], dataset::record(10, Shape::Basic));
        assert_eq!(first["next_cursor"], "4");
        let last: Value = serde_json::from_slice(&pages.bodies[3]).unwrap();
        assert_eq!(last["data"].as_array().unwrap().len(), 4);
        assert_eq!(last["data"][3]["id"], 25);
        assert_eq!(last["next_cursor"], Value::Null);
        let whole = Pages::render(25, 4, Shape::Basic);
        assert_eq!(whole.count(), 7);
        assert_eq!(serde_json::from_slice::<Value>(&whole.bodies[6]).unwrap()["data"][0]["id"], 25);
    }

    /// The status line and body of a plain HTTP/1.1 GET of `target`.
    fn get(api: &MockApi, target: &str) -> (String, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", api.port)).unwrap();
        write!(stream, "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", api.host()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.lines().next().unwrap_or_default().to_string();
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
        (status, body)
    }

    #[test]
    fn pages_rendered_after_an_order_answer_only_its_watermark() {
        let api = MockApi::prerendered_after(10, 25, 4, Shape::Full, true).unwrap();
        let since = |id| url::form_urlencoded::byte_serialize(updated_at_text(id).as_bytes()).collect::<String>();
        let (status, body) = get(&api, &format!("/orders?updated_since={}&cursor=4", since(10)));
        assert!(status.contains(" 200 "), "{status}");
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(page["data"][0], dataset::record(14, Shape::Full), "inclusive: order 10 is the first");
        let (status, body) = get(&api, &format!("/orders?updated_since={}", since(11)));
        assert!(status.contains(" 400 "), "{status}");
        assert!(body.contains("selects orders from 11 on; only those from 10 on"), "{body}");
        let (status, _) = get(&api, "/orders");
        assert!(status.contains(" 200 "), "without updated_since: the rendered pages, {status}");
    }
}
