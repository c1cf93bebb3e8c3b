# Headwater's tasks. `just` alone lists them.
# Connectors and test components are WebAssembly guests built for wasm32-wasip2;
# the host and the tests are native.

set shell := ["bash", "-euo", "pipefail", "-c"]

wasm := "target/wasm32-wasip2/release"

default:
    @just --list

# Install the toolchain pieces the build needs (the wasm32-wasip2 target).
setup:
    rustup target add wasm32-wasip2

# Build the shipped connectors (rest, files) and the test components.
build-connectors: setup
    cargo build --release --target wasm32-wasip2 --manifest-path connectors/Cargo.toml --target-dir target
    cargo build --release --target wasm32-wasip2 --manifest-path tests/components/Cargo.toml --target-dir target

# Build the connectors and the host, then run the self-contained demo.
demo: setup
    cargo build --release --target wasm32-wasip2 --manifest-path connectors/Cargo.toml --target-dir target
    cargo run -p headwater -- demo --connectors {{wasm}}

# Build everything and run every test: unit tests and end-to-end tests.
test: build-connectors
    cargo build -p headwater
    cargo test --workspace

# Formatting, lints (host, SDK, connectors) and docs, warnings as errors.
lint: setup
    cargo fmt --all -- --check
    cargo fmt --manifest-path connectors/Cargo.toml --all -- --check
    cargo fmt --manifest-path tests/components/Cargo.toml --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --release --target wasm32-wasip2 --manifest-path connectors/Cargo.toml --target-dir target --all-targets -- -D warnings
    cargo clippy --release --target wasm32-wasip2 --manifest-path tests/components/Cargo.toml --target-dir target --all-targets -- -D warnings
    RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps

# Release builds; prints the tables and writes target/bench/results.md. Sizes, e.g.:
# `just bench api --records 200000`, `just bench files --rows 1000000`, `just bench all --runs 3`.
# Benchmark headwater against native Rust baselines (API and CSV ingestion).
bench *args: setup
    cargo build --release --target wasm32-wasip2 --manifest-path connectors/Cargo.toml --target-dir target
    cargo build --release -p headwater -p headwater-tests --bins
    target/release/headwater-bench {{ if args == "" { "all" } else { args } }}
