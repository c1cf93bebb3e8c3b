#!/usr/bin/env bash
# Builds this connector into the component file $1 (default: c-files.wasm here)
# from connector.c: `wit-bindgen c` generates the bindings of the WIT world,
# Debian's clang-19 compiles them and the connector for wasm32-wasi (WASI
# preview1, wasi-libc) into a core module, and `wasm-tools component new` wraps
# it into a component, with the preview1 reactor adapter turning its WASI
# imports into preview2's. `just setup-langs` installs all of it (setup.sh here).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$here/c-files.wasm}"
tools="$repo/target/tools"
clang="${CLANG:-clang-19}"
wit_bindgen="${WIT_BINDGEN:-$tools/bin/wit-bindgen}"
wasm_tools="${WASM_TOOLS:-$tools/bin/wasm-tools}"
adapter="${WASI_ADAPTER:-$tools/wasi_snapshot_preview1.reactor.wasm}"

missing=()
command -v "$clang" >/dev/null || missing+=("$clang (apt: clang-19 lld-19)")
command -v wasm-ld-19 >/dev/null || command -v wasm-ld >/dev/null || missing+=("wasm-ld (apt: lld-19)")
[ -f /usr/lib/wasm32-wasi/libc.a ] || missing+=("wasi-libc (apt: wasi-libc)")
compgen -G "/usr/lib/llvm-19/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null ||
    missing+=("the wasm32 compiler runtime (apt: libclang-rt-19-dev-wasm32)")
[ -x "$wit_bindgen" ] || missing+=("wit-bindgen at $wit_bindgen")
[ -x "$wasm_tools" ] || missing+=("wasm-tools at $wasm_tools")
[ -f "$adapter" ] || missing+=("the WASI preview1 reactor adapter at $adapter")
if [ ${#missing[@]} -gt 0 ]; then
    {
        echo "c-files: the C toolchain is incomplete; missing:"
        printf '  - %s\n' "${missing[@]}"
        echo "run \`just setup-langs\` (or connectors/examples/c-files/setup.sh; or set CLANG, WIT_BINDGEN, WASM_TOOLS, WASI_ADAPTER)"
    } >&2
    exit 2
fi

# Bindings and objects go to a fresh folder under target/, never into the source folder.
mkdir -p "$repo/target/examples"
build="$(mktemp -d "$repo/target/examples/c-files.build.XXXXXX")"
trap 'rm -rf "$build"' EXIT
# (wit-bindgen names each file it writes on stderr: shown only if it fails.)
if ! log="$("$wit_bindgen" c "$repo/wit" --world source --out-dir "$build/gen" 2>&1)"; then
    echo "$log" >&2
    exit 1
fi

cflags=(--target=wasm32-wasi -O2)
# The connector with every warning an error; the generated bindings as they are.
"$clang" "${cflags[@]}" -std=c11 -Wall -Wextra -Wpedantic -Werror -I "$build/gen" -c "$here/connector.c" -o "$build/connector.o"
"$clang" "${cflags[@]}" -I "$build/gen" -c "$build/gen/source.c" -o "$build/source.o"
# A reactor (-mexec-model=reactor, a link option): no `main`, only the exports.
# The component type object carries the WIT world into the module.
"$clang" "${cflags[@]}" -mexec-model=reactor -Wl,--no-entry -Wl,--strip-debug -o "$build/core.wasm" \
    "$build/connector.o" "$build/source.o" "$build/gen/source_component_type.o"
mkdir -p "$(dirname "$out")"
"$wasm_tools" component new "$build/core.wasm" --adapt "wasi_snapshot_preview1=$adapter" -o "$out.tmp"
mv "$out.tmp" "$out"
