//! Builds WebAssembly guest workspaces from a build script: the host's (which
//! embeds the shipped connectors) and the test kit's (which builds every
//! component the tests run). Both build into `<target>/guests`, the folder
//! `just build-connectors` builds into with the same command, so whichever
//! runs second finds nothing to do.
//!
//! The guests are built by running cargo as a subprocess, the way wasmtime's
//! `crates/test-programs/artifacts/build.rs` builds its own, with every setting
//! of the outer build removed from its environment.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target every guest is built for.
pub const TARGET: &str = "wasm32-wasip2";

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

/// The repository's root, from the build script's `CARGO_MANIFEST_DIR` and
/// the relative path `up` from that package to the root (`"../.."` for `tests/kit`).
pub fn repository_root(up: &str) -> PathBuf {
    Path::new(&env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join(up)
        .canonicalize()
        .expect("the package sits where the build script says in the repository")
}

/// `<target>/guests`: the target folder the outer build uses (`CARGO_TARGET_DIR`
/// or `<root>/target`), and a rerun when it changes.
pub fn guests_dir(root: &Path) -> PathBuf {
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir).join("guests"),
        None => root.join("target").join("guests"),
    }
}

/// Asks cargo to rerun the build script when anything under `dir` changes,
/// except a `target` folder of its own (a build there must not trigger another one).
pub fn watch(dir: &Path) {
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
/// exactly as `just build-connectors` runs it; returns each of its components
/// as (package name, path of the `.wasm`).
pub fn build(manifest: &Path, guests: &Path) -> Vec<(String, PathBuf)> {
    let mut cmd = cargo();
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(guests)
        // Only cargo directives may reach a build script's stdout.
        .stdout(Stdio::from(std::io::stderr()));
    eprintln!("running: {cmd:?}");
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    assert!(
        status.success(),
        "building the guests of {} for {TARGET} failed ({status}); if the target is missing, \
         `just setup` (or `rustup target add {TARGET}`) installs it",
        manifest.display()
    );
    cdylibs(manifest)
        .into_iter()
        .map(|(name, artifact)| {
            let path = guests.join(TARGET).join("release").join(format!("{artifact}.wasm"));
            assert!(path.exists(), "building {} did not produce {}", manifest.display(), path.display());
            (name, path)
        })
        .collect()
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
