"""The peers' side of `headwater-bench hybrid`: the hybrid pattern (a backfill
from an export, then the API from where the export ends) done with the tools a
user would pick instead of Headwater. That takes two tools, run one after the
other, and a cursor carried by hand from the first to the second:

    hybrid_peers.py backfill EXPORT.csv OUT.parquet
        DuckDB: COPY (SELECT * FROM read_csv(EXPORT)) TO OUT (parquet, zstd,
        all of DuckDB's threads), then SELECT max(updated_at) FROM OUT: the
        cursor to hand to the API part, printed in the API's own text (RFC 3339,
        whole seconds, `Z`).

    hybrid_peers.py api --url URL --initial-value CURSOR --bucket DIR --pipelines-dir DIR
        dlt: the `rest_api` source on the mock API's cursor-paginated `/orders`,
        incremental on `updated_at` sent as `?updated_since=`, starting from
        CURSOR, with `range_start = "open"`: the API filters inclusively, so
        the rows at CURSOR come again, and they were loaded with the export.
        Loaded (append) into the `filesystem` destination as Parquet (zstd);
        the table lands in BUCKET/bench/orders.

Each prints a one-line JSON summary on stdout: the rows it loaded, its own
time from after Python's start and imports, and (backfill) the cursor.
"""

import argparse
import json
import time

import dlt_bench


def backfill(args: argparse.Namespace) -> None:
    import duckdb

    quote = lambda s: "'" + s.replace("'", "''") + "'"  # noqa: E731
    started = time.monotonic()
    con = duckdb.connect()
    # The cursor's text must not depend on the machine's time zone.
    con.execute("SET TimeZone = 'UTC'")
    copied = con.execute(
        f"COPY (SELECT * FROM read_csv({quote(args.export)})) TO {quote(args.out)} "
        "(FORMAT parquet, COMPRESSION zstd)"
    ).fetchone()
    cursor = con.execute(
        "SELECT strftime(max(updated_at)::TIMESTAMPTZ AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') "
        f"FROM read_parquet({quote(args.out)})"
    ).fetchone()[0]
    print(
        json.dumps(
            {
                "rows": copied[0] if copied else None,
                "cursor": cursor,
                "seconds": time.monotonic() - started,
                "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
                "duckdb": duckdb.__version__,
            }
        )
    )


def api(args: argparse.Namespace) -> None:
    dlt_bench.configure()
    incremental = {
        "start_param": "updated_since",
        "cursor_path": "updated_at",
        "initial_value": args.initial_value,
        "range_start": "open",
    }
    source = dlt_bench.orders_source(args.url, {"write_disposition": "append"}, {"incremental": incremental})
    dlt_bench.run("bench_hybrid", args.bucket, args.pipelines_dir, source)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="part", required=True)
    b = sub.add_parser("backfill")
    b.add_argument("export")
    b.add_argument("out")
    b.set_defaults(run=backfill)
    a = sub.add_parser("api")
    a.add_argument("--url", required=True)
    a.add_argument("--initial-value", required=True)
    a.add_argument("--bucket", required=True)
    a.add_argument("--pipelines-dir", required=True)
    a.set_defaults(run=api)
    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
