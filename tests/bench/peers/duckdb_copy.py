"""DuckDB's side of `headwater-bench files`: one CSV file to one Parquet file
with DuckDB's own CSV sniffer and Parquet writer, zstd, all of DuckDB's threads.

    duckdb_copy.py INPUT.csv OUT.parquet

Prints a one-line JSON summary on stdout: the rows COPY reports it wrote (the
bench also reads the file back and checks the ids).
"""

import json
import sys
import time

import duckdb


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: duckdb_copy.py INPUT.csv OUT.parquet")
    source, out = sys.argv[1], sys.argv[2]
    quote = lambda s: "'" + s.replace("'", "''") + "'"  # noqa: E731
    started = time.monotonic()
    con = duckdb.connect()
    copied = con.execute(
        f"COPY (SELECT * FROM read_csv({quote(source)})) TO {quote(out)} (FORMAT parquet, COMPRESSION zstd)"
    ).fetchone()
    rows = copied[0] if copied else None
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": time.monotonic() - started,
                "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
                "duckdb": duckdb.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
