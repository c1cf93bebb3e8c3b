"""Reads a stream's Hive-layout Parquet files from an S3-compatible bucket with
pyarrow (an independent reader: its own S3 client and Parquet decoder) and
prints one JSON object: the keys it found and the rows, sorted by `id`.

    python3 s3_parquet_read.py ENDPOINT BUCKET/PREFIX/STREAM
"""

import json
import sys

import pyarrow.dataset as ds
from pyarrow import fs


def main() -> None:
    endpoint, where = sys.argv[1], sys.argv[2]
    scheme, host = endpoint.split("://", 1)
    s3 = fs.S3FileSystem(
        endpoint_override=host, scheme=scheme, access_key="testing", secret_key="testing", region="us-east-1"
    )
    keys = sorted(
        info.path for info in s3.get_file_info(fs.FileSelector(where, recursive=True, allow_not_found=True)) if info.type == fs.FileType.File
    )
    rows = []
    if keys:
        data = ds.dataset(where, filesystem=s3, format="parquet", partitioning="hive")
        rows = data.to_table().to_pylist()
        rows.sort(key=lambda r: r["id"])
    json.dump({"keys": keys, "rows": rows}, sys.stdout, default=str)


if __name__ == "__main__":
    main()
