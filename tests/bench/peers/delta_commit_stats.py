"""What the latest commit of a Delta table did, from the table's log alone (not
from the tool that wrote it), for `headwater-bench merge`:

    delta_commit_stats.py TABLE

prints one JSON object: the commit's version and operation, files removed and
added, bytes removed and added, and the table's files, bytes and rows after it
(and its files before it). A `remove` without a size takes it from the `add`
that put the file in the table (an earlier commit or checkpoint), else from the
file on disk (copy on write leaves removed files until a vacuum).
"""

import glob
import json
import os
import sys
from urllib.parse import unquote

import pyarrow.parquet as pq
from deltalake import DeltaTable


def actions(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def main() -> None:
    table = sys.argv[1]
    log = os.path.join(table, "_delta_log")
    commits = sorted(
        (int(os.path.basename(p).split(".")[0]), p) for p in glob.glob(os.path.join(log, "[0-9]*.json"))
    )
    if not commits:
        sys.exit(f"{table}: no commits in {log}")
    latest, latest_path = commits[-1]

    removed, added, operation = {}, {}, None
    for a in actions(latest_path):
        if "remove" in a:
            removed[a["remove"]["path"]] = a["remove"].get("size")
        elif "add" in a:
            added[a["add"]["path"]] = a["add"]["size"]
        elif "commitInfo" in a:
            operation = a["commitInfo"].get("operation")

    # Sizes of removed files: from the adds of earlier commits (and checkpoints) ...
    missing = {p for p, s in removed.items() if s is None}
    if missing:
        for _, path in commits[:-1]:
            for a in actions(path):
                if "add" in a and a["add"]["path"] in missing:
                    removed[a["add"]["path"]] = a["add"]["size"]
        for cp in glob.glob(os.path.join(log, "*.checkpoint*.parquet")):
            t = pq.read_table(cp, columns=["add"]).column("add").combine_chunks()
            for row in t.to_pylist():
                if row and row["path"] in missing and removed.get(row["path"]) is None:
                    removed[row["path"]] = row["size"]
        # ... else from the file on disk.
        for p, s in removed.items():
            if s is None:
                removed[p] = os.path.getsize(os.path.join(table, unquote(p)))

    after = DeltaTable(table)
    files_after = after.file_uris()
    bytes_after = sum(os.path.getsize(unquote(u.removeprefix("file://"))) for u in files_after)
    rows = after.to_pyarrow_dataset().count_rows()
    files_before = len(DeltaTable(table, version=latest - 1).file_uris()) if latest > 0 else 0
    print(
        json.dumps(
            {
                "version": latest,
                "operation": operation,
                "files_removed": len(removed),
                "files_added": len(added),
                "bytes_removed": sum(removed.values()),
                "bytes_added": sum(added.values()),
                "files_before": files_before,
                "files": len(files_after),
                "bytes": bytes_after,
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
