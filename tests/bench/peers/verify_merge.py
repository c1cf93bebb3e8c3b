"""Checks a merged Delta table against the data it was loaded from, for
`headwater-bench merge`:

    verify_merge.py TABLE --initial FILE... --changes FILE

- the table holds exactly one row per id: the initial ids and the change set's;
- each changed id's row holds the change set's amount, status and updated_at;
- every other row holds its initial amount (the sum of amount in cents over the
  unchanged ids equals the initial files' sum over them, exactly).

Prints a JSON summary; exits non-zero, saying what is wrong, when anything is.
"""

import argparse
import json
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable


def cents(col):
    return pc.sum(pc.cast(pc.round(pc.multiply(col, 100.0)), pa.int64())).as_py() or 0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("table")
    p.add_argument("--initial", nargs="+", required=True)
    p.add_argument("--changes", required=True)
    args = p.parse_args()
    problems = []

    change = pq.read_table(args.changes, columns=["id", "amount", "status", "updated_at"])
    changed_ids = change.column("id")
    initial = ds.dataset(args.initial, format="parquet").to_table(columns=["id", "amount"])
    initial_ids = initial.column("id")
    expected_rows = len(pc.unique(pa.concat_arrays([initial_ids.combine_chunks(), changed_ids.combine_chunks()])))

    table = DeltaTable(args.table).to_pyarrow_dataset()
    got = table.to_table(columns=["id", "amount"])
    rows = got.num_rows
    distinct = pc.count_distinct(got.column("id")).as_py()
    if rows != expected_rows:
        problems.append(f"{rows} rows, expected {expected_rows}")
    if distinct != rows:
        problems.append(f"{rows - distinct} duplicate ids ({distinct} distinct ids in {rows} rows)")

    # The changed rows hold the change set's values.
    held = table.to_table(
        columns=["id", "amount", "status", "updated_at"], filter=ds.field("id").isin(changed_ids)
    )
    joined = change.join(held, "id", right_suffix="_table")
    if joined.num_rows != change.num_rows:
        problems.append(f"{change.num_rows - joined.num_rows} changed ids missing from the table")
    for c in ["amount", "status", "updated_at"]:
        left = joined.column(c)
        right = joined.column(f"{c}_table")
        if c == "updated_at":
            left = pc.cast(left, pa.timestamp("us", tz="UTC"))
            right = pc.cast(right, pa.timestamp("us", tz="UTC"))
        differ = pc.sum(pc.cast(pc.invert(pc.fill_null(pc.equal(left, right), False)), pa.int64())).as_py() or 0
        if differ:
            problems.append(f"{differ} changed ids hold an old or wrong {c}")
    changed_sum_expected = cents(change.column("amount"))
    changed_sum = cents(held.column("amount"))

    # The unchanged rows hold their initial amounts.
    not_changed = lambda t: t.filter(pc.invert(pc.is_in(t.column("id"), value_set=changed_ids.combine_chunks())))
    unchanged_expected = cents(not_changed(initial).column("amount"))
    unchanged = cents(not_changed(got).column("amount"))
    if unchanged != unchanged_expected:
        problems.append(f"unchanged rows' amount sums to {unchanged} cents, expected {unchanged_expected}")

    print(
        json.dumps(
            {
                "rows": rows,
                "expected_rows": expected_rows,
                "changed_amount_cents": changed_sum,
                "changed_amount_cents_expected": changed_sum_expected,
                "problems": problems,
            }
        )
    )
    if problems:
        sys.exit(f"{args.table}: " + "; ".join(problems))


if __name__ == "__main__":
    main()
