//! A mock JSON API on 127.0.0.1 that tests control: cursor-paginated orders
//! with `updated_since` (exclusive), bearer auth, 429s with Retry-After on
//! demand, redirects and a request log. It runs on its own thread and runtime so
//! that tests stay plain `#[test]` functions driving the real binary.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct ApiState {
    pub orders: Vec<Value>,
    pub page_size: usize,
    /// The next this-many requests to /orders get 429.
    pub throttle: u32,
    /// Retry-After sent with each 429.
    pub retry_after: String,
    /// Bearer token required, if any.
    pub token: Option<String>,
    /// Path and query of every request, in order.
    pub log: Vec<String>,
}

pub struct MockApi {
    pub port: u16,
    pub state: Arc<Mutex<ApiState>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl MockApi {
    pub fn start(orders: Vec<Value>, page_size: usize) -> MockApi {
        let state = Arc::new(Mutex::new(ApiState { orders, page_size, retry_after: "1".into(), ..Default::default() }));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/orders", axum::routing::get(list))
            .route("/redirect", axum::routing::get(redirect))
            .with_state(state.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let port = port_rx.recv().expect("the mock API starts");
        MockApi { port, state, _shutdown: shutdown }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut ApiState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn requests(&self) -> Vec<String> {
        self.with(|s| s.log.clone())
    }
}

async fn list(
    State(state): State<Arc<Mutex<ApiState>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
) -> Response {
    let mut s = state.lock().unwrap();
    s.log.push(uri.to_string());
    if let Some(token) = &s.token {
        let expected = format!("Bearer {token}");
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({"error": "unauthorized"}))).into_response();
        }
    }
    if s.throttle > 0 {
        s.throttle -= 1;
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", s.retry_after.clone())], "slow down").into_response();
    }
    let since = q.get("updated_since").cloned();
    let matching: Vec<&Value> =
        s.orders.iter().filter(|o| since.as_deref().is_none_or(|t| o["updated_at"].as_str().unwrap() > t)).collect();
    let start: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0).min(matching.len());
    let end = (start + s.page_size).min(matching.len());
    let next = (end < matching.len()).then(|| end.to_string());
    Json(serde_json::json!({ "data": &matching[start..end], "next_cursor": next })).into_response()
}

async fn redirect(Query(q): Query<HashMap<String, String>>) -> Response {
    Redirect::temporary(q.get("to").map_or("/", String::as_str)).into_response()
}
