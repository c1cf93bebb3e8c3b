//! Embeds the shipped connectors (`connectors/`: `rest`, `files`) in the
//! binary, so that `connector = "rest"` works on a fresh install without a
//! `connector install`: builds their workspace for wasm32-wasip2 into
//! `<target>/guests` (see `headwater-guest-build`) and writes `builtin.rs`
//! into OUT_DIR, a table of (name, bytes) that `src/builtin.rs` includes.
//! Without the `builtin-connectors` feature the table is empty and nothing is built.

use headwater_guest_build as guests;
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut code = String::from(
        "/// The shipped connectors: (name, component bytes).\npub const BUILTIN: &[(&str, &[u8])] = &[\n",
    );
    if std::env::var_os("CARGO_FEATURE_BUILTIN_CONNECTORS").is_some() {
        let root = guests::repository_root("..");
        let dir = guests::guests_dir(&root);
        for source in ["connectors", "sdk/rust", "wit"] {
            guests::watch(&root.join(source));
        }
        for (name, path) in guests::build(&root.join("connectors/Cargo.toml"), &dir) {
            let _ = writeln!(code, "    ({name:?}, include_bytes!({:?})),", path.display().to_string());
        }
    }
    code.push_str("];\n");
    std::fs::write(out.join("builtin.rs"), code).expect("writing builtin.rs into OUT_DIR");
}
