"""dlt's side of `headwater-bench merge`: loads Parquet files into a Delta table
with dlt's `filesystem` destination, merging by primary key (upsert).

    dlt_merge.py load  --bucket DIR --pipelines-dir DIR FILE...   # the initial files
    dlt_merge.py merge --bucket DIR --pipelines-dir DIR FILE...   # a change set

Both steps run the same merge resource; on an empty destination dlt writes the
table (nothing to merge into), afterwards it merges with delta-rs
(`when_matched_update_all` / `when_not_matched_insert_all`). The rows are
pyarrow tables read from the files as they are (dlt's arrow passthrough: no
per-row Python), one table per file. The table lands in
BUCKET/bench/orders. Prints a one-line JSON summary on stdout.
"""

import argparse
import sys

import dlt
import dlt_bench
import pyarrow.parquet as pq


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("step", choices=["load", "merge"])
    p.add_argument("--bucket", required=True)
    p.add_argument("--pipelines-dir", required=True)
    p.add_argument("files", nargs="+")
    args = p.parse_args()

    @dlt.resource(
        name="orders",
        primary_key="id",
        write_disposition={"disposition": "merge", "strategy": "upsert"},
        table_format="delta",
    )
    def orders():
        for path in args.files:
            yield pq.read_table(path)

    dlt_bench.run("bench_merge", args.bucket, args.pipelines_dir, orders(), step=args.step)


if __name__ == "__main__":
    sys.exit(main())
