#!/usr/bin/env bash
# The connector's own test, end to end with the real host:
#   1. builds the component (./build.sh) and installs it with `headwater
#      connector install` into a throwaway HEADWATER_HOME;
#   2. starts testdata/api.py, a stand-in for the API on 127.0.0.1 serving
#      testdata/items.json two items a page, and writes a pipeline that grants
#      the connector that host and nothing else;
#   3. `headwater check`, `discover`, then `run`: every item lands, one
#      checkpoint per page;
#   4. adds an item and runs again: the connector asks only for what changed
#      since the watermark, and only the new item lands.
# Exits 0 when all of it holds; prints what differs otherwise.
#
# The headwater binary: $HEADWATER, else the one that created this project
# ({{headwater}}), else `headwater` on PATH. Needs python3 (the stand-in API
# and the checks of the JSON output).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
name="{{name}}"

hw="${HEADWATER:-}"
if [ -z "$hw" ]; then
    if [ -x "{{headwater}}" ]; then
        hw="{{headwater}}"
    elif command -v headwater >/dev/null; then
        hw="$(command -v headwater)"
    else
        echo "test.sh: no headwater binary: set HEADWATER=/path/to/headwater, or put it on PATH (cargo install --path host)" >&2
        exit 2
    fi
fi
command -v python3 >/dev/null || { echo "test.sh: python3 is needed (the stand-in API and the checks)" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/$name-test.XXXXXX")"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
export HEADWATER_HOME="$work/home"

# The value at a dotted path (`streams.0.rows`) of a JSON file.
value() {
    python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}
failures=0
expect() { # what, actual, expected
    if [ "$2" = "$3" ]; then
        echo "  ok: $1 = $3"
    else
        echo "  FAILED: $1 is $2, expected $3" >&2
        failures=$((failures + 1))
    fi
}
# Runs headwater with the arguments after the output file, its stdout into that file; on failure shows its output and stops.
hw_json() { # out, args...
    local out="$1"
    shift
    if ! "$hw" "$@" >"$out" 2>"$out.err"; then
        echo "FAILED: headwater $*" >&2
        cat "$out" "$out.err" >&2
        exit 1
    fi
}

echo "== build"
started=$SECONDS
"$here/build.sh" "$work/$name.wasm"
echo "  built $work/$name.wasm in $((SECONDS - started)) s"
hw_json "$work/installed.json" connector install "$work/$name.wasm" --json
expect "the installed connector's name" "$(value "$work/installed.json" name)" "$name"

echo "== the stand-in API (testdata/api.py)"
cp "$here/testdata/items.json" "$work/items.json"
python3 "$here/testdata/api.py" --items "$work/items.json" --port-file "$work/port" --log "$work/requests.log" &
server=$!
for _ in $(seq 100); do
    [ -s "$work/port" ] && break
    kill -0 "$server" 2>/dev/null || { echo "FAILED: testdata/api.py did not start" >&2; exit 1; }
    sleep 0.1
done
[ -s "$work/port" ] || { echo "FAILED: testdata/api.py did not start in 10 s" >&2; exit 1; }
port="$(cat "$work/port")"
echo "  listening on 127.0.0.1:$port"

cat >"$work/pipeline.toml" <<TOML
name = "$name-test"
[source]
connector = "$name"
[source.config]
base_url = "http://127.0.0.1:$port"
[allow]
hosts = ["127.0.0.1:$port"]
[sink]
path = "lake"
TOML

echo "== check, discover"
hw_json "$work/check.out" check "$work/pipeline.toml"
hw_json "$work/discovered.json" discover "$work/pipeline.toml" --json
expect "the stream" "$(value "$work/discovered.json" 0.stream)" "items"
expect "its primary key" "$(value "$work/discovered.json" 0.primary_key)" '["id"]'
expect "its cursor" "$(value "$work/discovered.json" 0.cursor_field)" "updated_at"

echo "== first run: every item, page by page"
hw_json "$work/run1.json" run "$work/pipeline.toml" --json
expect "status" "$(value "$work/run1.json" status)" "ok"
expect "rows" "$(value "$work/run1.json" streams.0.rows)" 5
expect "checkpoints (one a page)" "$(value "$work/run1.json" streams.0.checkpoints)" 3
expect "watermark" "$(value "$work/run1.json" streams.0.watermark)" "2025-01-03T12:00:00Z"

echo "== second run, after a new item: only what changed since the watermark"
python3 - "$work/items.json" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))
items.append({"id": 6, "name": "sixth", "updated_at": "2025-01-04T08:00:00Z"})
json.dump(items, open(sys.argv[1], "w"))
PY
asked_before=$(wc -l <"$work/requests.log")
hw_json "$work/run2.json" run "$work/pipeline.toml" --json
expect "status" "$(value "$work/run2.json" status)" "ok"
expect "rows" "$(value "$work/run2.json" streams.0.rows)" 1
expect "rows already landed, dropped at the seam" "$(value "$work/run2.json" streams.0.deduplicated)" 1
expect "rows in all" "$(value "$work/run2.json" streams.0.total_rows)" 6
asked="$(sed -n "$((asked_before + 1))p" "$work/requests.log")"
since="$(python3 -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlsplit(sys.argv[1]).query).get("updated_since", ["(none)"])[0])' "$asked")"
expect "updated_since of its first request" "$since" "2025-01-03T12:00:00Z"

if [ "$failures" -gt 0 ]; then
    echo "$name: $failures check(s) FAILED" >&2
    exit 1
fi
echo "$name: all checks passed"
