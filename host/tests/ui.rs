//! Snapshot tests of the messages a bad pipeline file gets: each
//! `ui/pipeline/NAME.toml` is loaded as `headwater run` and `check` load it, and
//! the error must read exactly as `ui/pipeline/NAME.err`; each `ui/run/NAME.toml`
//! is run by the real binary (`headwater run`, with the shipped connectors and the
//! hostile test component installed), for the mistakes found only once the
//! connectors are loaded: config against a connector's schema, limits for a
//! stream no connector offers, names a connector's `discover` returns. The
//! snapshots are the review copy of every config message a user sees;
//! regenerate them with `BLESS=1 cargo test -p headwater --test ui` and read the
//! diff like code.

use std::path::{Path, PathBuf};

fn cases(dir: &Path, at_least: usize) -> Vec<PathBuf> {
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .expect("the ui folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= at_least, "only {} cases in {}", cases.len(), dir.display());
    cases
}

#[test]
fn pipeline_files_that_do_not_validate() {
    let cases = cases(Path::new("tests/ui/pipeline"), 20);
    snapshots(&cases, |case| match headwater::Pipeline::load(case) {
        Ok(_) => "(loaded without an error)\n".to_string(),
        Err(e) => format!("{e}\n"),
    });
}

/// Review T4: the messages of the run itself, through the binary: its exit code
/// and what it prints on stderr, with the case's folder shown as `<case>`.
#[test]
fn pipelines_refused_once_their_connectors_are_loaded() {
    let cases = cases(Path::new("tests/ui/run"), 3);
    let env = headwater_testkit::Env::new(env!("CARGO_BIN_EXE_headwater"));
    for component in ["rest", "files", "hostile"] {
        env.install(component);
    }
    snapshots(&cases, |case| {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        env.write(&name, std::fs::read(case).unwrap());
        let run = env.headwater(&["run", &name]);
        let folder = env.path("").display().to_string();
        format!("exit {}\n{}", run.code, run.stderr.replace(folder.trim_end_matches('/'), "<case>"))
    });
}

/// Compares what `message` gives for each case with its `.err` file (or, with
/// `BLESS`, writes it there).
fn snapshots(cases: &[PathBuf], message: impl Fn(&Path) -> String) {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases {
        let got = message(case);
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
