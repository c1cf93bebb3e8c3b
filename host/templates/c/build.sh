#!/usr/bin/env bash
# Builds this connector into the component file $1 (default: {{name}}.wasm here)
# from connector.c: `wit-bindgen c` generates the bindings of the WIT world,
# clang-19 compiles them and the connector for wasm32-wasi (WASI preview1,
# wasi-libc) into a core module, and `wasm-tools component new` wraps it into a
# component, with the preview1 reactor adapter turning its WASI imports into
# preview2's. The WIT world and the tools come from the Headwater repository at
# $HEADWATER_SDK (default: {{sdk}}), whose `just setup-langs` installs them
# (clang-19, lld-19 and wasi-libc from apt; wit-bindgen, wasm-tools and the
# adapter under target/tools). CLANG, WIT_BINDGEN, WASM_TOOLS and WASI_ADAPTER
# override where they are.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sdk="${HEADWATER_SDK:-{{sdk}}}"
out="${1:-$here/{{name}}.wasm}"
tools="$sdk/target/tools"
clang="${CLANG:-clang-19}"
wit_bindgen="${WIT_BINDGEN:-$tools/bin/wit-bindgen}"
wasm_tools="${WASM_TOOLS:-$tools/bin/wasm-tools}"
adapter="${WASI_ADAPTER:-$tools/wasi_snapshot_preview1.reactor.wasm}"

missing=()
command -v "$clang" >/dev/null || missing+=("$clang (apt: clang-19 lld-19)")
command -v wasm-ld-19 >/dev/null || command -v wasm-ld >/dev/null || missing+=("wasm-ld (apt: lld-19)")
[ -f /usr/lib/wasm32-wasi/libc.a ] || missing+=("wasi-libc (apt: wasi-libc)")
[ -x "$wit_bindgen" ] || missing+=("wit-bindgen at $wit_bindgen")
[ -x "$wasm_tools" ] || missing+=("wasm-tools at $wasm_tools")
[ -f "$adapter" ] || missing+=("the WASI preview1 reactor adapter at $adapter")
if [ ${#missing[@]} -gt 0 ]; then
    {
        echo "{{name}}: the C toolchain is incomplete; missing:"
        printf '  - %s\n' "${missing[@]}"
        echo "run \`just setup-langs\` in $sdk (or set CLANG, WIT_BINDGEN, WASM_TOOLS, WASI_ADAPTER)"
    } >&2
    exit 2
fi

# Bindings and objects go to a fresh folder, never into the source folder.
build="$(mktemp -d "${TMPDIR:-/tmp}/{{name}}-build.XXXXXX")"
trap 'rm -rf "$build"' EXIT
# (wit-bindgen names each file it writes on stderr: shown only if it fails.)
if ! log="$("$wit_bindgen" c "$sdk/wit" --world source --out-dir "$build/gen" 2>&1)"; then
    echo "$log" >&2
    exit 1
fi

cflags=(--target=wasm32-wasi -O2)
# The connector with every warning an error; the generated bindings as they are.
"$clang" "${cflags[@]}" -std=c11 -Wall -Wextra -Wpedantic -Werror -I "$build/gen" -c "$here/connector.c" -o "$build/connector.o"
"$clang" "${cflags[@]}" -I "$build/gen" -c "$build/gen/source.c" -o "$build/source.o"
# A reactor (-mexec-model=reactor): no `main`, only the exports. The component
# type object carries the WIT world into the module.
"$clang" "${cflags[@]}" -mexec-model=reactor -Wl,--no-entry -Wl,--strip-debug -o "$build/core.wasm" \
    "$build/connector.o" "$build/source.o" "$build/gen/source_component_type.o"
mkdir -p "$(dirname "$out")"
"$wasm_tools" component new "$build/core.wasm" --adapt "wasi_snapshot_preview1=$adapter" -o "$out.tmp"
mv "$out.tmp" "$out"
