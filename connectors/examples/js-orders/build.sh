#!/usr/bin/env bash
# Builds this connector into the component file $1 (default: js-orders.wasm here)
# with componentize-js, from connector.js and the SDK in sdk/js (the tool is the
# SDK's pinned dev dependency: `just setup-langs` runs `npm ci` there).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$here/js-orders.wasm}"
tool="${COMPONENTIZE_JS:-$repo/sdk/js/node_modules/.bin/componentize-js}"
if ! [ -x "$tool" ]; then
    echo "componentize-js is not at $tool: run \`just setup-langs\` (or set COMPONENTIZE_JS)" >&2
    exit 2
fi
mkdir -p "$(dirname "$out")"
# Without wasi:http (-d http fetch-event): HTTP goes through the host's `http` interface and its policy.
# From the repository root: the component's module loader resolves the SDK's relative
# import against the working folder, and sees nothing outside it.
out="$(mkdir -p "$(dirname "$out")" && cd "$(dirname "$out")" && pwd)/$(basename "$out")"
cd "$repo"
"$tool" "${here#"$repo"/}/connector.js" --wit wit --world-name source -d http fetch-event -o "$out"
