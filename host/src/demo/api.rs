//! The demo's mock orders API on 127.0.0.1: bearer auth, `updated_since`
//! filtering (exclusive), and cursor pagination in pages of 1,000.

use super::dataset::Order;
use crate::{Error, Result};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::{Arc, RwLock};

pub const TOKEN: &str = "demo-token";
const PAGE: usize = 1000;

type Orders = Arc<RwLock<Arc<Vec<Order>>>>;

pub struct MockApi {
    pub port: u16,
    orders: Orders,
    _server: tokio::task::JoinHandle<()>,
}

#[derive(Deserialize)]
struct Params {
    updated_since: Option<String>,
    cursor: Option<usize>,
}

impl MockApi {
    pub async fn start(orders: Vec<Order>) -> Result<MockApi> {
        let orders: Orders = Arc::new(RwLock::new(Arc::new(orders)));
        let app = axum::Router::new().route("/v1/orders", axum::routing::get(list)).with_state(orders.clone());
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(Error::io("starting the demo API"))?;
        let port = listener.local_addr().map_err(Error::io("starting the demo API"))?.port();
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("demo API stopped: {e}");
            }
        });
        Ok(MockApi { port, orders, _server: server })
    }

    /// Replaces the dataset the API serves.
    pub fn replace(&self, orders: Vec<Order>) {
        *self.orders.write().expect("demo API lock") = Arc::new(orders);
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        self._server.abort();
    }
}

async fn list(State(orders): State<Orders>, headers: HeaderMap, Query(p): Query<Params>) -> Response {
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"));
    if !authorized {
        return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({"error": "missing or wrong bearer token"})))
            .into_response();
    }
    let since = match p.updated_since.as_deref().map(DateTime::parse_from_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&Utc)),
        Some(Err(e)) => {
            return (StatusCode::BAD_REQUEST, Json(serde_json::json!({"error": format!("updated_since: {e}")})))
                .into_response();
        }
    };
    let orders = orders.read().expect("demo API lock").clone();
    let matching: Vec<&Order> = orders.iter().filter(|o| since.is_none_or(|s| o.updated_at > s)).collect();
    let start = p.cursor.unwrap_or(0).min(matching.len());
    let end = (start + PAGE).min(matching.len());
    let next = (end < matching.len()).then(|| end.to_string());
    Json(serde_json::json!({ "data": &matching[start..end], "next_cursor": next })).into_response()
}
