//! The connector registry and state commands.

use headwater_mock::{orders, orders_csv};
use headwater_testkit::component;

#[test]
fn install_list_inspect_remove() {
    let env = crate::env();
    let file = component("files");
    let installed = env.headwater(&["connector", "install", file.to_str().unwrap(), "--json"]).ok().json();
    assert_eq!(installed["name"], "files", "the name defaults to the connector's own");
    assert_eq!(installed["sha256"].as_str().unwrap().len(), 64);

    let list = env.headwater(&["connector", "list"]).ok();
    assert!(list.stdout.contains("files") && list.stdout.contains("0.1.0"), "{}", list.stdout);

    let inspect = env.headwater(&["connector", "inspect", "files", "--json"]).ok().json();
    let props = &inspect["config_schema"]["properties"];
    assert!(props["glob"].is_object() && props["root"].is_object(), "{inspect}");
    assert!(inspect["config_schema"]["required"].as_array().unwrap().contains(&"glob".into()));

    env.headwater(&["connector", "remove", "files"]).ok();
    let list = env.headwater(&["connector", "list", "--json"]).ok().json();
    assert_eq!(list, serde_json::json!([]));
    env.headwater(&["connector", "inspect", "files"]).fails(2, &["connector `files` is not installed"]);
}

#[test]
fn an_installed_connector_whose_bytes_changed_is_refused() {
    let env = crate::env_with("files");
    let installed = env.path("home/connectors/files/component.wasm");
    let mut bytes = std::fs::read(&installed).unwrap();
    // Tamper with the last byte (inside a custom section: still a valid component).
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&installed, bytes).unwrap();
    env.write("exports/a.csv", orders_csv(&orders(1..=2)));
    env.write(
        "p.toml",
        "name = \"p\"\n[source]\nconnector = \"files\"\nconfig = { root = \"./exports\", glob = \"*.csv\", stream = \"o\" }\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"lake\"\n",
    );
    env.headwater(&["run", "p.toml"]).fails(2, &["connector `files`", "has changed since it was installed"]);
    assert!(!env.exists("lake"));
}

#[test]
fn check_discover_and_state_reset() {
    let env = crate::env_with("files");
    env.write("exports/a.csv", orders_csv(&orders(1..=20)));
    env.write(
        "p.toml",
        "name = \"p\"\n[source]\nconnector = \"files\"\nconfig = { root = \"./exports\", glob = \"*.csv\", stream = \"o\", primary_key = [\"id\"], cursor_field = \"id\" }\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"lake\"\n",
    );
    env.headwater(&["check", "p.toml"]).ok();
    let discovered = env.headwater(&["discover", "p.toml", "--json"]).ok().json();
    assert_eq!(discovered[0]["stream"], "o");
    assert_eq!(discovered[0]["cursor_field"], "id");

    env.headwater(&["run", "p.toml"]).ok();
    let state = env.headwater(&["state", "show", "p.toml", "--json"]).ok().json();
    assert_eq!(state[0]["watermark"], "20");
    assert_eq!(
        state[0]["source_state"]["files"]["a.csv"]["size"],
        std::fs::metadata(env.path("exports/a.csv")).unwrap().len()
    );

    env.headwater(&["state", "reset", "p.toml"]).ok();
    assert_eq!(env.headwater(&["state", "show", "p.toml", "--json"]).ok().json(), serde_json::json!([]));
    // After a reset the file loads again.
    let run = env.headwater(&["run", "p.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 20);
}
