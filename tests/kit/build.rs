//! Builds every WebAssembly guest the tests run, so that `cargo test` never
//! runs against stale components: the shipped connectors (`connectors/`) and
//! the test components (`tests/components/`), each its own workspace, for
//! wasm32-wasip2 in release mode, by running cargo as a subprocess (the way
//! wasmtime's `crates/test-programs/artifacts/build.rs` builds its guests).
//!
//! The output goes to `<target>/guests`, the folder `just build-connectors`
//! builds into with the same command, so whichever runs second finds nothing
//! to do. Then it writes `components.rs` into OUT_DIR: a path constant per
//! component, a table of them by name, and `foreach_component!`, with which the
//! end-to-end tests refuse to compile while a component has no test module.
//!
//! It also compiles `faultfs.c`, the LD_PRELOAD shim with which the disk tests
//! fail writes, fsyncs and renames, into `<OUT_DIR>/libfaultfs.so`, and writes
//! its path into `faultfs.rs` there (see `src/faultfs.rs`).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The guest workspaces, relative to the repository root.
const WORKSPACES: [&str; 2] = ["connectors", "tests/components"];
/// What the guests are built from: a change to any of it rebuilds them.
const SOURCES: [&str; 4] = ["connectors", "tests/components", "sdk/rust", "wit"];
const TARGET: &str = "wasm32-wasip2";

/// Cargo sets these for a build script (or a user set them for the host build);
/// inherited by the nested cargo, they would apply the host build's flags,
/// wrappers (clippy's, under `cargo clippy`) and target to the guests, or
/// change their fingerprints so that `just build-connectors` rebuilds them.
const INHERITED: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
];

fn main() {
    let root = Path::new(&env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the test kit sits at tests/kit in the repository");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let guests = target_dir.join("guests");
    for source in SOURCES {
        watch(&root.join(source));
    }

    let mut components = Vec::new();
    for workspace in WORKSPACES {
        let manifest = root.join(workspace).join("Cargo.toml");
        build(&manifest, &guests);
        for (name, artifact) in cdylibs(&manifest) {
            let path = guests.join(TARGET).join("release").join(format!("{artifact}.wasm"));
            assert!(path.exists(), "building {} did not produce {}", manifest.display(), path.display());
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

/// Asks cargo to rerun this script when anything under `dir` changes, except a
/// `target` folder of its own (a build there must not trigger another one).
fn watch(dir: &Path) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// A cargo of the toolchain building us, with the inherited settings removed.
fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for var in INHERITED {
        cmd.env_remove(var);
    }
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_FEATURE_") || key.starts_with("CARGO_CFG_") || key.starts_with("CARGO_PKG_") {
            cmd.env_remove(&*key);
        }
    }
    cmd
}

/// `cargo build --release --target wasm32-wasip2` of one guest workspace,
/// exactly as `just build-connectors` runs it.
fn build(manifest: &Path, target_dir: &Path) {
    let mut cmd = cargo();
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        // Only cargo directives may reach this script's stdout.
        .stdout(Stdio::from(std::io::stderr()));
    eprintln!("running: {cmd:?}");
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    assert!(
        status.success(),
        "building the guests of {} for {TARGET} failed ({status}); if the target is missing, \
         `just setup` (or `rustup target add {TARGET}`) installs it",
        manifest.display()
    );
}

/// (package name, artifact name) of each cdylib in a guest workspace.
fn cdylibs(manifest: &Path) -> Vec<(String, String)> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(manifest)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo metadata: {e}"));
    assert!(out.status.success(), "cargo metadata of {} failed", manifest.display());
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let mut found = Vec::new();
    for package in metadata["packages"].as_array().expect("metadata lists packages") {
        for target in package["targets"].as_array().into_iter().flatten() {
            if target["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib")) {
                let name = package["name"].as_str().expect("a package has a name").to_string();
                let artifact = target["name"].as_str().expect("a target has a name").replace('-', "_");
                found.push((name, artifact));
            }
        }
    }
    assert!(!found.is_empty(), "{} has no cdylib packages", manifest.display());
    found
}
