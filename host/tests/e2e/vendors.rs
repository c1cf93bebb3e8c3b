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

/// Salesforce's SOQL and Shopify's search take the watermark inside a text:
/// `{{watermark}}` in a parameter is replaced by it (the first run by
/// `start_value`, without which the stream fails saying so).
#[test]
fn the_watermark_inside_a_query_string() {
    let env = crate::env_with("rest");
    let api = MockApi::start(orders(1..=30), 10);
    let stream = format!(
        "{ORDERS}\nparams = {{ updated_since = \"{{{{watermark}}}}\" }}\nincremental = {{ cursor_field = \"updated_at\" }}"
    );
    pipeline(&env, &api, &stream, "");
    env.headwater(&["run", "vendor.toml"]).fails(1, &["{{watermark}}", "start_value"]);
    pipeline(
        &env,
        &api,
        &stream.replace(
            "cursor_field = \"updated_at\"",
            "cursor_field = \"updated_at\", start_value = \"2000-01-01T00:00:00Z\"",
        ),
        "",
    );
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 30, "{run}");
    assert!(api.requests()[0].contains("updated_since=2000-01-01T00%3A00%3A00Z"), "{:?}", api.requests());
    api.with(|s| s.orders.extend(orders(31..=35)));
    let before = api.requests().len();
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 5, "{run}");
    assert!(api.requests()[before].contains("updated_since=2025-01-01T00%3A29%3A00Z"), "{:?}", api.requests());
}

/// HubSpot's CRM search takes the watermark deep in its JSON body
/// (`filterGroups[0].filters[0].value`) and the page cursor (`after`) beside it.
#[test]
fn hubspot_search_with_the_watermark_deep_in_the_body() {
    let env = crate::env_with("rest");
    let api = MockApi::start(orders(1..=30), 10);
    let stream = r#"name = "orders"
path = "/orders"
method = "POST"
body = { kind = "orders", filterGroups = [{ filters = [{ propertyName = "updated_at", operator = "GT" }] }] }
records = "/data"
primary_key = ["id"]
paginator = { type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor", cursor_in = "body" }
incremental = { cursor_field = "updated_at", cursor_param = "/filterGroups/0/filters/0/value", cursor_in = "body" }"#;
    pipeline(&env, &api, stream, "");
    env.headwater(&["run", "vendor.toml"]).ok();
    api.with(|s| s.orders.extend(orders(31..=34)));
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 4, "only what came after the watermark: {run}");
    assert_eq!(env.rows("lake/orders").len(), 34);
}

/// Zendesk's incremental cursor export: `start_time` (Unix seconds, from
/// `{{watermark_unix}}`) then `after_cursor` until `end_of_stream`, and tickets
/// whose `custom_fields[].value` is a string, a boolean, a number or null, with
/// empty objects and empty lists inside: a full load, changes, and an
/// incremental run that lands every version once.
#[test]
fn zendesk_incremental_export_with_fields_of_varying_types() {
    use headwater_mock::vendors::zendesk_ticket;
    let env = crate::env_with("rest");
    let api = MockApi::start(orders(1..=250), 100);
    let stream = r#"name = "tickets"
path = "/api/v2/incremental/tickets/cursor.json"
params = { start_time = "{{watermark_unix}}", per_page = 100 }
records = "/tickets"
primary_key = ["id"]
paginator = { type = "cursor", cursor_path = "/after_cursor", cursor_param = "cursor", stop_path = "/end_of_stream" }
incremental = { cursor_field = "updated_at", start_value = "0" }"#;
    pipeline(&env, &api, stream, "");
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 250, "{run}");
    let check = |expected: &[Value]| {
        let mut rows = env.rows("lake/tickets");
        rows.sort_by_key(|r| (r["id"].as_i64(), r["status"].as_str().map(str::to_string)));
        assert_eq!(rows.len(), expected.len());
        for (row, order) in rows.iter().zip(expected) {
            let want = zendesk_ticket(order);
            assert_eq!(row["id"], want["id"]);
            assert_eq!(row["subject"], want["subject"]);
            let value = &want["custom_fields"][0]["value"];
            let landed = &row["custom_fields"][0]["value"];
            let as_text = match value {
                Value::String(s) => Value::String(s.clone()),
                Value::Null => Value::Null,
                v => Value::String(v.to_string()),
            };
            assert_eq!(landed.clone(), as_text, "ticket {}: custom_fields[0].value", want["id"]);
            assert_eq!(row.get("assignee_id").cloned().unwrap_or(Value::Null), want["assignee_id"]);
        }
    };
    check(&orders(1..=250));
    // New tickets, and ticket 250 updated a minute later: its new version lands too.
    let mut changed = orders(250..=250);
    changed[0]["updated_at"] = serde_json::json!("2025-01-01T04:30:00Z");
    api.with(|s| {
        s.orders[249] = changed[0].clone();
        s.orders.extend(orders(251..=260));
    });
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 11, "ten new tickets and the new version of ticket 250: {run}");
    let rows = env.rows("lake/tickets");
    assert_eq!(rows.len(), 261);
    assert_eq!(rows.iter().filter(|r| r["id"] == 250).count(), 2, "ticket 250: the old and the new version");
}

/// Shopify's GraphQL Admin API answers its cost-based throttle in a 200 with a
/// `THROTTLED` error; it failed the stream as a GraphQL error. It is waited out
/// (as long as the cost figures say) and the query sent again.
#[test]
fn shopify_graphql_throttled_in_a_200_is_waited_out() {
    let env = crate::env_with("rest");
    let api = MockApi::start(orders(1..=30), 10);
    api.with(|s| s.graphql_throttled = 1);
    let stream = r#"name = "orders"
path = "/graphql"
records = "/data/orders/nodes"
primary_key = ["id"]
graphql = { query = "query($first: Int, $after: String) { orders(first: $first, after: $after) { nodes { id customer amount updated_at } pageInfo { hasNextPage endCursor } } }", variables = { first = 10 }, page_info = "/data/orders/pageInfo" }"#;
    pipeline(&env, &api, stream, "");
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 30, "{run}");
    let host = &run["hosts"][format!("http://{}", api.host())];
    assert_eq!(host["throttled_429"], 1, "{run}");
    assert!(host["waited_ms"].as_u64().unwrap() >= 900, "waited about (102 - 52) / 50 s: {run}");
    headwater_testkit::assert_same_orders(&env.rows("lake/orders"), &orders(1..=30));
}

/// Salesforce's REST query: SOQL with the watermark inside it, `nextRecordsUrl`
/// while `done` is false, `SystemModstamp` as `.000+0000`, lookups that are null
/// or objects, and an OAuth token response without `expires_in` (the token is
/// used until a 401): a full load, new records, and an incremental run.
#[test]
fn salesforce_soql_with_the_watermark_in_the_query_and_next_records_url() {
    use headwater_mock::Auth;
    use headwater_mock::vendors::salesforce_account;
    let mut env = crate::env_with("rest");
    env.var("CLIENT_SECRET", "shh");
    let api = MockApi::start(orders(1..=250), 100);
    api.with(|s| {
        s.auth = Auth::OAuth;
        s.omit_expires_in = true;
    });
    let stream = r#"name = "accounts"
path = "/services/data/v60.0/query"
params = { q = "SELECT Id, Name, AnnualRevenue, Owner.Name, SystemModstamp FROM Account WHERE SystemModstamp > {{watermark}} ORDER BY SystemModstamp" }
records = "/records"
primary_key = ["Id"]
auth = "sf"
paginator = { type = "next_url", next_url_path = "/nextRecordsUrl" }
incremental = { cursor_field = "SystemModstamp", start_value = "1970-01-01T00:00:00Z" }"#;
    let auth = format!(
        "[auth.sf]\nkind = \"oauth2\"\ntoken_url = \"{}/token\"\nclient_id = \"app\"\nclient_secret = \"${{env:CLIENT_SECRET}}\"\nhosts = [\"{}\"]",
        api.url(),
        api.host()
    );
    pipeline(&env, &api, stream, &auth);
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 250, "{run}");
    assert_eq!(api.with(|s| s.token_requests.len()), 1, "a token without expires_in serves the whole run");
    let check = |n: i64| {
        let mut rows = env.rows("lake/accounts");
        rows.sort_by(|a, b| a["Id"].as_str().cmp(&b["Id"].as_str()));
        assert_eq!(rows.len(), n as usize);
        for (row, order) in rows.iter().zip(orders(1..=n)) {
            let want = salesforce_account(&order);
            assert_eq!(row["Id"], want["Id"]);
            assert_eq!(row["Name"], want["Name"]);
            assert_eq!(
                row.get("AnnualRevenue").cloned().unwrap_or(Value::Null).as_f64(),
                want["AnnualRevenue"].as_f64()
            );
            let owner = row.get("Owner").and_then(|o| o.get("Name")).cloned().unwrap_or(Value::Null);
            assert_eq!(owner, want["Owner"]["Name"].clone(), "Owner.Name of {}", want["Id"]);
        }
    };
    check(250);
    api.with(|s| s.orders.extend(orders(251..=270)));
    let before = api.requests().len();
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 20, "{run}");
    let first = &api.requests()[before];
    assert!(first.contains("SystemModstamp+%3E+2025-01-01T04%3A09%3A00"), "the watermark inside the SOQL: {first}");
    check(270);
}

/// Salesforce Bulk API 2.0: a query job started, polled until `JobComplete`,
/// and its results read as CSV pages chained by the `Sforce-Locator` header,
/// each decoded by the host (`load-bytes`). A page that fails stops the run
/// with the pages before it committed; the next run resumes the same job at
/// the failed page's locator, and every account lands once.
#[test]
fn salesforce_bulk_api_results_paged_by_the_locator_header_resume_where_they_stopped() {
    use headwater_mock::Auth;
    use headwater_mock::vendors::salesforce_account;
    let mut env = crate::env();
    env.var("CLIENT_SECRET", "shh");
    let api = MockApi::start(orders(1..=250), 100);
    api.with(|s| {
        s.auth = Auth::OAuth;
        s.omit_expires_in = true;
        s.export_polls = 2;
        s.bulk_fail_page = Some(2);
    });
    let stream = r#"name = "accounts"
path = "/services/data/v60.0/jobs/query"
primary_key = ["Id"]
auth = "sf"
body = { operation = "query", query = "SELECT Id, Name, AnnualRevenue, Owner.Name, SystemModstamp FROM Account" }
incremental = { cursor_field = "SystemModstamp" }
[source.config.streams.export]
start_path = "/services/data/v60.0/jobs/query"
id_path = "/id"
status_path = "/services/data/v60.0/jobs/query/{id}"
state_path = "/state"
done = "JobComplete"
failed = ["Failed", "Aborted"]
poll_interval_s = 0
results = { path = "/services/data/v60.0/jobs/query/{id}/results", locator_header = "Sforce-Locator", locator_param = "locator", params = { maxRecords = "100" } }"#;
    let extra = format!(
        "[auth.sf]\nkind = \"oauth2\"\ntoken_url = \"{}/token\"\nclient_id = \"app\"\nclient_secret = \"${{env:CLIENT_SECRET}}\"\nhosts = [\"{}\"]\n[limits]\nmax_retries = 0",
        api.url(),
        api.host()
    );
    pipeline(&env, &api, stream, &extra);

    let run = env.headwater(&["run", "vendor.toml", "--json"]).fails(1, &["HTTP 500"]).json();
    assert_eq!(run["streams"][0]["rows"], 100, "the first page committed: {run}");
    api.with(|s| s.bulk_fail_page = None);
    let before = api.requests().len();
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 150, "{run}");
    let resumed = &api.requests()[before..];
    assert!(resumed.iter().all(|r| !r.ends_with("/jobs/query")), "no second job: {resumed:?}");
    let first_page = resumed.iter().find(|r| r.contains("/results")).expect("a results page");
    assert!(first_page.contains("locator=100"), "the resumed run starts at the failed page: {resumed:?}");
    assert_eq!(api.with(|s| s.bulk_jobs.len()), 1);

    let mut rows = env.rows("lake/accounts");
    rows.sort_by(|a, b| a["Id"].as_str().cmp(&b["Id"].as_str()));
    assert_eq!(rows.len(), 250, "every account once");
    for (row, order) in rows.iter().zip(orders(1..=250)) {
        let want = salesforce_account(&order);
        assert_eq!(row["Id"], want["Id"]);
        assert_eq!(row["Name"], want["Name"]);
        assert_eq!(row.get("AnnualRevenue").and_then(Value::as_f64), want["AnnualRevenue"].as_f64(), "{row:?}");
        assert_eq!(row.get("Owner.Name").cloned().unwrap_or(Value::Null), want["Owner"]["Name"], "{row:?}");
    }
    let state = env.headwater(&["state", "show", "vendor.toml", "--json"]).ok().json();
    assert_eq!(state[0]["watermark"], "2025-01-01T04:09:00Z", "the newest SystemModstamp: {state}");
}

/// Stripe again, paged by a template paginator instead of `last_record`: the
/// next request's `starting_after` is the last record's id, and the stream stops
/// when the page says `has_more` is false; the same charges land.
#[test]
fn a_template_paginator_expresses_stripes_paging() {
    let env = crate::env();
    let api = MockApi::start(orders(1..=250), 100);
    let stream = STRIPE.replace(
        r#"paginator = { type = "last_record", cursor_field = "id", cursor_param = "starting_after", has_more_path = "/has_more" }"#,
        r#"paginator = { type = "template", params = { starting_after = "{{ last_record.id }}" }, stop_when = "not response.body.has_more" }"#,
    );
    assert!(stream.contains("type = \"template\""));
    pipeline(&env, &api, &stream, "");
    let run = env.headwater(&["run", "vendor.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 250, "{run}");
    let pages: Vec<String> = api.requests().into_iter().filter(|r| r.starts_with("/v1/charges")).collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    let last_of_first = stripe_charge(&orders(151..=151)[0])["id"].as_str().unwrap().to_string();
    assert!(pages[1].contains(&format!("starting_after={last_of_first}")), "{pages:?}");
    assert_same_charges(&env, &orders(1..=250));
}
