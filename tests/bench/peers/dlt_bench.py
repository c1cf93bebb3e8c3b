"""What the bench's dlt scripts share: dlt's settings for runs that compare
fairly with the other programs, the mock API's cursor-paginated `/orders` as a
`rest_api` source, and one timed `pipeline.run` into the `filesystem`
destination as Parquet, summarised as a one-line JSON on stdout.
"""

import json
import os
import time


def configure() -> None:
    """zstd like the other programs (dlt's Parquet default is snappy); no telemetry."""
    os.environ.setdefault("NORMALIZE__DATA_WRITER__COMPRESSION", "zstd")
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def orders_source(url: str, resource: dict, endpoint: dict):
    """The mock API's `/orders` (`{"data": [...], "next_cursor": "K"}`, the cursor
    sent back as `?cursor=K`), with `resource` and `endpoint` settings added."""
    from dlt.sources.rest_api import rest_api_source

    return rest_api_source(
        {
            "client": {
                "base_url": url,
                "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
            },
            "resources": [
                {
                    "name": "orders",
                    "primary_key": "id",
                    **resource,
                    "endpoint": {"path": "orders", "data_selector": "data", **endpoint},
                }
            ],
        }
    )


def run(pipeline_name: str, bucket: str, pipelines_dir: str, data, **summary) -> None:
    """Loads `data` into BUCKET/bench/orders as Parquet and prints the rows it
    loaded, its time from after Python's start and imports, and `summary`."""
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        pipelines_dir=pipelines_dir,
        destination=dlt.destinations.filesystem(bucket_url=bucket),
        dataset_name="bench",
    )
    started = time.monotonic()
    info = pipeline.run(data, loader_file_format="parquet")
    info.raise_on_failed_jobs()
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("orders", 0)
    seconds = time.monotonic() - started
    print(json.dumps({**summary, "rows": rows, "seconds": seconds, "dlt": dlt.__version__}))
