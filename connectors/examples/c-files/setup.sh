#!/usr/bin/env bash
# Installs the C example's toolchain, pinned, from the package registries only:
#   - Debian's clang-19, lld-19, the wasm32 compiler runtime and wasi-libc (apt);
#   - wit-bindgen-cli and wasm-tools (crates.io, `cargo install --locked`), with
#     only the features this build uses, under target/tools/bin;
#   - the WASI preview1 reactor adapter of the wasmtime the host links, from the
#     crates.io crate wasi-preview1-component-adapter-provider, copied to
#     target/tools/wasi_snapshot_preview1.reactor.wasm.
# Idempotent and silent when everything is there. A cold run took 8.5 minutes
# on 2 cores, nearly all of it compiling the two cargo tools (see README.md).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
tools="$repo/target/tools"

# Pinned versions. The adapter must match the host's wasmtime (Cargo.lock).
wit_bindgen_version=0.63.0
wasm_tools_version=1.263.0
adapter_version=48.0.8

# 1. Debian's C toolchain for wasm32 (bookworm has clang/lld 19 and a 2022 wasi-libc).
apt_packages=(clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc)
if ! dpkg -s "${apt_packages[@]}" >/dev/null 2>&1; then
    sudo=()
    if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
    echo "c-files setup: installing ${apt_packages[*]} (apt)" >&2
    # apt's chatter (debconf notes and the like) is shown only if it fails.
    if ! log="$({ "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${apt_packages[@]}"; } 2>&1)"; then
        echo "$log" >&2
        exit 1
    fi
fi

# 2. The two cargo tools, each built with only the feature this example needs.
# `cargo install` alone checks the version too, but only after updating the index.
install_tool() { # crate version binary feature
    local crate=$1 version=$2 bin=$3 feature=$4
    if [[ "$("$tools/bin/$bin" --version 2>/dev/null)" == *" $version"* ]]; then return; fi
    echo "c-files setup: building $crate $version (a few minutes)" >&2
    cargo install --quiet --locked --force --root "$tools" --version "=$version" \
        --no-default-features --features "$feature" "$crate"
}
install_tool wit-bindgen-cli "$wit_bindgen_version" wit-bindgen c
install_tool wasm-tools "$wasm_tools_version" wasm-tools component

# 3. The preview1 reactor adapter: Debian's wasi-libc targets WASI preview1, and
# the adapter turns its imports into preview2's. Cargo fetches the crate that
# ships it through a throwaway manifest; the .wasm is copied out of its source.
adapter="$tools/wasi_snapshot_preview1.reactor.wasm"
stamp="$adapter.version"
if [ "$(cat "$stamp" 2>/dev/null)" != "$adapter_version" ] || ! [ -s "$adapter" ]; then
    echo "c-files setup: fetching wasi-preview1-component-adapter-provider $adapter_version" >&2
    fetcher="$tools/adapter-fetch"
    mkdir -p "$fetcher/src"
    cat > "$fetcher/Cargo.toml" <<TOML
# Throwaway manifest: only makes cargo download the adapter crate (connectors/examples/c-files/setup.sh).
[package]
name = "adapter-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wasi-preview1-component-adapter-provider = "=$adapter_version"

[workspace]
TOML
    : > "$fetcher/src/lib.rs"
    # `cargo metadata` downloads and unpacks the crate, and says where.
    manifest="$(cargo metadata --quiet --format-version 1 --manifest-path "$fetcher/Cargo.toml" |
        grep -o "\"manifest_path\":\"[^\"]*wasi-preview1-component-adapter-provider-$adapter_version/Cargo.toml\"" |
        head -n 1 | sed 's/^"manifest_path":"//; s/"$//')"
    src="$(dirname "$manifest")/artefacts/wasi_snapshot_preview1.reactor.wasm"
    if [ -z "$manifest" ] || ! [ -s "$src" ]; then
        echo "c-files setup: the adapter is not in the crate wasi-preview1-component-adapter-provider $adapter_version (looked for $src)" >&2
        exit 1
    fi
    cp "$src" "$adapter.tmp" && mv "$adapter.tmp" "$adapter"
    echo "$adapter_version" > "$stamp"
    rm -rf "$fetcher"
fi
