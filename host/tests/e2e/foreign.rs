//! Files written by another tool, as users' exports are: pyarrow's Parquet
//! (snappy with dictionary pages and small row groups; gzip with data page v2,
//! no dictionary and no statistics; decimals, lists, structs, millisecond
//! timestamps in UTC, dates, float32, nulls) and its CSV, loaded by the `files`
//! connector, then read back by pyarrow and compared row by row with what it wrote.
//! pyarrow comes from PyPI, pinned, through `just setup-test`.

use headwater_testkit::workspace_root;
use std::process::Command;

fn pyarrow(args: &[&str]) -> std::process::Output {
    let script = workspace_root().join("tests/kit/foreign/pyarrow_files.py");
    let out = Command::new("python3").arg(&script).args(args).output().expect("running python3");
    assert!(
        out.status.success(),
        "{} {args:?} failed (pyarrow is installed by `just setup-test`):\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn exports_pyarrow_writes_land_and_pyarrow_reads_them_back_row_by_row() {
    let env = crate::env();
    let exports = env.path("exports");
    std::fs::create_dir_all(&exports).unwrap();
    pyarrow(&["write", exports.to_str().unwrap()]);
    for (stream, glob) in [("p", "*.parquet"), ("c", "*.csv")] {
        env.write(
            &format!("{stream}.toml"),
            format!(
                "name = \"{stream}\"\n[source]\nconnector = \"files\"\nconfig = {{ root = \"./exports\", glob = \"{glob}\", stream = \"{stream}\" }}\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"lake\"\n"
            ),
        );
        let run = env.headwater(&["run", &format!("{stream}.toml"), "--json"]).ok().json();
        assert_eq!(run["streams"][0]["rows"], 1000, "{run}");
    }
    let lake = env.path("lake");
    let checked = pyarrow(&["check", exports.to_str().unwrap(), lake.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&checked.stdout).trim(), "ok");
}
