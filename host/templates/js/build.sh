#!/usr/bin/env bash
# Builds this connector into the component file $1 (default: {{name}}.wasm here)
# with componentize-js, from connector.js and Headwater's JS SDK (sdk/js/headwater.js)
# and WIT world, both from the Headwater repository at $HEADWATER_SDK (default:
# {{sdk}}). componentize-js is the SDK's pinned dev dependency:
# `just setup-langs` there runs `npm ci` in sdk/js (or set COMPONENTIZE_JS).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sdk="${HEADWATER_SDK:-{{sdk}}}"
out="${1:-$here/{{name}}.wasm}"
tool="${COMPONENTIZE_JS:-$sdk/sdk/js/node_modules/.bin/componentize-js}"
if ! [ -x "$tool" ]; then
    echo "componentize-js is not at $tool: run \`just setup-langs\` in $sdk (or set COMPONENTIZE_JS)" >&2
    exit 2
fi
out="$(mkdir -p "$(dirname "$out")" && cd "$(dirname "$out")" && pwd)/$(basename "$out")"
# The component's module loader resolves imports against the folder it runs in
# and sees nothing outside it: the connector and the SDK go into one folder.
build="$(mktemp -d "${TMPDIR:-/tmp}/{{name}}-build.XXXXXX")"
trap 'rm -rf "$build"' EXIT
cp "$here/connector.js" "$sdk/sdk/js/headwater.js" "$build/"
cd "$build"
# Without wasi:http (-d http fetch-event): HTTP goes through the host's `http` interface and its policy.
"$tool" connector.js --wit "$sdk/wit" --world-name source -d http fetch-event -o "$out"
