//! Connectors written in other languages than Rust, each built from its source
//! in `connectors/examples/` by its own toolchain, installed with `headwater
//! connector install` and run by the real host against the mock API, the
//! Parquet read back and compared row by row with what the API holds.

use headwater_mock::{MockApi, calendar, orders};
use headwater_testkit::examples::build_example;
use headwater_testkit::{Env, assert_same_orders};

/// A fresh env with the example `name` built and installed under its own name.
pub(crate) fn installed(name: &str) -> Env {
    let env = crate::env();
    let wasm = build_example(name);
    let installed =
        env.headwater(&["connector", "install", wasm.to_str().expect("a UTF-8 path"), "--json"]).ok().json();
    assert_eq!(installed["name"], name, "the example names itself `{name}` in its spec: {installed}");
    env
}

/// A pipeline running the installed `connector` over the mock API's `/orders`.
pub(crate) fn orders_pipeline(env: &Env, connector: &str, api: &MockApi, extra: &str) {
    env.write(
        "orders.toml",
        format!(
            r#"
name = "orders"
[source]
connector = "{connector}"
[source.config]
base_url = "{url}"
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

/// Every page lands, then an incremental run asks only for what changed after
/// the watermark, and a run stopped by a spent quota mid-sync resumes at the
/// page it stopped at: the connector's own state, kept through the host.
pub(crate) fn pages_incrementally_and_resumes(name: &str) {
    let env = installed(name);
    let api = MockApi::start(orders(1..=250), 40);
    orders_pipeline(&env, name, &api, "");
    let discovered = env.headwater(&["discover", "orders.toml", "--json"]).ok().json();
    assert_eq!(discovered[0]["stream"], "orders", "{discovered}");
    assert_eq!(discovered[0]["cursor_field"], "updated_at", "{discovered}");
    assert_eq!(discovered[0]["primary_key"], serde_json::json!(["id"]), "{discovered}");

    let run = env.headwater(&["run", "orders.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 250, "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=250));
    assert_eq!(api.requests().len(), 7, "seven pages of 40: {:?}", api.requests());

    // Changed and new orders since: only they are asked for, after the watermark.
    let watermark = calendar::rfc3339(headwater_mock::dataset::updated_at(250));
    api.with(|s| s.orders.extend(orders(251..=300)));
    let before = api.requests().len();
    let run = env.headwater(&["run", "orders.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 50, "{run}");
    let asked = &api.requests()[before];
    assert!(asked.contains(&format!("updated_since={}", watermark.replace(':', "%3A"))), "{asked}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=300));

    // A quota spent after two pages: the run pauses with what it has, and the
    // next continues at the third page of the same sync.
    api.with(|s| {
        s.orders.extend(orders(301..=420));
        s.throttle_after = 2;
        s.throttle = 1000;
        s.retry_after = "3600".into();
    });
    orders_pipeline(&env, name, &api, "[limits]\nmax_wait_s = 2");
    let run = env.headwater(&["run", "orders.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["status"].as_str().map(|s| s.starts_with("paused")), Some(true), "{run}");
    assert_eq!(run["streams"][0]["rows"], 80, "{run}");
    api.with(|s| s.throttle = 0);
    let before = api.requests().len();
    let run = env.headwater(&["run", "orders.toml", "--json"]).ok().json();
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["streams"][0]["rows"], 40, "{run}");
    let resumed = &api.requests()[before..];
    assert!(resumed[0].contains("cursor=80"), "the resumed run starts at the page that was refused: {resumed:?}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=420));
}

/// A connector's error reaches the user as its WIT variant, naming the connector.
pub(crate) fn reports_its_errors(name: &str) {
    let env = installed(name);
    let api = MockApi::start(orders(1..=10), 10);
    // A host the pipeline does not allow: the host's `denied`, raised inside the connector, comes back out.
    env.write(
        "denied.toml",
        format!(
            "name = \"denied\"\n[source]\nconnector = \"{name}\"\n[source.config]\nbase_url = \"{}\"\n[allow]\nhosts = [\"example.com\"]\n[sink]\npath = \"lake\"\n",
            api.url()
        ),
    );
    let denied = env.headwater(&["run", "denied.toml"]).fails(1, &["denied", "not in [allow] hosts"]);
    // The host's own error comes back as it was sent, without the SDK's stack frames.
    for frame in ["headwater.js:", "Traceback", "File \""] {
        assert!(!denied.stderr.contains(frame), "a stack frame in the host's error:\n{}", denied.stderr);
    }
    // A config the connector's schema refuses never reaches it.
    env.write(
        "bad.toml",
        format!(
            "name = \"bad\"\n[source]\nconnector = \"{name}\"\n[source.config]\nbase_url = 3\n[sink]\npath = \"lake\"\n"
        ),
    );
    env.headwater(&["run", "bad.toml"]).fails(2, &["base_url"]);
}

mod python {
    #[test]
    fn python_orders_pages_incrementally_and_resumes() {
        super::pages_incrementally_and_resumes("python-orders");
    }

    #[test]
    fn python_orders_reports_its_errors() {
        super::reports_its_errors("python-orders");
    }
}

mod javascript {
    #[test]
    fn js_orders_pages_incrementally_and_resumes() {
        super::pages_incrementally_and_resumes("js-orders");
    }

    #[test]
    fn js_orders_reports_its_errors() {
        super::reports_its_errors("js-orders");
    }
}
