//! Builds every WebAssembly guest the tests run, so that `cargo test` never
//! runs against stale components: the shipped connectors (`connectors/`) and
//! the test components (`tests/components/`), each its own workspace, for
//! wasm32-wasip2 in release mode, into `<target>/guests` (see
//! `headwater-guest-build`). Then it writes `components.rs` into OUT_DIR: a path constant per
//! component, a table of them by name, and `foreach_component!`, with which the
//! end-to-end tests refuse to compile while a component has no test module.
//!
//! It also compiles `faultfs.c`, the LD_PRELOAD shim with which the disk tests
//! fail writes, fsyncs and renames, into `<OUT_DIR>/libfaultfs.so`, and writes
//! its path into `faultfs.rs` there (see `src/faultfs.rs`).

use headwater_guest_build as guests;
use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The guest workspaces, relative to the repository root.
const WORKSPACES: [&str; 2] = ["connectors", "tests/components"];
/// What the guests are built from: a change to any of it rebuilds them.
const SOURCES: [&str; 4] = ["connectors", "tests/components", "sdk/rust", "wit"];

fn main() {
    let root = guests::repository_root("../..");
    let dir = guests::guests_dir(&root);
    for source in SOURCES {
        guests::watch(&root.join(source));
    }

    let mut components = Vec::new();
    for workspace in WORKSPACES {
        for (name, path) in guests::build(&root.join(workspace).join("Cargo.toml"), &dir) {
            components.push((name, workspace, path));
        }
    }

    let mut code = String::new();
    for (name, workspace, path) in &components {
        let _ = writeln!(code, "/// `{name}`, built from `{workspace}/`.");
        let _ = writeln!(
            code,
            "pub const {}: &str = {:?};",
            name.to_uppercase().replace('-', "_"),
            path.display().to_string()
        );
    }
    code.push_str("/// Every component by its package name.\npub const COMPONENTS: &[(&str, &str)] = &[\n");
    for (name, _, _) in &components {
        let _ = writeln!(code, "    ({name:?}, {}),", name.to_uppercase().replace('-', "_"));
    }
    code.push_str("];\n");
    code.push_str(
        "/// Calls `$mac!(name)` for each component, its name as an identifier (`other-world` is\n\
         /// `other_world`): `foreach_component!(assert_test_exists)` makes a test module per\n\
         /// component a compile-time requirement.\n\
         #[macro_export]\nmacro_rules! foreach_component {\n    ($mac:ident) => {\n",
    );
    for (name, _, _) in &components {
        let _ = writeln!(code, "        $mac!({});", name.replace('-', "_"));
    }
    code.push_str("    };\n}\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("components.rs"), code).expect("writing components.rs into OUT_DIR");

    let shim = build_faultfs(&root.join("tests/kit/faultfs.c"), &out);
    let code = format!(
        "/// The fault-injection shim built from `tests/kit/faultfs.c`, for `LD_PRELOAD`.\n\
         pub const LIBFAULTFS: &str = {:?};\n",
        shim.display().to_string()
    );
    std::fs::write(out.join("faultfs.rs"), code).expect("writing faultfs.rs into OUT_DIR");
}

/// `gcc -shared -fPIC -O2 faultfs.c -o <out>/libfaultfs.so -ldl`; `$CC` when set.
fn build_faultfs(source: &Path, out: &Path) -> PathBuf {
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-env-changed=CC");
    let compiler = env::var_os("CC").unwrap_or_else(|| "gcc".into());
    let lib = out.join("libfaultfs.so");
    let mut cmd = Command::new(&compiler);
    cmd.args(["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-U_FORTIFY_SOURCE", "-o"])
        .arg(&lib)
        .arg(source)
        .arg("-ldl")
        .stdout(Stdio::from(std::io::stderr()));
    eprintln!("running: {cmd:?}");
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "cannot run the C compiler `{}` to build {} ({e}): the disk tests need gcc \
             (`apt-get install gcc`), or CC naming another C compiler",
            compiler.to_string_lossy(),
            source.display()
        )
    });
    assert!(status.success(), "compiling {} into {} failed ({status})", source.display(), lib.display());
    lib
}
