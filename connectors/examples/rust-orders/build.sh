#!/usr/bin/env bash
# Builds this connector into the component file $1 (default: rust-orders.wasm here)
# with cargo for wasm32-wasip2 (`just setup`, or `rustup target add wasm32-wasip2`, once).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$here/rust-orders.wasm}"
# Built outside the example's folder: the test kit's build script watches
# connectors/ and would take a target folder there for a change of source.
target="$repo/target/examples-build"
cargo build --release --target wasm32-wasip2 --manifest-path "$here/Cargo.toml" --target-dir "$target"
mkdir -p "$(dirname "$out")"
cp "$target/wasm32-wasip2/release/rust_orders.wasm" "$out"
