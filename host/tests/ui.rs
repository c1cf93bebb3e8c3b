//! Snapshot tests of the messages a bad pipeline file gets: each
//! `ui/pipeline/NAME.toml` is loaded as `headwater run` and `check` load it, and
//! the error must read exactly as `ui/pipeline/NAME.err`. The snapshots are the
//! review copy of every config message a user sees; regenerate them with
//! `BLESS=1 cargo test -p headwater --test ui` and read the diff like code.

use std::path::Path;

#[test]
fn pipeline_files_that_do_not_validate() {
    let dir = Path::new("tests/ui/pipeline");
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .expect("the ui folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "only {} cases in {}", cases.len(), dir.display());
    let mut failures = Vec::new();
    for case in &cases {
        let got = match headwater::Pipeline::load(case) {
            Ok(_) => "(loaded without an error)\n".to_string(),
            Err(e) => format!("{e}\n"),
        };
        let expected_path = case.with_extension("err");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!("{}:\n--- expected\n{expected}--- got\n{got}", case.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} snapshot(s) differ (BLESS=1 to accept):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
