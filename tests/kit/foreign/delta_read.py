"""Reads a Delta Lake table with the `deltalake` package (delta-rs's Python
build, from PyPI: an independent reader of what headwater committed) and prints
one JSON object: the table's version, its rows (sorted by `id` when it has one,
timestamps as ISO text) and the transactions of its commits' `txn` actions.

    python3 delta_read.py TABLE_URI [KEY=VALUE ...]   (storage options, e.g. for S3)
"""

import json
import os
import sys

from deltalake import DeltaTable


def main() -> None:
    uri = sys.argv[1]
    options = dict(arg.split("=", 1) for arg in sys.argv[2:])
    table = DeltaTable(uri, storage_options=options or None)
    rows = table.to_pyarrow_table().to_pylist()
    if rows and "id" in rows[0]:
        rows.sort(key=lambda r: (r["id"] is None, r["id"]))
    out = {
        "version": table.version(),
        "rows": rows,
        "files": len(table.file_uris()),
        "history": [h.get("operation") for h in table.history()],
    }
    sys.stdout.write(json.dumps(out, default=str))
    sys.stdout.flush()
    # deltalake's runtime threads can abort the interpreter at exit: leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
