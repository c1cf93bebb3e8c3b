//! More vendors' APIs as their public docs describe them, served by [`MockApi`]
//! beside [`vendors`](crate::vendors) and over the same orders
//! (`ApiState::orders`), so that a test can change the source and sync again.
//! Each answers in the vendor's own shape and refuses what the vendor refuses.
//!
//! - GitHub's repository issues (`GET /repos/{owner}/{repo}/issues`, docs.github.com
//!   "REST API endpoints for issues"): `state` (`open` by default), `since`
//!   (ISO 8601, issues updated at or after it), `sort`, `direction`, `per_page`
//!   (at most 100) and `page`; a bare JSON array; `Link` headers with `next`,
//!   `last`, `first` and `prev`, whose URLs name the repository by its id
//!   (`/repositories/{id}/issues`) as GitHub's do; pull requests among the
//!   issues, told by their `pull_request` key; `X-RateLimit-*` headers.
//! - Shopify's REST Admin orders (`GET /admin/api/2024-01/orders.json`, shopify.dev
//!   "Make paginated requests to the REST Admin API"): `limit` (at most 250),
//!   `status` (`open` by default), `updated_at_min` (at or after); pages by
//!   `page_info` in the `Link` header, and a request with `page_info` may carry
//!   only `limit` and `fields`: any other parameter is refused with a 400.
//!   Times carry the shop's offset (`2024-12-31T19:00:00-05:00`), prices are strings.
//! - Shopify's GraphQL Admin API (`POST /admin/api/2024-01/graphql.json`):
//!   `orders(first:, after:, query:, sortKey:, reverse:)` with Shopify's search
//!   syntax (`updated_at:>='…'`), `nodes` or `edges`, `pageInfo`, and the query's
//!   cost under `extensions.cost` (shopify.dev "GraphQL Admin API rate limits");
//!   `ApiState::graphql_throttled` answers a `THROTTLED` error in a 200.
//! - HubSpot's CRM contacts (developers.hubspot.com "CRM API | Search"): the list
//!   (`GET /crm/v3/objects/contacts`, `limit` at most 100, `after`, `properties`)
//!   and the search (`POST /crm/v3/objects/contacts/search`, `filterGroups`,
//!   `sorts`, `properties`, `limit` at most 200, `after` an offset), records as
//!   `{id, properties, createdAt, updatedAt, archived}` with every property a
//!   string or null, date filters as epoch milliseconds or ISO 8601, and the
//!   search's cap: no page starts at or past the 10,000th result (a 400).
//!
//! [`MockApi`]: crate::MockApi

use crate::api::ApiState;
use crate::calendar;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Shared = Arc<Mutex<ApiState>>;

/// The one repository the GitHub mock serves, `acme/app`, and its id (in its `Link` URLs).
pub const GITHUB_REPO: (&str, &str) = ("acme", "app");
pub const GITHUB_REPO_ID: i64 = 1_296_269;

/// Shopify's GraphQL THROTTLED answer and every answer's cost figures: a bucket of
/// 1,000 points refilled at 50 a second.
const SHOPIFY_BUCKET: f64 = 1000.0;
const SHOPIFY_RESTORE: f64 = 50.0;

/// HubSpot's search: the most results `limit` asks for, and the cap on any query's results.
pub const HUBSPOT_SEARCH_MAX_LIMIT: u64 = 200;
pub const HUBSPOT_SEARCH_CAP: usize = 10_000;

/// The order's `updated_at` as a time.
fn updated_at(order: &Value) -> DateTime<Utc> {
    order["updated_at"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(calendar::start, |t| t.with_timezone(&Utc))
}

/// When order `id` was created: a month before the dataset's clock starts, a minute apart.
fn created_at(id: i64) -> DateTime<Utc> {
    calendar::start() - Duration::days(30) + Duration::minutes(id)
}

/// The number in a customer name `c12`.
fn customer_no(order: &Value) -> i64 {
    order["customer"].as_str().and_then(|c| c.trim_start_matches('c').parse().ok()).unwrap_or(0)
}

/// Query pairs, in order, repeated keys kept.
fn pairs(raw: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// An opaque cursor: the hex of a JSON document only this mock reads.
fn opaque(v: &Value) -> String {
    v.to_string().bytes().map(|b| format!("{b:02x}")).collect()
}

fn unopaque(h: &str) -> Option<Value> {
    let bytes: Option<Vec<u8>> =
        (0..h.len()).step_by(2).map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok()).collect();
    serde_json::from_slice(&bytes?).ok()
}

fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
    response
}

// ---------------------------------------------------------------- GitHub

/// An order as a GitHub issue: `number` the order's id, `user` its customer,
/// `labels` empty or not, `assignee` null or a user, `pull_request` only on pull
/// requests (every seventh), `body` null or text holding the amount, `closed_at`
/// on closed ones, times as `2025-01-01T00:00:00Z`.
pub fn github_issue(order: &Value) -> Value {
    let id = order["id"].as_i64().unwrap_or(0);
    let login = order["customer"].as_str().unwrap_or("ghost");
    let updated = calendar::rfc3339(updated_at(order));
    let closed = id % 4 == 0;
    let label = |lid: i64, name: &str, color: &str, description: Value| {
        json!({ "id": lid, "node_id": format!("LA_kwDO{lid}"),
                "url": format!("https://api.github.com/repos/acme/app/labels/{name}"),
                "name": name, "color": color, "default": lid == 208_045_946, "description": description })
    };
    let labels = match id % 3 {
        0 => json!([]),
        1 => json!([label(208_045_946, "bug", "d73a4a", Value::Null)]),
        _ => json!([
            label(208_045_946, "bug", "d73a4a", Value::Null),
            label(208_045_947, "good first issue", "7057ff", json!("Good for newcomers"))
        ]),
    };
    let assignee = if id % 5 == 0 {
        Value::Null
    } else {
        json!({ "login": format!("dev{}", id % 4), "id": 5_000 + id % 4, "type": "User", "site_admin": false })
    };
    let assignees = if assignee.is_null() { json!([]) } else { json!([assignee.clone()]) };
    let mut issue = json!({
        "url": format!("https://api.github.com/repos/acme/app/issues/{id}"),
        "html_url": format!("https://github.com/acme/app/issues/{id}"),
        "id": 1_000_000_000 + id,
        "node_id": format!("I_kwDOABPHjc{id:06}"),
        "number": id,
        "title": format!("Order {id} needs a look"),
        "user": { "login": login, "id": 10_000 + customer_no(order), "type": "User", "site_admin": false },
        "labels": labels,
        "state": if closed { "closed" } else { "open" },
        "state_reason": if closed { json!("completed") } else { Value::Null },
        "locked": false,
        "assignee": assignee,
        "assignees": assignees,
        "milestone": null,
        "comments": id % 7,
        "created_at": calendar::rfc3339(created_at(id)),
        "updated_at": updated,
        "closed_at": if closed { json!(updated) } else { Value::Null },
        "author_association": "CONTRIBUTOR",
        "body": if id % 6 == 0 { Value::Null } else { json!(format!("Amount {}", order["amount"])) },
    });
    if id % 7 == 0 {
        issue["pull_request"] = json!({
            "url": format!("https://api.github.com/repos/acme/app/pulls/{id}"),
            "html_url": format!("https://github.com/acme/app/pull/{id}"),
            "diff_url": format!("https://github.com/acme/app/pull/{id}.diff"),
            "patch_url": format!("https://github.com/acme/app/pull/{id}.patch"),
            "merged_at": null,
        });
    }
    issue
}

/// `GET /repos/{owner}/{repo}/issues`.
pub(crate) async fn github_issues(
    State(st): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    if (owner.as_str(), repo.as_str()) != GITHUB_REPO {
        return github_error(StatusCode::NOT_FOUND, json!({ "message": "Not Found" }));
    }
    github_list(&st, raw)
}

/// `GET /repositories/{id}/issues`: where GitHub's `Link` headers point.
pub(crate) async fn github_issues_by_id(
    State(st): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if id != GITHUB_REPO_ID.to_string() {
        return github_error(StatusCode::NOT_FOUND, json!({ "message": "Not Found" }));
    }
    github_list(&st, raw)
}

fn github_list(st: &Shared, raw: Option<String>) -> Response {
    let s = st.lock().expect("mock API state");
    let pairs = pairs(raw);
    let q: HashMap<&str, &str> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let invalid = |field: &str, value: &str| {
        github_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "message": "Validation Failed",
                    "errors": [{ "resource": "Issue", "field": field, "code": "invalid", "value": value }],
                    "documentation_url": "https://docs.github.com/rest/issues/issues#list-repository-issues",
                    "status": "422" }),
        )
    };
    let state = q.get("state").copied().unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return invalid("state", state);
    }
    let since = match q.get("since") {
        None => None,
        Some(t) => match DateTime::parse_from_rfc3339(t) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => return invalid("since", t),
        },
    };
    let sort = q.get("sort").copied().unwrap_or("created");
    if !matches!(sort, "created" | "updated" | "comments") {
        return invalid("sort", sort);
    }
    let direction = q.get("direction").copied().unwrap_or("desc");
    if !matches!(direction, "asc" | "desc") {
        return invalid("direction", direction);
    }
    // GitHub caps `per_page` at 100 rather than refusing more.
    let per_page = q.get("per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(30).clamp(1, 100);
    let page = q.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);

    let mut issues: Vec<Value> = s
        .orders
        .iter()
        .filter(|o| since.is_none_or(|since| updated_at(o) >= since))
        .map(github_issue)
        .filter(|i| state == "all" || i["state"] == state)
        .collect();
    let key = |i: &Value| match sort {
        "created" => (i["created_at"].as_str().unwrap_or("").to_string(), i["number"].as_i64()),
        "updated" => (i["updated_at"].as_str().unwrap_or("").to_string(), i["number"].as_i64()),
        _ => (format!("{:010}", i["comments"].as_i64().unwrap_or(0)), i["number"].as_i64()),
    };
    issues.sort_by_key(key);
    if direction == "desc" {
        issues.reverse();
    }
    let pages = issues.len().div_ceil(per_page).max(1);
    let body: Vec<Value> = issues.into_iter().skip((page - 1) * per_page).take(per_page).collect();

    let link_to = |n: usize| {
        let mut url = url::Url::parse(&format!("{}/repositories/{GITHUB_REPO_ID}/issues", s.base_url))
            .expect("the mock's base URL");
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in pairs.iter().filter(|(k, _)| k != "page") {
                query.append_pair(k, v);
            }
            query.append_pair("page", &n.to_string());
        }
        url.to_string()
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
    }
    if page < pages {
        links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", link_to(pages)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"first\"", link_to(1)));
    }
    let used = s.log.len().min(5000);
    let mut response = Json(Value::Array(body)).into_response();
    if !links.is_empty() {
        response = with_header(response, "link", &links.join(", "));
    }
    let reset = (Utc::now() + Duration::hours(1)).timestamp().to_string();
    response = with_header(response, "x-ratelimit-limit", "5000");
    response = with_header(response, "x-ratelimit-remaining", &(5000 - used).to_string());
    response = with_header(response, "x-ratelimit-used", &used.to_string());
    response = with_header(response, "x-ratelimit-reset", &reset);
    with_header(response, "x-ratelimit-resource", "core")
}

fn github_error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

// ---------------------------------------------------------------- Shopify REST

/// The shop's time zone: Eastern, without daylight saving (the dataset is in January).
fn shop_time(t: DateTime<Utc>) -> String {
    let eastern = FixedOffset::west_opt(5 * 3600).expect("a valid offset");
    t.with_timezone(&eastern).to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// An order as a Shopify REST order: a numeric `id`, `name` `#1001`, times in the
/// shop's offset (`2024-12-31T19:00:00-05:00`), prices as strings, `customer`
/// null or an object, `line_items` empty or not; every fourth order closed,
/// every eleventh cancelled.
pub fn shopify_order(order: &Value) -> Value {
    let id = order["id"].as_i64().unwrap_or(0);
    let customer = order["customer"].as_str().unwrap_or("");
    let price = format!("{:.2}", order["amount"].as_f64().unwrap_or(0.0));
    let updated = shop_time(updated_at(order));
    let created = shop_time(created_at(id));
    let cancelled = id % 11 == 0;
    json!({
        "id": 450_789_000 + id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{}", 450_789_000 + id),
        "name": format!("#{}", 1000 + id),
        "order_number": 1000 + id,
        "email": if id % 6 == 0 { Value::Null } else { json!(format!("{customer}@example.com")) },
        "created_at": created,
        "processed_at": created,
        "updated_at": updated,
        "closed_at": if id % 4 == 0 { json!(updated) } else { Value::Null },
        "cancelled_at": if cancelled { json!(updated) } else { Value::Null },
        "cancel_reason": if cancelled { json!("customer") } else { Value::Null },
        "currency": "USD",
        "total_price": price,
        "subtotal_price": price,
        "total_tax": "0.00",
        "financial_status": if cancelled { "refunded" } else { "paid" },
        "fulfillment_status": if id % 4 == 0 { json!("fulfilled") } else { Value::Null },
        "customer": if id % 6 == 0 { Value::Null } else { json!({
            "id": 207_119_551 + customer_no(order),
            "email": format!("{customer}@example.com"),
            "first_name": customer,
            "last_name": null,
            "state": "enabled",
            "verified_email": true,
        }) },
        "line_items": if id % 5 == 0 { json!([]) } else { json!([{
            "id": 466_157_049 + id,
            "variant_id": 39_072_856 + id % 10,
            "title": "Widget",
            "quantity": 1,
            "price": price,
            "sku": format!("W-{}", id % 10),
            "taxable": true,
        }]) },
        "tags": if id % 3 == 0 { "" } else { "wholesale" },
        "note": null,
    })
}

/// What a `page_info` stands for: the first request's filters and where the page starts.
fn shopify_filters_match(order: &Value, status: &str, min: Option<DateTime<FixedOffset>>) -> bool {
    let o = shopify_order(order);
    let status_ok = match status {
        "any" => true,
        "closed" => !o["closed_at"].is_null(),
        "cancelled" => !o["cancelled_at"].is_null(),
        _ => o["closed_at"].is_null() && o["cancelled_at"].is_null(),
    };
    status_ok && min.is_none_or(|min| updated_at(order) >= min)
}

/// `GET /admin/api/2024-01/orders.json`: newest first; `page_info` cursors in the
/// `Link` header; a `page_info` request may carry only `limit` and `fields`.
pub(crate) async fn shopify_orders(State(st): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let s = st.lock().expect("mock API state");
    let pairs = pairs(raw);
    let q: HashMap<&str, &str> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(l)) if (1..=250).contains(&l) => l,
        Some(_) => return shopify_error(json!({ "limit": "must be an integer between 1 and 250" })),
    };
    // (status, updated_at_min as sent, the page's bound and its direction)
    let (status, min_text, bound) = match q.get("page_info") {
        Some(info) => {
            let others: Vec<&str> = pairs
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| !matches!(*k, "page_info" | "limit" | "fields"))
                .collect();
            if !others.is_empty() {
                return shopify_error(json!({ "page_info": format!(
                    "a request with page_info may only carry limit and fields; not {}", others.join(", ")) }));
            }
            let Some(cursor) = unopaque(info) else {
                return shopify_error(json!({ "page_info": "Invalid value." }));
            };
            let status = cursor["status"].as_str().unwrap_or("open").to_string();
            let min = cursor["updated_at_min"].as_str().map(str::to_string);
            let bound = (cursor["direction"].as_str() == Some("prev"), cursor["id"].as_i64().unwrap_or(0));
            (status, min, Some(bound))
        }
        None => (
            q.get("status").copied().unwrap_or("open").to_string(),
            q.get("updated_at_min").map(|t| t.to_string()),
            None,
        ),
    };
    if !matches!(status.as_str(), "open" | "closed" | "cancelled" | "any") {
        return shopify_error(json!({ "status": "must be open, closed, cancelled or any" }));
    }
    let min = match &min_text {
        None => None,
        Some(t) => match DateTime::parse_from_rfc3339(t) {
            Ok(t) => Some(t),
            Err(_) => return shopify_error(json!({ "updated_at_min": format!("`{t}` is not an ISO 8601 time") })),
        },
    };
    let mut matching: Vec<&Value> = s.orders.iter().filter(|o| shopify_filters_match(o, &status, min)).collect();
    matching.sort_by_key(|o| std::cmp::Reverse(o["id"].as_i64()));
    let id = |o: &Value| 450_789_000 + o["id"].as_i64().unwrap_or(0);
    let page: Vec<&Value> = match bound {
        None => matching.iter().take(limit).copied().collect(),
        Some((false, after)) => matching.iter().filter(|o| id(o) < after).take(limit).copied().collect(),
        Some((true, before)) => {
            let earlier: Vec<&Value> = matching.iter().filter(|o| id(o) > before).copied().collect();
            earlier[earlier.len().saturating_sub(limit)..].to_vec()
        }
    };
    let cursor = |direction: &str, at: i64| {
        opaque(&json!({ "direction": direction, "id": at, "status": status, "updated_at_min": min_text }))
    };
    let link_to = |info: String| format!("{}/admin/api/2024-01/orders.json?page_info={info}&limit={limit}", s.base_url);
    let mut links = Vec::new();
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        if matching.iter().any(|o| id(o) > id(first)) {
            links.push(format!("<{}>; rel=\"previous\"", link_to(cursor("prev", id(first)))));
        }
        if matching.iter().any(|o| id(o) < id(last)) {
            links.push(format!("<{}>; rel=\"next\"", link_to(cursor("next", id(last)))));
        }
    }
    let orders: Vec<Value> = page.into_iter().map(shopify_order).collect();
    let mut response = Json(json!({ "orders": orders })).into_response();
    if !links.is_empty() {
        response = with_header(response, "link", &links.join(", "));
    }
    with_header(response, "x-shopify-shop-api-call-limit", "1/40")
}

fn shopify_error(errors: Value) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "errors": errors }))).into_response()
}

// ---------------------------------------------------------------- Shopify GraphQL

/// An order as a node of Shopify's GraphQL `orders` connection: a global id,
/// `updatedAt` in UTC (`2025-01-01T00:00:00Z`), money as a decimal string, a
/// nullable `customer`, and a `lineItems` connection (empty or not).
pub fn shopify_order_node(order: &Value) -> Value {
    let id = order["id"].as_i64().unwrap_or(0);
    let customer = order["customer"].as_str().unwrap_or("");
    json!({
        "id": format!("gid://shopify/Order/{}", 450_789_000 + id),
        "name": format!("#{}", 1000 + id),
        "createdAt": calendar::rfc3339(created_at(id)),
        "updatedAt": calendar::rfc3339(updated_at(order)),
        "displayFinancialStatus": if id % 11 == 0 { "REFUNDED" } else { "PAID" },
        "totalPriceSet": { "shopMoney": {
            "amount": format!("{:.2}", order["amount"].as_f64().unwrap_or(0.0)), "currencyCode": "USD" } },
        "customer": if id % 6 == 0 { Value::Null } else { json!({
            "id": format!("gid://shopify/Customer/{}", 207_119_551 + customer_no(order)),
            "email": format!("{customer}@example.com"),
        }) },
        "lineItems": { "nodes": if id % 5 == 0 { json!([]) } else { json!([{
            "id": format!("gid://shopify/LineItem/{}", 466_157_049 + id),
            "title": "Widget",
            "quantity": 1,
            "sku": format!("W-{}", id % 10),
        }]) } },
    })
}

/// The arguments of the query's `orders(…)` field: literals, or `$variables`
/// resolved from `variables`.
fn orders_arguments(query: &str, variables: &Value) -> Result<HashMap<String, Value>, String> {
    let at = query.find("orders(").ok_or("Field 'orders' takes arguments here: orders(first: …)")?;
    let mut chars = query[at + "orders(".len()..].chars().peekable();
    let mut args = HashMap::new();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        match chars.peek() {
            None => return Err("unterminated arguments of orders(…)".into()),
            Some(')') => return Ok(args),
            _ => {}
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| c.is_alphanumeric() || *c == '_')).collect();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if name.is_empty() || chars.next() != Some(':') {
            return Err("malformed arguments of orders(…)".into());
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let value = if chars.peek() == Some(&'"') {
            let mut literal = String::from(chars.next().expect("a quote"));
            let mut escaped = false;
            for c in chars.by_ref() {
                literal.push(c);
                if c == '"' && !escaped {
                    break;
                }
                escaped = c == '\\' && !escaped;
            }
            serde_json::from_str(&literal).map_err(|e| format!("bad string literal {literal}: {e}"))?
        } else {
            let token: String =
                std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && *c != ',' && *c != ')')).collect();
            match token.strip_prefix('$') {
                Some(var) => variables.get(var).cloned().unwrap_or(Value::Null),
                None => serde_json::from_str(&token).unwrap_or(Value::String(token)),
            }
        };
        args.insert(name, value);
    }
}

/// The `updated_at` terms of a Shopify search query (`updated_at:>='2025-01-01T00:00:00Z'`,
/// `updated_at:<2025-02-01`), each a comparison and a time; other terms are not
/// filters this mock knows, and a term whose time does not parse is a warning,
/// as Shopify reports them, and filters nothing.
fn updated_at_terms(search: &str) -> (Vec<(&'static str, DateTime<Utc>)>, Vec<String>) {
    let (mut terms, mut warnings) = (Vec::new(), Vec::new());
    for token in search.split_whitespace() {
        let Some(rest) = token.strip_prefix("updated_at:") else { continue };
        let (op, value) =
            [">=", "<=", ">", "<"].iter().find_map(|op| rest.strip_prefix(op).map(|v| (*op, v))).unwrap_or(("=", rest));
        let value = value.trim_matches(|c| c == '\'' || c == '"');
        let time = DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc)).ok().or_else(|| {
            chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok().map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc())
        });
        match time {
            Some(t) => terms.push((op, t)),
            None => warnings.push(format!("Invalid value for updated_at: {value}")),
        }
    }
    (terms, warnings)
}

fn graphql_error(message: &str) -> Response {
    Json(json!({ "errors": [{ "message": message, "locations": [], "path": ["orders"] }] })).into_response()
}

/// `POST /admin/api/2024-01/graphql.json` with `{query, variables}` asking for `orders(…)`.
pub(crate) async fn shopify_graphql(State(st): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut s = st.lock().expect("mock API state");
    if s.graphql_throttled > 0 {
        s.graphql_throttled -= 1;
        return Json(json!({
            "errors": [{ "message": "Throttled",
                "extensions": { "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits" } }],
            "extensions": { "cost": { "requestedQueryCost": 102, "actualQueryCost": null,
                "throttleStatus": { "maximumAvailable": SHOPIFY_BUCKET, "currentlyAvailable": 52,
                    "restoreRate": SHOPIFY_RESTORE } } }
        }))
        .into_response();
    }
    let query = body["query"].as_str().unwrap_or("");
    if !query.contains("orders") {
        return graphql_error("Field doesn't exist on type 'QueryRoot'");
    }
    let args = match orders_arguments(query, &body["variables"]) {
        Ok(args) => args,
        Err(e) => return graphql_error(&e),
    };
    let first = match args.get("first").and_then(Value::as_u64) {
        None => return graphql_error("you must provide one of first or last"),
        Some(f) if f > 250 => return graphql_error("The maximum page size is 250"),
        Some(f) => f as usize,
    };
    let sort_key = args.get("sortKey").and_then(Value::as_str).unwrap_or("ID");
    if !matches!(sort_key, "ID" | "UPDATED_AT" | "CREATED_AT") {
        return graphql_error(&format!("Argument 'sortKey' has an invalid value ({sort_key})"));
    }
    let reverse = args.get("reverse").and_then(Value::as_bool).unwrap_or(false);
    let (terms, warnings) = updated_at_terms(args.get("query").and_then(Value::as_str).unwrap_or(""));

    let mut nodes: Vec<Value> = s
        .orders
        .iter()
        .filter(|o| {
            let t = updated_at(o);
            terms.iter().all(|(op, at)| match *op {
                ">=" => t >= *at,
                ">" => t > *at,
                "<=" => t <= *at,
                "<" => t < *at,
                _ => t == *at,
            })
        })
        .map(shopify_order_node)
        .collect();
    // Sorted by (the sort key's value, the numeric id); a cursor holds the last node's.
    let key = |n: &Value| {
        let value = match sort_key {
            "UPDATED_AT" => n["updatedAt"].as_str().unwrap_or("").to_string(),
            "CREATED_AT" => n["createdAt"].as_str().unwrap_or("").to_string(),
            _ => String::new(),
        };
        let id: i64 = n["id"].as_str().and_then(|g| g.rsplit('/').next()?.parse().ok()).unwrap_or(0);
        (value, id)
    };
    let order = |a: &Value, b: &Value| {
        let o = key(a).cmp(&key(b));
        if reverse { o.reverse() } else { o }
    };
    nodes.sort_by(order);
    let start = match args.get("after").and_then(Value::as_str) {
        None => 0,
        Some(after) => {
            let Some(at) = unopaque(after).and_then(|c| Some((c["v"].as_str()?.to_string(), c["id"].as_i64()?))) else {
                return graphql_error("Invalid cursor for current pagination sort.");
            };
            nodes
                .iter()
                .position(|n| {
                    let o = key(n).cmp(&at);
                    (if reverse { o.reverse() } else { o }) == Ordering::Greater
                })
                .unwrap_or(nodes.len())
        }
    };
    let page: Vec<Value> = nodes.iter().skip(start).take(first).cloned().collect();
    let cursor_of = |n: &Value| {
        let (v, id) = key(n);
        opaque(&json!({ "v": v, "id": id }))
    };
    let has_next = start + page.len() < nodes.len();
    let mut connection = json!({ "pageInfo": {
        "hasNextPage": has_next,
        "hasPreviousPage": start > 0,
        "startCursor": page.first().map(cursor_of),
        "endCursor": page.last().map(cursor_of),
    } });
    if query.contains("nodes") {
        connection["nodes"] = json!(page);
    }
    if query.contains("edges") {
        connection["edges"] = page.iter().map(|n| json!({ "cursor": cursor_of(n), "node": n })).collect();
    }
    let requested = first as f64 + 2.0;
    let mut extensions = json!({ "cost": {
        "requestedQueryCost": requested,
        "actualQueryCost": page.len() as f64 + 2.0,
        "throttleStatus": { "maximumAvailable": SHOPIFY_BUCKET, "currentlyAvailable": SHOPIFY_BUCKET - requested,
            "restoreRate": SHOPIFY_RESTORE },
    } });
    if !warnings.is_empty() {
        extensions["search"] = json!([{ "path": ["orders"], "query": args.get("query"), "warnings": warnings }]);
    }
    Json(json!({ "data": { "orders": connection }, "extensions": extensions })).into_response()
}

// ---------------------------------------------------------------- HubSpot

/// HubSpot's datetime form: UTC with milliseconds.
fn hubspot_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The properties a contact search or list returns when none are asked for.
const HUBSPOT_DEFAULT_PROPERTIES: [&str; 6] =
    ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"];
/// The properties returned whichever are asked for.
const HUBSPOT_ALWAYS: [&str; 3] = ["createdate", "hs_object_id", "lastmodifieddate"];
const HUBSPOT_DATES: [&str; 2] = ["createdate", "lastmodifieddate"];

/// Every property of the contact an order stands for, each a string or null.
fn hubspot_properties(order: &Value) -> Map<String, Value> {
    let id = order["id"].as_i64().unwrap_or(0);
    let customer = order["customer"].as_str().unwrap_or("");
    let text = |s: String| Value::String(s);
    let mut p = Map::new();
    p.insert("createdate".into(), text(hubspot_time(created_at(id))));
    p.insert("email".into(), if id % 8 == 0 { Value::Null } else { text(format!("{customer}-{id}@example.com")) });
    p.insert("firstname".into(), text(format!("Contact {id}")));
    p.insert("hs_object_id".into(), text((1000 + id).to_string()));
    p.insert("lastmodifieddate".into(), text(hubspot_time(updated_at(order))));
    p.insert("lastname".into(), if id % 3 == 0 { Value::Null } else { text(customer.to_uppercase()) });
    p.insert("lifecyclestage".into(), text(if id % 2 == 0 { "customer" } else { "lead" }.into()));
    p.insert("total_revenue".into(), text(format!("{:.2}", order["amount"].as_f64().unwrap_or(0.0))));
    p
}

/// An order as a HubSpot contact with `properties` (the defaults when empty; the
/// ones always returned besides them otherwise; unknown ones left out).
pub fn hubspot_contact(order: &Value, properties: &[&str]) -> Value {
    let id = order["id"].as_i64().unwrap_or(0);
    let all = hubspot_properties(order);
    let wanted: Vec<&str> = if properties.is_empty() {
        HUBSPOT_DEFAULT_PROPERTIES.to_vec()
    } else {
        properties.iter().chain(HUBSPOT_ALWAYS.iter()).copied().collect()
    };
    let props: Map<String, Value> =
        wanted.iter().filter_map(|p| all.get(*p).map(|v| (p.to_string(), v.clone()))).collect();
    json!({
        "id": (1000 + id).to_string(),
        "properties": props,
        "createdAt": all["createdate"],
        "updatedAt": all["lastmodifieddate"],
        "archived": false,
    })
}

fn hubspot_error(message: &str) -> Response {
    let body = json!({ "status": "error", "message": message, "correlationId": "00000000-0000-0000-0000-000000000000",
                       "category": "VALIDATION_ERROR" });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `GET /crm/v3/objects/contacts`: by id; `after` the id the next page starts at.
pub(crate) async fn hubspot_contacts(State(st): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let s = st.lock().expect("mock API state");
    let pairs = pairs(raw);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let limit = match get("limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => return hubspot_error("limit must be between 1 and 100"),
    };
    let after = match get("after").map(str::parse::<i64>) {
        None => 0,
        Some(Ok(a)) => a,
        Some(Err(_)) => return hubspot_error("after is not a valid paging cursor"),
    };
    let properties: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "properties")
        .flat_map(|(_, v)| v.split(','))
        .filter(|p| !p.is_empty())
        .collect();
    let mut contacts: Vec<Value> = if get("archived") == Some("true") {
        Vec::new()
    } else {
        s.orders.iter().map(|o| hubspot_contact(o, &properties)).collect()
    };
    let id = |c: &Value| c["id"].as_str().and_then(|i| i.parse::<i64>().ok()).unwrap_or(0);
    contacts.sort_by_key(id);
    let rest: Vec<&Value> = contacts.iter().filter(|c| id(c) >= after).collect();
    let page: Vec<Value> = rest.iter().take(limit).map(|c| (*c).clone()).collect();
    let mut body = json!({ "results": page });
    if let Some(next) = rest.get(limit) {
        let next = id(next).to_string();
        body["paging"] = json!({ "next": { "after": next,
            "link": format!("{}/crm/v3/objects/contacts?after={next}", s.base_url) } });
    }
    Json(body).into_response()
}

/// A time a date filter compares: epoch milliseconds (a number or its digits) or ISO 8601.
fn hubspot_millis(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis()),
        _ => None,
    }
}

/// Whether a contact's properties pass one filter.
fn hubspot_filter(props: &Map<String, Value>, filter: &Value) -> Result<bool, String> {
    let name = filter["propertyName"].as_str().ok_or("a filter has no propertyName")?;
    let operator = filter["operator"].as_str().ok_or("a filter has no operator")?;
    let have = props.get(name).filter(|v| !v.is_null());
    if operator == "HAS_PROPERTY" || operator == "NOT_HAS_PROPERTY" {
        return Ok(have.is_some() == (operator == "HAS_PROPERTY"));
    }
    let value = filter
        .get("value")
        .filter(|v| !v.is_null())
        .ok_or_else(|| format!("the {operator} filter on {name} has no value"))?;
    let Some(have) = have else { return Ok(operator == "NEQ") };
    let order = if HUBSPOT_DATES.contains(&name) {
        let want = hubspot_millis(value)
            .ok_or_else(|| format!("{value} is not a valid date for {name}: use epoch milliseconds or ISO 8601"))?;
        hubspot_millis(have).unwrap_or(0).cmp(&want)
    } else {
        let (a, b) = (have.as_str().unwrap_or(""), value.as_str().map_or_else(|| value.to_string(), str::to_string));
        match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => a.cmp(b.as_str()),
        }
    };
    Ok(match operator {
        "EQ" => order == Ordering::Equal,
        "NEQ" => order != Ordering::Equal,
        "GT" => order == Ordering::Greater,
        "GTE" => order != Ordering::Less,
        "LT" => order == Ordering::Less,
        "LTE" => order != Ordering::Greater,
        other => return Err(format!("operator {other} is not supported here")),
    })
}

/// `POST /crm/v3/objects/contacts/search`: `filterGroups` (OR of groups, AND
/// within one), one sort, `limit` up to 200, `after` an offset into the results,
/// none of which may start at or past the 10,000th.
pub(crate) async fn hubspot_search(State(st): State<Shared>, Json(body): Json<Value>) -> Response {
    let s = st.lock().expect("mock API state");
    let limit = match &body["limit"] {
        Value::Null => 10,
        v => match v.as_u64() {
            Some(l) if (1..=HUBSPOT_SEARCH_MAX_LIMIT).contains(&l) => l as usize,
            _ => return hubspot_error(&format!("limit must be between 1 and {HUBSPOT_SEARCH_MAX_LIMIT}, not {v}")),
        },
    };
    let offset = match &body["after"] {
        Value::Null => 0,
        Value::String(a) if a.parse::<usize>().is_ok() => a.parse().unwrap_or(0),
        Value::Number(n) if n.as_u64().is_some() => n.as_u64().unwrap_or(0) as usize,
        other => return hubspot_error(&format!("after {other} is not a valid paging cursor")),
    };
    if offset >= HUBSPOT_SEARCH_CAP {
        return hubspot_error(&format!(
            "The search endpoints are limited to {HUBSPOT_SEARCH_CAP} total results for any given query \
             (after = {offset})"
        ));
    }
    let properties: Vec<&str> =
        body["properties"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let groups = body["filterGroups"].as_array().cloned().unwrap_or_default();
    let mut results = Vec::new();
    for order in &s.orders {
        let props = hubspot_properties(order);
        let mut pass = groups.is_empty();
        for group in &groups {
            let mut all = true;
            for filter in group["filters"].as_array().into_iter().flatten() {
                match hubspot_filter(&props, filter) {
                    Ok(ok) => all &= ok,
                    Err(e) => return hubspot_error(&e),
                }
            }
            pass |= all;
        }
        if pass {
            results.push((props, hubspot_contact(order, &properties)));
        }
    }
    let sort = body["sorts"].as_array().and_then(|s| s.first()).cloned();
    let (by, descending) = match &sort {
        Some(Value::String(p)) => (p.trim_start_matches('-').to_string(), p.starts_with('-')),
        Some(o) => (
            o["propertyName"].as_str().unwrap_or("hs_object_id").to_string(),
            o["direction"].as_str() == Some("DESCENDING"),
        ),
        None => ("hs_object_id".to_string(), false),
    };
    let sort_value = |props: &Map<String, Value>| -> (i64, String) {
        let v = props.get(&by).cloned().unwrap_or(Value::Null);
        let number = if HUBSPOT_DATES.contains(&by.as_str()) {
            hubspot_millis(&v).unwrap_or(i64::MIN)
        } else {
            v.as_str().and_then(|t| t.parse::<i64>().ok()).unwrap_or(i64::MIN)
        };
        (number, v.as_str().unwrap_or("").to_string())
    };
    let id = |c: &Value| c["id"].as_str().and_then(|i| i.parse::<i64>().ok()).unwrap_or(0);
    results.sort_by(|(pa, a), (pb, b)| {
        let o = sort_value(pa).cmp(&sort_value(pb));
        (if descending { o.reverse() } else { o }).then(id(a).cmp(&id(b)))
    });
    let total = results.len();
    let page: Vec<Value> = results.into_iter().skip(offset).take(limit).map(|(_, c)| c).collect();
    let next = offset + page.len();
    let mut answer = json!({ "total": total, "results": page });
    if next < total {
        answer["paging"] = json!({ "next": { "after": next.to_string() } });
    }
    Json(answer).into_response()
}
