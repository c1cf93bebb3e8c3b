"""dlt's side of `headwater-bench api`: the mock API's cursor-paginated
`/orders` (`{"data": [...], "next_cursor": "K"}`, the last page with
`"next_cursor": null`, the cursor sent back as `?cursor=K`) read with dlt's
`rest_api` source and loaded into the `filesystem` destination as Parquet (zstd).

    dlt_rest_api.py --url http://127.0.0.1:PORT --bucket DIR --pipelines-dir DIR

The records go through dlt's ordinary path (Python dicts, extracted to dlt's
intermediate files, normalized to Parquet): no arrow passthrough, since the
API serves JSON. The table lands in BUCKET/bench/orders. Prints a one-line JSON
summary on stdout.
"""

import argparse

import dlt_bench


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--pipelines-dir", required=True)
    args = p.parse_args()
    dlt_bench.configure()
    source = dlt_bench.orders_source(args.url, {"write_disposition": "replace"}, {})
    dlt_bench.run("bench_api", args.bucket, args.pipelines_dir, source)


if __name__ == "__main__":
    main()
