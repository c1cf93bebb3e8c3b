//! End-to-end tests: the real `headwater` binary running the real connector and
//! test components, against real files and a mock API on 127.0.0.1, with the
//! Parquet it writes read back row by row.

mod api;
mod bad_input;
mod batch;
mod cli;
mod files;
mod hybrid;
mod object_store;
mod rest;
mod security;
mod sftp;

/// Every shipped connector and every test component has tests that use it:
/// none is built and then silently left untested.
#[test]
fn every_component_is_tested() {
    let root = headwater_tests::root();
    let sources: String = std::fs::read_dir(root.join("tests/all"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let mut names = Vec::new();
    for dir in ["connectors", "tests/components"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.join("Cargo.toml").exists() && p.join("src").exists() {
                names.push(p.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    assert!(names.len() >= 4, "found only {names:?}");
    for name in names {
        let used =
            sources.contains(&format!("install(\"{name}\")")) || sources.contains(&format!("component(\"{name}\")"));
        assert!(used, "component `{name}` has no test in tests/all/");
    }
}
