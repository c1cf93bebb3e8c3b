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
import json
import os
import time

import dlt
from dlt.sources.rest_api import rest_api_source


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--pipelines-dir", required=True)
    args = p.parse_args()
    # zstd like the other programs (dlt's Parquet default is snappy); no telemetry.
    os.environ.setdefault("NORMALIZE__DATA_WRITER__COMPRESSION", "zstd")
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    source = rest_api_source(
        {
            "client": {
                "base_url": args.url,
                "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
            },
            "resource_defaults": {"write_disposition": "replace"},
            "resources": [
                {
                    "name": "orders",
                    "primary_key": "id",
                    "endpoint": {"path": "orders", "data_selector": "data"},
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_api",
        pipelines_dir=args.pipelines_dir,
        destination=dlt.destinations.filesystem(bucket_url=args.bucket),
        dataset_name="bench",
    )
    started = time.monotonic()
    info = pipeline.run(source, loader_file_format="parquet")
    info.raise_on_failed_jobs()
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("orders", 0)
    print(json.dumps({"rows": rows, "seconds": time.monotonic() - started, "dlt": dlt.__version__}))


if __name__ == "__main__":
    main()
