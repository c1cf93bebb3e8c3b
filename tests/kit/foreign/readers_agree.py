"""Reads one Delta Lake table with the three readers users query it with:
the `deltalake` package (delta-rs), DuckDB's `delta_scan` (the delta extension,
from PyPI's `duckdb-extension-delta`) and Polars' `read_delta`; prints one JSON
object `{reader: rows}`, each reader's rows as text cells sorted by `id`, so the
caller can check that they agree with each other and with the source.

    python3 readers_agree.py TABLE_PATH
"""

import glob
import json
import os
import sys

import duckdb
import duckdb_extension_delta
import polars
from deltalake import DeltaTable


def cell(value):
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        # Readers differ in how they spell an instant, not in the instant.
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def canonical(rows):
    out = [{k: cell(v) for k, v in row.items()} for row in rows]
    out.sort(key=lambda r: (len(r.get("id") or ""), r.get("id") or ""))
    return out


def main() -> None:
    uri = os.path.abspath(sys.argv[1])
    out = {"deltalake": canonical(DeltaTable(uri).to_pyarrow_table().to_pylist())}

    extension = glob.glob(os.path.join(duckdb_extension_delta.__path__[0], "extensions", "*", "delta.duckdb_extension"))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"LOAD '{extension[0]}'")
    out["duckdb"] = canonical(con.execute("SELECT * FROM delta_scan(?)", [uri]).fetch_arrow_table().to_pylist())

    out["polars"] = canonical(polars.read_delta(uri).to_dicts())
    sys.stdout.write(json.dumps(out))
    sys.stdout.flush()
    # deltalake's runtime threads can abort the interpreter at exit: leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
