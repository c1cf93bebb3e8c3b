//! The API benchmark's mock orders API on 127.0.0.1: cursor pagination over
//! pages whose JSON bytes are all rendered before the server starts, so a request
//! costs the server no more than handing out a shared buffer and the figures
//! measure the clients, not the server. It runs on its own multi-thread runtime
//! inside the bench process, whose memory no measurement counts.

use crate::dataset;
use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

struct Pages {
    page_size: u64,
    bodies: Vec<Bytes>,
}

pub struct MockApi {
    pub port: u16,
    /// Total bytes of every page's body.
    pub bytes: u64,
    pub pages: u64,
    runtime: Option<tokio::runtime::Runtime>,
}

impl MockApi {
    /// Renders `records` records in pages of `page_size` and starts serving them:
    /// `GET /orders?cursor=K` → `{"data":[records K+1 ..= K+page_size],"next_cursor":"K+page_size" or null}`.
    pub fn start(records: u64, page_size: u64) -> Result<MockApi> {
        let pages = Arc::new(render(records, page_size));
        let bytes = pages.bodies.iter().map(|b| b.len() as u64).sum();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mock-api")
            .enable_all()
            .build()
            .context("starting the mock API's runtime")?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding the mock API")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let app = axum::Router::new().route("/orders", axum::routing::get(orders)).with_state(pages.clone());
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("mock API stopped: {e}");
            }
        });
        Ok(MockApi { port, bytes, pages: pages.bodies.len() as u64, runtime: Some(runtime) })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn render(records: u64, page_size: u64) -> Pages {
    let page_size = page_size.max(1);
    let count = records.div_ceil(page_size).max(1);
    let bodies = (0..count)
        .map(|p| {
            let (start, end) = (p * page_size, ((p + 1) * page_size).min(records));
            let mut body = Vec::with_capacity((end - start) as usize * 128 + 64);
            body.extend_from_slice(br#"{"data":["#);
            for id in start + 1..=end {
                if id > start + 1 {
                    body.push(b',');
                }
                dataset::write_json(&mut body, id as i64);
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
    Pages { page_size, bodies }
}

async fn orders(State(pages): State<Arc<Pages>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let cursor = match q.get("cursor").map(|c| c.parse::<u64>()) {
        None => 0,
        Some(Ok(c)) => c,
        Some(Err(_)) => return (StatusCode::BAD_REQUEST, "cursor is not a number").into_response(),
    };
    let page = cursor / pages.page_size;
    match pages.bodies.get(page as usize) {
        Some(body) if cursor % pages.page_size == 0 => {
            ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "no page starts at this cursor").into_response(),
    }
}
