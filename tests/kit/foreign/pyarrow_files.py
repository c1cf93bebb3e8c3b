"""Files written by another tool (pyarrow), and an independent reader of what
Headwater landed (pyarrow again). Used by host/tests/e2e/foreign.rs.

  pyarrow_files.py write DIR        writes exports in the shapes other tools write
  pyarrow_files.py check DIR LAKE   reads LAKE/<stream>/ back with pyarrow and
                                    compares it row by row with what `write` wrote
"""

import datetime as dt
import decimal
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROWS = 1000


def table():
    ids = list(range(1, ROWS + 1))
    names = [f"customer-{i % 17}" for i in ids]
    utc = dt.timezone.utc
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            # Dictionary-encoded text, as pandas categoricals and Spark write it.
            "name": pa.array(names).dictionary_encode(),
            "amount": pa.array([decimal.Decimal(i * 37 % 100000) / 100 if i % 11 else None for i in ids], pa.decimal128(12, 2)),
            "tags": pa.array([None if i % 7 == 0 else [f"t{i % 3}"] * (i % 3) for i in ids], pa.list_(pa.string())),
            "ship": pa.array(
                [None if i % 13 == 0 else {"city": f"city{i % 5}", "zip": f"{i % 100000:05d}"} for i in ids],
                pa.struct([("city", pa.string()), ("zip", pa.string())]),
            ),
            "ordered_at": pa.array(
                [dt.datetime(2024, 1, 1, tzinfo=utc) + dt.timedelta(minutes=i, milliseconds=i % 1000) for i in ids],
                pa.timestamp("ms", tz="UTC"),
            ),
            "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i % 60) for i in ids], pa.date32()),
            "paid": pa.array([i % 2 == 0 for i in ids], pa.bool_()),
            "score": pa.array([i / 8 for i in ids], pa.float32()),
        }
    )


def write(out):
    t = table()
    half = ROWS // 2
    # pyarrow's defaults (snappy, dictionary pages, page format 1), small row groups.
    pq.write_table(t.slice(0, half), f"{out}/a.parquet", row_group_size=128)
    # Spark's usual choice elsewhere: gzip, data page v2, no dictionary, statistics off.
    pq.write_table(
        t.slice(half), f"{out}/b.parquet", compression="gzip", data_page_version="2.0", use_dictionary=False, write_statistics=False
    )
    flat = t.select(["id", "name", "amount", "ordered_at", "day", "paid"]).cast(
        pa.schema([("id", pa.int64()), ("name", pa.string()), ("amount", pa.decimal128(12, 2)), ("ordered_at", pa.timestamp("ms", tz="UTC")), ("day", pa.date32()), ("paid", pa.bool_())])
    )
    pacsv.write_csv(flat, f"{out}/c.csv")


def check(src, lake):
    t = table()
    failures = []
    for stream, columns in [("p", t.column_names), ("c", ["id", "name", "amount", "ordered_at", "day", "paid"])]:
        got = ds.dataset(f"{lake}/{stream}", format="parquet", partitioning=None).to_table()
        got = got.select([c for c in got.column_names if not c.startswith("_hw_")]).sort_by("id")
        want = t.select(columns)
        if got.num_rows != want.num_rows:
            failures.append(f"{stream}: {got.num_rows} rows, the files hold {want.num_rows}")
            continue
        for name in columns:
            if name not in got.column_names:
                failures.append(f"{stream}: column {name} missing (has {got.column_names})")
                continue
            g, w = got.column(name).to_pylist(), want.column(name).to_pylist()
            for i, (a, b) in enumerate(zip(g, w)):
                if isinstance(b, float) or isinstance(a, float):
                    same = a is not None and b is not None and abs(float(a) - float(b)) < 1e-6 or a == b
                elif isinstance(b, decimal.Decimal) and a is not None:
                    same = decimal.Decimal(str(a)) == b
                else:
                    same = a == b
                if not same:
                    failures.append(f"{stream}: row id={i + 1} column {name}: landed {a!r}, the file holds {b!r}")
                    break
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        check(sys.argv[2], sys.argv[3])
