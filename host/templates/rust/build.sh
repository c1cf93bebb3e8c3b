#!/usr/bin/env bash
# Builds this connector into the component file $1 (default: {{name}}.wasm here)
# with cargo for wasm32-wasip2 (`rustup target add wasm32-wasip2`, once). The
# SDK is a path dependency on {{sdk}}/sdk/rust (Cargo.toml).
# CARGO_TARGET_DIR sets where cargo builds (default: target/ here).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/{{name}}.wasm}"
target="${CARGO_TARGET_DIR:-$here/target}"
if command -v rustup >/dev/null && ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "the Rust target wasm32-wasip2 is not installed: run \`rustup target add wasm32-wasip2\`" >&2
    exit 2
fi
cargo build --release --target wasm32-wasip2 --manifest-path "$here/Cargo.toml" --target-dir "$target"
mkdir -p "$(dirname "$out")"
cp "$target/wasm32-wasip2/release/connector.wasm" "$out"
