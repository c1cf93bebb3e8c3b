//! Vendors' APIs as their public docs describe them, served by [`MockApi`]
//! beside its generic routes and over the same orders (`ApiState::orders`), so
//! that a test can mutate the source and sync again. Each answers in the
//! vendor's own shape, quirks included (newest-first lists, Unix times, empty
//! objects, `null` where a value is optional).
//!
//! - Stripe list endpoints (`GET /v1/charges`): `limit` (1..=100, default 10),
//!   `starting_after` (an object id), `created[gte]` (Unix seconds); newest
//!   first; `{"object":"list","url":…,"has_more":…,"data":[…]}`.
//!
//! [`MockApi`]: crate::MockApi

use crate::api::ApiState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Shared = Arc<Mutex<ApiState>>;

/// An order as a Stripe charge: `ch_` id, amount in cents, `created` in Unix seconds.
pub fn stripe_charge(order: &Value) -> Value {
    let id = order["id"].as_i64().unwrap_or(0);
    let created = order["updated_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp());
    json!({
        "id": format!("ch_{id:08}"),
        "object": "charge",
        "amount": (order["amount"].as_f64().unwrap_or(0.0) * 100.0).round() as i64,
        "currency": "usd",
        "customer": format!("cus_{}", order["customer"].as_str().unwrap_or("")),
        "created": created,
        "description": if id % 3 == 0 { Value::Null } else { json!(format!("order {id}")) },
        "metadata": {},
        "paid": true,
    })
}

/// `GET /v1/charges`.
pub(crate) async fn stripe_charges(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = st.lock().expect("mock API state");
    let limit: usize = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 10,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => return stripe_error("limit must be an integer between 1 and 100"),
    };
    let gte: Option<i64> = match q.get("created[gte]").map(|v| v.parse()) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return stripe_error("created[gte] must be a Unix timestamp"),
    };
    let mut charges: Vec<Value> = s
        .orders
        .iter()
        .map(stripe_charge)
        .filter(|c| gte.is_none_or(|g| c["created"].as_i64().unwrap_or(0) >= g))
        .collect();
    // Newest first, ties by id (newest id first), as Stripe lists them.
    charges.sort_by(|a, b| (b["created"].as_i64(), b["id"].as_str()).cmp(&(a["created"].as_i64(), a["id"].as_str())));
    let start = match q.get("starting_after") {
        None => 0,
        Some(after) => match charges.iter().position(|c| c["id"].as_str() == Some(after)) {
            Some(i) => i + 1,
            None => return stripe_error(&format!("No such charge: '{after}'")),
        },
    };
    let page: Vec<Value> = charges.iter().skip(start).take(limit).cloned().collect();
    let has_more = start + page.len() < charges.len();
    Json(json!({ "object": "list", "url": "/v1/charges", "has_more": has_more, "data": page })).into_response()
}

fn stripe_error(message: &str) -> Response {
    let body = json!({ "error": { "type": "invalid_request_error", "message": message } });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}
