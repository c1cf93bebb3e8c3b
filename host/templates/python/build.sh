#!/usr/bin/env bash
# Builds this connector into the component file $1 (default: {{name}}.wasm here)
# with componentize-py: app.py, Headwater's Python SDK and the WIT world, both
# from the Headwater repository at $HEADWATER_SDK (default: {{sdk}}),
# whose `just setup-langs` installs the pinned componentize-py under
# target/tools/py (or set COMPONENTIZE_PY).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sdk="${HEADWATER_SDK:-{{sdk}}}"
out="${1:-$here/{{name}}.wasm}"
tool="${COMPONENTIZE_PY:-$sdk/target/tools/py/bin/componentize-py}"
if ! [ -x "$tool" ]; then
    echo "componentize-py is not at $tool: run \`just setup-langs\` in $sdk (or set COMPONENTIZE_PY)" >&2
    exit 2
fi
mkdir -p "$(dirname "$out")"
# --stub-wasi: the connector's I/O is the host's interfaces; WASI's filesystem and sockets are stubbed out.
"$tool" -d "$sdk/wit" -w source componentize -p "$here" -p "$sdk/sdk/python" --stub-wasi app -o "$out"
