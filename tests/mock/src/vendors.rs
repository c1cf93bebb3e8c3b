//! Vendors' APIs as their public docs describe them, served by [`MockApi`]
//! beside its generic routes and over the same orders (`ApiState::orders`), so
//! that a test can mutate the source and sync again. Each answers in the
//! vendor's own shape, quirks included (newest-first lists, Unix times, empty
//! objects, `null` where a value is optional).
//!
//! - Stripe list endpoints (`GET /v1/charges`): `limit` (1..=100, default 10),
//!   `starting_after` (an object id), `created[gte]` (Unix seconds); newest
//!   first; `{"object":"list","url":…,"has_more":…,"data":[…]}`.
//! - Zendesk's incremental cursor export (`GET /api/v2/incremental/tickets/cursor.json`):
//!   `start_time` then `cursor`, `after_cursor`, `end_of_stream`, and tickets whose
//!   nested fields vary in type and hold empty objects.
//! - Salesforce's SOQL query (`GET /services/data/v60.0/query?q=…`, then
//!   `nextRecordsUrl`), with `SystemModstamp` in its own `.000+0000` form.
//! - Salesforce's Bulk API 2.0 query jobs: `POST /services/data/v60.0/jobs/query`
//!   (`{"operation": "query", "query": SOQL}`), `GET …/jobs/query/{id}` until
//!   `JobComplete`, then `GET …/jobs/query/{id}/results?maxRecords=&locator=`: CSV
//!   (every value quoted, nulls empty, relationship fields as `Owner.Name`), the
//!   next page's locator in the `Sforce-Locator` header, `null` on the last.
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

/// An order as a Zendesk ticket, with the shapes Zendesk's incremental export
/// really has: `custom_fields[].value` a string, a boolean, a number or null from
/// ticket to ticket; `via.source.from` and `to` empty objects; `tags` an empty
/// list or a list of strings; `assignee_id` null or a number.
pub fn zendesk_ticket(order: &Value) -> Value {
    let id = order["id"].as_i64().unwrap_or(0);
    let value = match id % 4 {
        0 => json!("gold"),
        1 => json!(true),
        2 => json!(id * 10),
        _ => Value::Null,
    };
    json!({
        "id": id,
        "subject": format!("order {id}"),
        "status": if id % 2 == 0 { "open" } else { "solved" },
        "updated_at": order["updated_at"],
        "via": { "channel": "web", "source": { "from": {}, "to": {}, "rel": null } },
        "custom_fields": [{ "id": 360_001, "value": value }],
        "tags": if id % 3 == 0 { json!([]) } else { json!(["vip"]) },
        "assignee_id": if id % 5 == 0 { Value::Null } else { json!(id + 1000) },
    })
}

/// `GET /api/v2/incremental/tickets/cursor.json`: `start_time` (Unix seconds,
/// inclusive) on the first request, then `cursor`; `per_page` (default 1000);
/// `{"tickets":[…],"after_cursor":…,"end_of_stream":…}`, oldest first.
pub(crate) async fn zendesk_tickets(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = st.lock().expect("mock API state");
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(1000).clamp(1, 1000);
    // A cursor is `<start_time>:<offset>`, opaque to the client.
    let (start_time, offset) = match (q.get("cursor"), q.get("start_time")) {
        (Some(c), _) => match c.split_once(':').and_then(|(t, o)| Some((t.parse().ok()?, o.parse().ok()?))) {
            Some(parsed) => parsed,
            None => return stripe_error("invalid cursor"),
        },
        (None, Some(t)) => match t.parse::<i64>() {
            Ok(t) => (t, 0usize),
            Err(_) => return stripe_error("start_time must be a Unix timestamp"),
        },
        (None, None) => return stripe_error("start_time or cursor is required"),
    };
    let unix =
        |t: &Value| t.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map_or(0, |t| t.timestamp());
    let mut tickets: Vec<Value> =
        s.orders.iter().filter(|o| unix(&o["updated_at"]) >= start_time).map(zendesk_ticket).collect();
    tickets.sort_by(|a, b| (unix(&a["updated_at"]), a["id"].as_i64()).cmp(&(unix(&b["updated_at"]), b["id"].as_i64())));
    let page: Vec<Value> = tickets.iter().skip(offset).take(per_page).cloned().collect();
    let end = offset + page.len() >= tickets.len();
    let after = format!("{start_time}:{}", offset + page.len());
    Json(json!({
        "tickets": page,
        "after_cursor": after,
        "after_url": format!("/api/v2/incremental/tickets/cursor.json?cursor={after}"),
        "before_cursor": null,
        "end_of_stream": end,
    }))
    .into_response()
}

/// An order as a Salesforce sObject: `attributes` first, `SystemModstamp` in
/// Salesforce's own form (`2025-01-01T00:01:00.000+0000`: milliseconds and a zone
/// without a colon), a lookup that is null or an object.
pub fn salesforce_account(order: &Value) -> Value {
    let id = order["id"].as_i64().unwrap_or(0);
    let stamp = order["updated_at"].as_str().unwrap_or("").replace('Z', ".000+0000");
    json!({
        "attributes": { "type": "Account", "url": format!("/services/data/v60.0/sobjects/Account/001R00000{id:06}AAA") },
        "Id": format!("001R00000{id:06}AAA"),
        "Name": format!("Account {id}"),
        "AnnualRevenue": if id % 4 == 0 { Value::Null } else { json!(order["amount"]) },
        "Owner": if id % 3 == 0 { Value::Null } else { json!({ "attributes": { "type": "User" }, "Name": order["customer"] }) },
        "SystemModstamp": stamp,
    })
}

/// `GET /services/data/v60.0/query?q=SOQL`: the SOQL's `WHERE SystemModstamp > X`
/// is honoured (X a datetime literal), oldest first, in batches of the server's
/// page size with `nextRecordsUrl` while `done` is false.
pub(crate) async fn salesforce_query(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let s = st.lock().expect("mock API state");
    let Some(soql) = q.get("q") else { return salesforce_error("MALFORMED_QUERY", "q is required") };
    match query_records(&s, soql) {
        Ok(records) => page_of_query(&records, 0, s.page_size, soql),
        Err(refusal) => *refusal,
    }
}

/// `GET /services/data/v60.0/query/{locator}`: the next batch of a query.
pub(crate) async fn salesforce_more(
    State(st): State<Shared>,
    axum::extract::Path(locator): axum::extract::Path<String>,
) -> Response {
    let s = st.lock().expect("mock API state");
    // A locator is `<offset>-<the query, hex>`.
    let Some((offset, soql)) =
        locator.split_once('-').and_then(|(o, h)| Some((o.parse::<usize>().ok()?, hex_decode(h)?)))
    else {
        return salesforce_error("INVALID_QUERY_LOCATOR", "invalid query locator");
    };
    match query_records(&s, &soql) {
        Ok(records) => page_of_query(&records, offset, s.page_size, &soql),
        Err(refusal) => *refusal,
    }
}

/// The accounts a SOQL query selects, oldest first.
fn query_records(s: &ApiState, soql: &str) -> Result<Vec<Value>, Box<Response>> {
    let since = match soql.split_once("SystemModstamp > ") {
        None => None,
        Some((_, rest)) => {
            let literal = rest.split_whitespace().next().unwrap_or("");
            let parsed = chrono::DateTime::parse_from_rfc3339(literal)
                .or_else(|_| chrono::DateTime::parse_from_str(literal, "%Y-%m-%dT%H:%M:%S%.f%z"));
            match parsed {
                Ok(t) => Some(t),
                Err(_) => {
                    return Err(Box::new(salesforce_error(
                        "MALFORMED_QUERY",
                        &format!("invalid datetime literal: {literal}"),
                    )));
                }
            }
        }
    };
    let mut records: Vec<Value> = s
        .orders
        .iter()
        .filter(|o| {
            let t = o["updated_at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            since.is_none_or(|since| t.is_some_and(|t| t > since))
        })
        .map(salesforce_account)
        .collect();
    records.sort_by(|a, b| a["SystemModstamp"].as_str().cmp(&b["SystemModstamp"].as_str()));
    Ok(records)
}

fn page_of_query(records: &[Value], offset: usize, batch: usize, soql: &str) -> Response {
    let page: Vec<Value> = records.iter().skip(offset).take(batch).cloned().collect();
    let next = offset + page.len();
    let done = next >= records.len();
    let mut body = json!({ "totalSize": records.len(), "done": done, "records": page });
    if !done {
        body["nextRecordsUrl"] = json!(format!("/services/data/v60.0/query/{next}-{}", hex_encode(soql)));
    }
    Json(body).into_response()
}

fn hex_encode(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(h: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> =
        (0..h.len()).step_by(2).map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

fn salesforce_error(code: &str, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!([{ "errorCode": code, "message": message }]))).into_response()
}

/// `POST /services/data/v60.0/jobs/query`: a Bulk API 2.0 query job over the
/// SOQL in the body.
pub(crate) async fn bulk_query_start(State(st): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut s = st.lock().expect("mock API state");
    if body["operation"] != "query" && body["operation"] != "queryAll" {
        return salesforce_error("INVALIDJOB", "operation must be query or queryAll");
    }
    let Some(soql) = body["query"].as_str() else { return salesforce_error("INVALIDJOB", "query is required") };
    if let Err(refusal) = query_records(&s, soql) {
        return *refusal;
    }
    s.bulk_jobs.push(soql.to_string());
    let id = format!("750R0000000{:07}", s.bulk_jobs.len());
    Json(json!({
        "id": id, "operation": "query", "object": "Account", "createdById": "005R0000000", "state": "UploadComplete",
        "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": 60.0, "lineEnding": "LF", "columnDelimiter": "COMMA",
    }))
    .into_response()
}

/// The job named by an id the start answered.
fn bulk_job(s: &ApiState, id: &str) -> Option<String> {
    let n: usize = id.strip_prefix("750R0000000")?.parse().ok()?;
    s.bulk_jobs.get(n.checked_sub(1)?).cloned()
}

/// `GET /services/data/v60.0/jobs/query/{id}`: `InProgress` for `export_polls` polls, then `JobComplete`.
pub(crate) async fn bulk_query_status(
    State(st): State<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let mut s = st.lock().expect("mock API state");
    let Some(soql) = bulk_job(&s, &id) else { return not_found_job(&id) };
    let state = if s.export_polls > 0 {
        s.export_polls -= 1;
        "InProgress"
    } else {
        "JobComplete"
    };
    let processed = query_records(&s, &soql).map(|r| r.len()).unwrap_or(0);
    Json(json!({ "id": id, "operation": "query", "state": state, "numberRecordsProcessed": processed, "retries": 0 }))
        .into_response()
}

/// `GET /services/data/v60.0/jobs/query/{id}/results`: `maxRecords` rows (the
/// server's page size by default) from `locator` (opaque: an offset here), as CSV.
pub(crate) async fn bulk_query_results(
    State(st): State<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = st.lock().expect("mock API state");
    let Some(soql) = bulk_job(&s, &id) else { return not_found_job(&id) };
    let records = match query_records(&s, &soql) {
        Ok(r) => r,
        Err(refusal) => return *refusal,
    };
    let offset = match q.get("locator").map(|l| l.parse::<usize>()) {
        None => 0,
        Some(Ok(o)) => o,
        Some(Err(_)) => return salesforce_error("INVALID_LOCATOR", "invalid locator"),
    };
    let max = q.get("maxRecords").and_then(|m| m.parse::<usize>().ok()).unwrap_or(s.page_size).max(1);
    if s.bulk_fail_page == Some(offset / max + 1) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "unexpected error").into_response();
    }
    let quoted = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(t) => format!("\"{}\"", t.replace('"', "\"\"")),
        other => format!("\"{other}\""),
    };
    let mut csv = String::from("\"Id\",\"Name\",\"AnnualRevenue\",\"Owner.Name\",\"SystemModstamp\"\n");
    let page: Vec<&Value> = records.iter().skip(offset).take(max).collect();
    for r in &page {
        // Bulk results write datetimes in UTC with a `Z`, not the REST API's `+0000`.
        let stamp = Value::String(r["SystemModstamp"].as_str().unwrap_or("").replace("+0000", "Z"));
        let owner = r["Owner"].get("Name").cloned().unwrap_or(Value::Null);
        let cells = [&r["Id"], &r["Name"], &r["AnnualRevenue"], &owner, &stamp].map(quoted);
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    let next = offset + page.len();
    let locator = if next < records.len() { next.to_string() } else { "null".to_string() };
    (
        [
            ("content-type", "text/csv".to_string()),
            ("sforce-locator", locator),
            ("sforce-numberofrecords", page.len().to_string()),
        ],
        csv,
    )
        .into_response()
}

fn not_found_job(id: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!([{ "errorCode": "NOT_FOUND", "message": format!("no job {id}") }])))
        .into_response()
}
