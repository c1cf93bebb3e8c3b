//! A source that is itself hostile or broken, on 127.0.0.1: what a malicious or
//! failing API does to the client that calls it. Each route is one attack; the
//! tests assert that the host ends each with a clear error naming the limit
//! that stopped it, with its memory bounded and committed data intact.
//!
//! Pages are in the shape the `rest` connector's cursor paginator reads:
//! `{"data":[…],"next_cursor":…}`.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bytes a [`HostileApi`] route expands to or trickles, set before it starts.
#[derive(Debug, Clone)]
pub struct Hostility {
    /// What `/bomb` decompresses to (gzip, about a thousandth of it on the wire).
    pub bomb_bytes: usize,
    /// The size of `/big-header`'s one header.
    pub header_bytes: usize,
    /// The size of `/huge-page`'s body: valid JSON, one record of one long string.
    pub page_bytes: usize,
}

impl Default for Hostility {
    fn default() -> Self {
        Hostility { bomb_bytes: 256 << 20, header_bytes: 1 << 20, page_bytes: 48 << 20 }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
}

struct Shared {
    hostility: Hostility,
    counters: Counters,
    /// `/bomb`'s compressed body, made once.
    bomb: Bytes,
}

pub struct HostileApi {
    pub port: u16,
    shared: Arc<Shared>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl HostileApi {
    /// Serves every attack on a free port of 127.0.0.1. For tests: panics if it cannot start.
    pub fn start(hostility: Hostility) -> HostileApi {
        let compressed = gzip_of_spaces(hostility.bomb_bytes);
        let shared = Arc::new(Shared { hostility, counters: Counters::default(), bomb: compressed });
        let app = axum::Router::new()
            .route("/bomb", axum::routing::get(bomb))
            .route("/endless", axum::routing::get(endless))
            .route("/trickle", axum::routing::get(trickle))
            .route("/loop", axum::routing::get(redirect_loop))
            .route("/big-header", axum::routing::get(big_header))
            .route("/huge-page", axum::routing::get(huge_page))
            .route("/same-cursor", axum::routing::get(same_cursor))
            .route("/forever", axum::routing::get(forever))
            .route("/echo", axum::routing::get(echo).post(echo))
            .route("/good", axum::routing::get(good))
            .layer(axum::middleware::from_fn_with_state(shared.clone(), count))
            .with_state(shared.clone());
        let (port, shutdown) =
            crate::api::serve_on_loopback(app, 2, "hostile-api").expect("the hostile API starts on 127.0.0.1");
        HostileApi { port, shared, _shutdown: shutdown }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests served so far, on every route.
    pub fn requests(&self) -> u64 {
        self.shared.counters.requests.load(Ordering::Relaxed)
    }
}

async fn count(
    State(s): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    s.counters.requests.fetch_add(1, Ordering::Relaxed);
    next.run(request).await
}

fn gzip_of_spaces(bytes: usize) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b' '; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len());
        encoder.write_all(&block[..n]).expect("writing to memory");
        left -= n;
    }
    Bytes::from(encoder.finish().expect("writing to memory"))
}

/// A small gzip body that expands a thousandfold: the response cap must apply
/// to what it decompresses to, not to what crossed the wire.
async fn bomb(State(s): State<Arc<Shared>>) -> Response {
    ([(header::CONTENT_ENCODING, "gzip"), (header::CONTENT_TYPE, "application/json")], s.bomb.clone()).into_response()
}

/// A chunked body that never ends: records, forever, as fast as the client reads.
async fn endless() -> Response {
    let head = futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"{\"data\":[")) });
    let record = Bytes::from(format!("{{\"id\":1,\"pad\":\"{}\"}},", "x".repeat(4000)));
    let records = futures::stream::repeat_with(move || Ok(record.clone()));
    Body::from_stream(futures::StreamExt::chain(head, records)).into_response()
}

/// One byte a second, forever: only a whole-request timeout ends it.
async fn trickle() -> Response {
    let bytes = futures::stream::unfold(0u64, |n| async move {
        if n > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Some((Ok::<_, std::io::Error>(Bytes::from_static(b" ")), n + 1))
    });
    Body::from_stream(bytes).into_response()
}

/// A redirect to itself.
async fn redirect_loop() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/loop")]).into_response()
}

/// A response whose one header is a megabyte long.
async fn big_header(State(s): State<Arc<Shared>>) -> Response {
    let value = "a".repeat(s.hostility.header_bytes);
    ([("x-padding", value)], r#"{"data":[],"next_cursor":null}"#).into_response()
}

/// A valid page of one record whose one string is `page_bytes` long.
async fn huge_page(State(s): State<Arc<Shared>>) -> Response {
    let mut body = Vec::with_capacity(s.hostility.page_bytes + 64);
    body.extend_from_slice(br#"{"data":[{"id":1,"pad":""#);
    body.resize(s.hostility.page_bytes, b'x');
    body.extend_from_slice(br#""}],"next_cursor":null}"#);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A paginator that never ends by repeating itself: the same cursor on every page.
async fn same_cursor() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"data":[{"id":1}],"next_cursor":"again"}"#).into_response()
}

/// A paginator that never ends with a new cursor and a record on every page.
async fn forever(Query(q): Query<HashMap<String, String>>) -> Response {
    let n: u64 = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0) + 1;
    let body = format!(r#"{{"data":[{{"id":{n}}}],"next_cursor":"{n}"}}"#);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Reflects every request header back in the body and in a response header, as
/// a TRACE or a debugging endpoint would: an injected credential included.
async fn echo(headers: HeaderMap) -> Response {
    let seen: Vec<String> =
        headers.iter().map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes()))).collect();
    let text = seen.join("\n");
    let body = serde_json::json!({ "data": [{ "value": text }], "next_cursor": null }).to_string();
    let reflected = headers.get(header::AUTHORIZATION).cloned().unwrap_or(header::HeaderValue::from_static("none"));
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    response.headers_mut().insert("x-echo-authorization", reflected);
    response
}

/// A well-behaved page of three records, for a stream beside the attacks.
async fn good() -> Response {
    let body = r#"{"data":[{"id":1},{"id":2},{"id":3}],"next_cursor":null}"#;
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
