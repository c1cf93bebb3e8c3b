"""A Parquet export as another tool writes one, for `headwater-bench workloads`
(the Parquet re-land): an NDJSON (or CSV) file read with pyarrow's own readers
and types, written by pyarrow with snappy and its default row groups.

    pyarrow_export.py INPUT.ndjson|INPUT.csv OUT.parquet

Prints a one-line JSON summary on stdout: rows, row groups and the schema.
"""

import json
import sys
import time

import pyarrow
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: pyarrow_export.py INPUT.ndjson|INPUT.csv OUT.parquet")
    source, out = sys.argv[1], sys.argv[2]
    started = time.monotonic()
    table = pcsv.read_csv(source) if source.endswith(".csv") else pjson.read_json(source)
    pq.write_table(table, out, compression="snappy")
    meta = pq.ParquetFile(out).metadata
    print(
        json.dumps(
            {
                "rows": meta.num_rows,
                "row_groups": meta.num_row_groups,
                "schema": ", ".join(f"{f.name}: {f.type}" for f in table.schema),
                "seconds": time.monotonic() - started,
                "pyarrow": pyarrow.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
