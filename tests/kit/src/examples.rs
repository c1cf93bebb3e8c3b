//! The example connectors of `connectors/examples/`, each built from source by
//! its own `build.sh` (Python with componentize-py, JavaScript with
//! componentize-js, C with clang and wasm-tools), as a user would build it.
//! They are not built by build.rs: their toolchains are not Rust's, and `just
//! setup-langs` installs them. A build runs once per test process; a toolchain
//! that is missing fails the test with the script's message, never skips it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// The component built from `connectors/examples/<name>/`, under `target/examples/`.
pub fn build_example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Arc<OnceLock<PathBuf>>>>> = OnceLock::new();
    let slot =
        BUILT.get_or_init(Default::default).lock().expect("the examples' lock").entry(name.into()).or_default().clone();
    slot.get_or_init(|| build(name)).clone()
}

fn build(name: &str) -> PathBuf {
    let root = crate::workspace_root();
    let script = root.join("connectors/examples").join(name).join("build.sh");
    assert!(script.exists(), "no example `{name}`: {} does not exist", script.display());
    let out = root.join("target/examples").join(format!("{name}.wasm"));
    let started = std::time::Instant::now();
    let built = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        built.status.success(),
        "building the example `{name}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
        built.status,
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    eprintln!("built example `{name}` in {:.1} s", started.elapsed().as_secs_f64());
    out
}
