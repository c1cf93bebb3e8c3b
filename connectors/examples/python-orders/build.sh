#!/usr/bin/env bash
# Builds this connector into the component file $1 (default: python-orders.wasm here)
# with componentize-py: the app module, the SDK in sdk/python, and the WIT world.
# `just setup-langs` installs the pinned componentize-py under target/tools/py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$here/python-orders.wasm}"
tool="${COMPONENTIZE_PY:-$repo/target/tools/py/bin/componentize-py}"
if ! [ -x "$tool" ]; then
    echo "componentize-py is not at $tool: run \`just setup-langs\` (or set COMPONENTIZE_PY)" >&2
    exit 2
fi
mkdir -p "$(dirname "$out")"
# --stub-wasi: the connector's I/O is the host's interfaces; WASI's filesystem and sockets are stubbed out.
"$tool" -d "$repo/wit" -w source componentize -p "$here" -p "$repo/sdk/python" --stub-wasi app -o "$out"
