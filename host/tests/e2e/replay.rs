//! Record and replay (`headwater run --record DIR` / `--replay DIR`): a hybrid
//! run (CSV exports, then the mock API with a credential) recorded, then
//! replayed in a fresh folder with the API gone and no exports, landing the same
//! rows; the recording holds no secret; an edited response is what a replay
//! lands; a request the recording lacks fails, naming it.

use headwater_mock::{Auth, MockApi, orders, orders_csv};
use headwater_testkit::Env;
use serde_json::{Map, Value};

/// The secret of the pipeline's credential, also planted in an export file.
const CANARY: &str = "c4n4ry-s3cr3t-v4lue";

fn hybrid(env: &Env, api: &MockApi) {
    let pipeline =
        crate::hybrid::pipeline(api).replace("records = \"/data\"\n", "records = \"/data\"\nauth = \"api\"\n").replace(
            "[allow]\n",
            "[auth.api]\nkind = \"query\"\nparam = \"api_key\"\nvalue = \"${env:CANARY}\"\n[allow]\n",
        );
    assert!(pipeline.contains("auth = \"api\"") && pipeline.contains("[auth.api]"), "{pipeline}");
    env.write("hybrid.toml", pipeline);
}

/// The rows of a stream without the run's own lineage columns, in id order.
fn rows(env: &Env) -> Vec<Map<String, Value>> {
    let mut rows = env.rows("lake/orders");
    for row in &mut rows {
        row.retain(|k, _| !k.starts_with("_hw_"));
    }
    rows.sort_by_key(|r| (r["id"].as_i64(), r["updated_at"].to_string()));
    rows
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(files_under(&path)) } else { out.push(path) }
    }
    out
}

#[test]
fn a_recorded_run_replays_to_the_same_rows_with_no_network_and_no_files() {
    let mut recorded = crate::env();
    recorded.var("CANARY", CANARY);
    let mut history = orders(1..=300);
    history[7]["customer"] = CANARY.into();
    recorded.write("exports/dt=2025-01-01/orders.csv", orders_csv(&history));
    let api = MockApi::start(orders(1..=420), 100);
    api.with(|s| s.auth = Auth::Query("api_key".into(), CANARY.into()));
    hybrid(&recorded, &api);
    let run = recorded.headwater(&["run", "hybrid.toml", "--record", "rec", "--json"]).ok().json();
    assert_eq!(run["status"], "ok", "{run}");
    let landed = rows(&recorded);
    assert_eq!(landed.len(), 420, "300 from the export, 120 from the API");

    // No secret anywhere in the recording: not the credential, not the canary in the export.
    let tape = recorded.path("rec");
    let files = files_under(&tape);
    assert!(files.iter().any(|f| f.to_string_lossy().ends_with("-http.json")), "{files:?}");
    assert!(files.iter().any(|f| f.to_string_lossy().ends_with("-file.json")), "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(!bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()), "the secret is in {}", file.display());
    }
    // The run read what the recording holds: the planted secret landed redacted.
    assert_eq!(landed[7]["customer"], "[redacted]", "{:?}", landed[7]);

    // A fresh folder with no exports, no secret, and the API gone: the same rows land.
    drop(api);
    let mut replayed = crate::env();
    replayed.write("hybrid.toml", std::fs::read_to_string(recorded.path("hybrid.toml")).unwrap());
    std::fs::create_dir_all(replayed.path("exports")).unwrap();
    replayed.var("CANARY", "not-the-secret");
    let tape_arg = tape.to_str().unwrap();
    let run = replayed.headwater(&["run", "hybrid.toml", "--replay", tape_arg, "--json"]).ok().json();
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(rows(&replayed), landed, "the replay lands exactly the recorded run's rows");
}

#[test]
fn a_replay_lands_an_edited_response_and_fails_naming_a_request_it_lacks() {
    let recorded = crate::env();
    let api = MockApi::start(orders(1..=250), 100);
    crate::api::pipeline(&recorded, &api, &crate::api::cursor_stream(), "");
    recorded.headwater(&["run", "api.toml", "--record", "rec"]).ok();
    let tape = recorded.path("rec");
    let mut http: Vec<_> =
        files_under(&tape).into_iter().filter(|f| f.to_string_lossy().ends_with("-http.json")).collect();
    http.sort();
    assert_eq!(http.len(), 3, "three pages: {http:?}");
    drop(api);

    // An edited response body is what the replay lands.
    let first: Value = serde_json::from_slice(&std::fs::read(&http[0]).unwrap()).unwrap();
    let body = tape.join(first["response"]["body"].as_str().unwrap());
    let text = std::fs::read_to_string(&body).unwrap();
    let customer = orders(1..=1)[0]["customer"].as_str().unwrap().to_string();
    assert!(text.contains(&format!("\"{customer}\"")), "{text}");
    std::fs::write(&body, text.replacen(&format!("\"{customer}\""), "\"edited by hand\"", 1)).unwrap();
    let edited = crate::env();
    std::fs::copy(recorded.path("api.toml"), edited.path("api.toml")).unwrap();
    edited.headwater(&["run", "api.toml", "--replay", tape.to_str().unwrap()]).ok();
    let rows = edited.rows("lake/orders");
    assert_eq!(rows.len(), 250);
    assert!(rows.iter().any(|r| r["customer"] == "edited by hand" && r["id"] == 1), "the edit did not land");

    // Without the second page's exchange, the replay fails naming that request.
    let second: Value = serde_json::from_slice(&std::fs::read(&http[1]).unwrap()).unwrap();
    let url = second["request"]["url"].as_str().unwrap().to_string();
    std::fs::remove_file(&http[1]).unwrap();
    let missing = crate::env();
    std::fs::copy(recorded.path("api.toml"), missing.path("api.toml")).unwrap();
    missing
        .headwater(&["run", "api.toml", "--replay", tape.to_str().unwrap()])
        .fails(1, &["not in the recording", &url]);

    // Neither flag takes a folder it cannot use.
    recorded.headwater(&["run", "api.toml", "--record", "rec"]).fails(2, &["not empty"]);
    recorded.headwater(&["run", "api.toml", "--replay", "nowhere"]).fails(2, &["not a recording"]);
}
