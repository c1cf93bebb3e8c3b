"""DuckDB's side of `headwater-bench files` and `workloads`: a CSV, NDJSON or
Parquet input (one file, or a glob of many) to one Parquet file with DuckDB's
own readers (its CSV and JSON sniffers infer the types) and Parquet writer,
zstd, all of DuckDB's threads.

    duckdb_copy.py INPUT OUT.parquet [--format csv|ndjson|parquet] [--columns JSON]

INPUT is a path or a glob (`data/*.csv`); the format defaults to csv. With
`--columns '[["id", "BIGINT"], ...]'` a CSV's columns are declared, in order, not sniffed. Prints a
one-line JSON summary on stdout: the rows COPY reports it wrote (the bench also
reads the file back and checks the ids).
"""

import argparse
import json
import time

import duckdb


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("out")
    p.add_argument("--format", choices=["csv", "ndjson", "parquet"], default="csv")
    p.add_argument("--columns", help="a CSV's columns and their DuckDB types, as a JSON list of pairs")
    args = p.parse_args()
    quote = lambda s: "'" + s.replace("'", "''") + "'"  # noqa: E731
    columns = ""
    if args.columns:
        pairs = ", ".join(f"{quote(name)}: {quote(ty)}" for name, ty in json.loads(args.columns))
        columns = ", header = true, columns = {" + pairs + "}"
    reader = {
        "csv": f"read_csv({quote(args.input)}{columns})",
        "ndjson": f"read_json({quote(args.input)}, format = 'newline_delimited')",
        "parquet": f"read_parquet({quote(args.input)})",
    }[args.format]
    started = time.monotonic()
    con = duckdb.connect()
    copied = con.execute(
        f"COPY (SELECT * FROM {reader}) TO {quote(args.out)} (FORMAT parquet, COMPRESSION zstd)"
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
