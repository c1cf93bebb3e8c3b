//! Batch ingestion with the `files` connector: formats and compression,
//! Hive partitions and pruning, changed files, schema evolution, malformed
//! rows, and an interrupted backfill resumed. Each reads the Parquet back.

use headwater_mock::{orders, orders_csv};
use headwater_testkit::{Env, assert_same_orders};
use serde_json::Value;
use std::io::Write;

fn pipeline(env: &Env, glob: &str, extra_config: &str) {
    env.write(
        "batch.toml",
        format!(
            r#"
name = "batch"
[source]
connector = "files"
[source.config]
root = "./exports"
glob = "{glob}"
stream = "orders"
primary_key = ["id"]
cursor_field = "updated_at"
{extra_config}
[allow]
files = ["./exports"]
[sink]
path = "lake"
"#
        ),
    );
}

const DECLARED: &str = r#"schema = [
  { name = "id", type = "int64", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "float64" },
  { name = "updated_at", type = "timestamp(us, UTC)" },
]"#;

fn env() -> Env {
    crate::env_with("files")
}

fn ndjson(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

/// `bytes` gzip-compressed by the system's `gzip`, a compressor other than the
/// flate2 the host decodes with.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "gzip failed");
    out.stdout
}

/// `bytes` as one zstd frame, compressed in-process (no `zstd` CLI needed).
fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).expect("compressing in memory")
}

/// A Parquet file of `rows` written by arrow-rs (independently of the host's sink).
fn parquet(rows: &[Value]) -> Vec<u8> {
    parquet_with(rows, parquet::basic::Compression::UNCOMPRESSED)
}

/// [`parquet`] with the pages compressed by `codec`.
fn parquet_with(rows: &[Value], codec: parquet::basic::Compression) -> Vec<u8> {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r["id"].as_i64().unwrap()))) as ArrayRef),
        ("customer", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r["customer"].as_str().unwrap())))),
        ("amount", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r["amount"].as_f64().unwrap())))),
        ("updated_at", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r["updated_at"].as_str().unwrap())))),
    ])
    .unwrap();
    let mut out = Vec::new();
    let props = parquet::file::properties::WriterProperties::builder().set_compression(codec).build();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// Real-world issue: Parquet exports use the codec their writer defaults to
/// (pyarrow and Spark: snappy; others gzip, lz4, brotli), and the host was built
/// with zstd alone; `[sink] compression = "snappy"` panicked the encoder thread.
#[test]
fn parquet_of_every_codec_loads_and_the_sink_writes_snappy() {
    use parquet::basic::{BrotliLevel, Compression, GzipLevel};
    let env = env();
    let codecs = [
        Compression::SNAPPY,
        Compression::GZIP(GzipLevel::default()),
        Compression::LZ4,
        Compression::LZ4_RAW,
        Compression::BROTLI(BrotliLevel::default()),
        Compression::ZSTD(Default::default()),
    ];
    for (i, codec) in codecs.iter().enumerate() {
        let first = i as i64 * 100 + 1;
        env.write(&format!("exports/{i}.parquet"), parquet_with(&orders(first..=first + 99), *codec));
    }
    pipeline(&env, "*.parquet", DECLARED);
    let text = std::fs::read_to_string(env.path("batch.toml")).unwrap();
    env.write("batch.toml", text.replace("path = \"lake\"", "path = \"lake\"\ncompression = \"snappy\""));
    let run = env.headwater(&["run", "batch.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 600, "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=600));
    for file in env.parquet_files("lake/orders") {
        let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
        use parquet::file::reader::FileReader;
        let column = reader.metadata().row_group(0).column(0).compression();
        assert_eq!(column, Compression::SNAPPY, "{}", file.display());
    }
}

#[test]
fn every_format_and_compression_lands_every_row() {
    let env = env();
    env.write("exports/a.csv", orders_csv(&orders(1..=100)));
    env.write("exports/b.csv.gz", gzip(orders_csv(&orders(101..=200)).as_bytes()));
    env.write("exports/c.ndjson", ndjson(&orders(201..=300)));
    env.write("exports/d.jsonl.gz", gzip(ndjson(&orders(301..=400)).as_bytes()));
    env.write("exports/e.parquet", parquet(&orders(401..=500)));
    env.write("exports/f.csv.zst", zstd(orders_csv(&orders(501..=600)).as_bytes()));
    env.write("exports/g.ndjson.zst", zstd(ndjson(&orders(601..=700)).as_bytes()));
    pipeline(&env, "*", DECLARED);
    let run = env.headwater(&["run", "batch.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 700, "{run}");
    assert_eq!(run["streams"][0]["files_opened"], 7, "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=700));
}

#[test]
fn hive_partitions_become_columns_and_a_late_file_in_an_old_partition_lands() {
    let env = env();
    env.write("exports/dt=2025-01-01/part.csv", orders_csv(&orders(1..=1440)));
    env.write("exports/dt=2025-01-02/part.csv", orders_csv(&orders(1441..=2880)));
    pipeline(&env, "dt=*/*.csv", DECLARED);
    env.headwater(&["run", "batch.toml"]).ok();
    let rows = env.rows("lake/orders");
    assert_eq!(rows.iter().filter(|r| r["dt"] == "2025-01-01").count(), 1440);
    assert_eq!(rows.iter().filter(|r| r["dt"] == "2025-01-02").count(), 1440);

    // Real-world issue: a late file in the old partition was pruned without a word.
    // A file never loaded always loads; a changed one in an old partition is pruned, saying so.
    env.write("exports/dt=2025-01-01/late.csv", orders_csv(&orders(5000..=5010)));
    env.write("exports/dt=2025-01-03/part.csv", orders_csv(&orders(2881..=2900)));
    let run = env.headwater(&["run", "batch.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["files_opened"], 2, "the late file and dt=2025-01-03: {run}");
    assert_eq!(run["streams"][0]["rows"], 31);
    assert_eq!(env.rows("lake/orders").iter().filter(|r| r["id"] == 5000).count(), 1);

    env.write("exports/dt=2025-01-01/part.csv", orders_csv(&orders(1..=1441)));
    let run = env.headwater(&["run", "batch.toml", "--json"]);
    assert!(
        run.stderr.contains("1 changed file(s)") && run.stderr.contains("dt=2025-01-01/part.csv"),
        "{}",
        run.stderr
    );
    assert_eq!(run.ok().json()["streams"][0]["files_opened"], 0);
}

#[test]
fn a_changed_file_is_reloaded_skipped_or_refused_as_configured() {
    // Reloading lands orders 1 and 3 again; order 2 sits at the watermark with the same
    // key and cursor as the committed row, so the seam recognises it as landed.
    for (mode, outcome) in [("reload", Some(2)), ("skip", Some(0)), ("error", None)] {
        let env = env();
        env.write("exports/a.csv", orders_csv(&orders(1..=2)));
        pipeline(&env, "*.csv", &format!("on_change = \"{mode}\"\n{DECLARED}"));
        env.headwater(&["run", "batch.toml"]).ok();
        env.write("exports/a.csv", orders_csv(&orders(1..=3)));
        match outcome {
            Some(rows) => {
                let run = env.headwater(&["run", "batch.toml", "--json"]).ok().json();
                assert_eq!(run["streams"][0]["rows"], rows, "on_change = {mode}");
            }
            None => {
                env.headwater(&["run", "batch.toml"]).fails(1, &["a.csv changed since it was loaded", "on_change"]);
            }
        }
    }
}

#[test]
fn schema_union_widening_and_conflict() {
    let env = env();
    let t = "2025-01-01T00:00:00Z";
    env.write("exports/1.csv", format!("id,amount,updated_at\n1,5,{t}\n2,6,{t}\n"));
    // A new column, and `amount` widens from integers to decimals.
    env.write("exports/2.csv", format!("id,amount,coupon,updated_at\n3,7.5,X,{t}\n"));
    pipeline(&env, "*.csv", "");
    env.headwater(&["run", "batch.toml"]).ok();
    let state = env.headwater(&["state", "show", "batch.toml", "--json"]).ok().json();
    assert_eq!(state[0]["rows"], 3);
    let rows = env.rows("lake/orders");
    assert_eq!(rows.iter().filter(|r| r.get("coupon").is_some_and(|c| c == "X")).count(), 1);
    // Review T3: the widened column's values and type, not only its presence.
    let mut amounts: Vec<(i64, f64)> =
        rows.iter().map(|r| (r["id"].as_i64().unwrap(), r["amount"].as_f64().unwrap())).collect();
    amounts.sort_by_key(|(id, _)| *id);
    assert_eq!(amounts, [(1, 5.0), (2, 6.0), (3, 7.5)]);
    let types: Vec<String> = env
        .parquet_files("lake/orders")
        .iter()
        .flat_map(|f| headwater_testkit::read_parquet(f))
        .map(|b| b.schema().field_with_name("amount").unwrap().data_type().to_string())
        .collect();
    assert!(types.contains(&"Float64".to_string()), "the file after the widening holds Float64: {types:?}");

    // `id` turns into text: a conflict, named with the column, both types and the file.
    env.write("exports/3.csv", format!("id,amount,updated_at\nabc,1,{t}\n"));
    let run = env.headwater(&["run", "batch.toml"]).fails(1, &["3.csv", "column `id` changed type", "Int64", "Utf8"]);
    assert!(!run.stderr.contains("panicked"));
    assert_eq!(env.rows("lake/orders").len(), 3, "nothing of the conflicting file was committed");
}

#[test]
fn malformed_rows_fail_with_file_and_line_or_are_skipped_and_counted() {
    let env = env();
    let mut csv = orders_csv(&orders(1..=5));
    csv.push_str("6,c6,lots,2025-01-01T00:05:00Z\n");
    csv.push_str(&orders_csv(&orders(7..=8)).lines().skip(1).map(|l| format!("{l}\n")).collect::<String>());
    env.write("exports/a.csv", &csv);
    pipeline(&env, "*.csv", DECLARED);
    env.headwater(&["run", "batch.toml"]).fails(1, &["a.csv:7", "column `amount`", "lots"]);
    assert!(env.parquet_files("lake").is_empty());

    pipeline(&env, "*.csv", &format!("bad_rows = \"skip\"\n{DECLARED}"));
    let run = env.headwater(&["run", "batch.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["bad_rows"], 1, "{run}");
    assert_eq!(run["streams"][0]["rows"], 7);
    let mut expected = orders(1..=5);
    expected.extend(orders(7..=8));
    assert_same_orders(&env.rows("lake/orders"), &expected);
}

/// Review D5 through the binary, in the default `bad_rows = "fail"`: a column
/// inferred as integers from the first 1,000 rows that holds a decimal later
/// failed the whole file; it widens to doubles, and every row lands with its value.
#[test]
fn an_inferred_integer_column_with_a_later_decimal_widens_and_every_row_lands() {
    let env = env();
    let mut csv = String::from("id,amount\n");
    for id in 1..=1500 {
        csv.push_str(&format!("{id},{}\n", id * 10));
    }
    csv.push_str("1501,12.75\n1502,3\n");
    env.write("exports/a.csv", &csv);
    env.write(
        "batch.toml",
        "name = \"batch\"\n[source]\nconnector = \"files\"\nconfig = { root = \"./exports\", glob = \"*.csv\", stream = \"t\" }\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"lake\"\n",
    );
    let run = env.headwater(&["run", "batch.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 1502, "{run}");
    let mut rows: Vec<(i64, f64)> =
        env.rows("lake/t").iter().map(|r| (r["id"].as_i64().unwrap(), r["amount"].as_f64().unwrap())).collect();
    rows.sort_by_key(|r| r.0);
    let mut expected: Vec<(i64, f64)> = (1..=1500).map(|id| (id, (id * 10) as f64)).collect();
    expected.extend([(1501, 12.75), (1502, 3.0)]);
    assert_eq!(rows, expected);
    let file = &env.parquet_files("lake/t")[0];
    let schema = headwater_testkit::read_parquet(file)[0].schema();
    assert_eq!(schema.field_with_name("amount").unwrap().data_type(), &arrow::datatypes::DataType::Float64);
}

/// Zero-padded codes in a CSV export (zip codes, product codes) land as text
/// with their zeros, not as numbers that lost them.
#[test]
fn zero_padded_codes_keep_their_zeros() {
    let env = env();
    env.write("exports/a.csv", "id,zip,sku\n1,02134,0042\n2,10001,0100\n");
    env.write(
        "batch.toml",
        "name = \"batch\"\n[source]\nconnector = \"files\"\nconfig = { root = \"./exports\", glob = \"*.csv\", stream = \"t\" }\n[allow]\nfiles = [\"./exports\"]\n[sink]\npath = \"lake\"\n",
    );
    env.headwater(&["run", "batch.toml"]).ok();
    let mut rows = env.rows("lake/t");
    rows.sort_by_key(|r| r["id"].as_i64());
    let got: Vec<(&Value, &Value)> = rows.iter().map(|r| (&r["zip"], &r["sku"])).collect();
    assert_eq!(got, [(&Value::from("02134"), &Value::from("0042")), (&Value::from("10001"), &Value::from("0100"))]);
}

/// Review N7 through the binary: a `.json` export that is one pretty-printed
/// JSON array (as many tools write them) loads element by element, like NDJSON.
#[test]
fn a_pretty_printed_json_array_export_loads_every_element() {
    let env = env();
    let rows = orders(1..=40);
    env.write("exports/a.json", serde_json::to_string_pretty(&rows).unwrap());
    env.write("exports/b.json", ndjson(&orders(41..=45)));
    pipeline(&env, "*.json", DECLARED);
    let run = env.headwater(&["run", "batch.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 45, "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=45));
}

/// Review D5: in `skip` mode a short row was null-padded silently and landed, and
/// a long one (an unquoted comma) failed the whole file. Both are skipped,
/// counted and logged with their line; the well-formed rows land as they are.
#[test]
fn rows_with_too_few_or_too_many_fields_are_skipped_and_counted() {
    let env = env();
    let mut csv = orders_csv(&orders(1..=3));
    csv.push_str("4,c4\n");
    csv.push_str("5,c5,1,5,2025-01-01T00:05:00Z\n");
    csv.push_str(&orders_csv(&orders(6..=7)).lines().skip(1).map(|l| format!("{l}\n")).collect::<String>());
    env.write("exports/a.csv", &csv);
    pipeline(&env, "*.csv", &format!("bad_rows = \"skip\"\n{DECLARED}"));
    let run = env.headwater(&["run", "batch.toml", "--json", "-v"]).ok();
    let summary = run.json();
    assert_eq!(summary["streams"][0]["bad_rows"], 2, "{summary}");
    assert_eq!(summary["streams"][0]["rows"], 5);
    assert!(run.stderr.contains("a.csv:5: skipped a record of 2 fields where the header has 4"), "{}", run.stderr);
    assert!(run.stderr.contains("a.csv:6: skipped a record of 5 fields"), "{}", run.stderr);
    let mut expected = orders(1..=3);
    expected.extend(orders(6..=7));
    assert_same_orders(&env.rows("lake/orders"), &expected);
}

/// Review D12: a skipped cell was logged raw, and a quoted CSV field holding
/// `\r\nERROR …` forged a log line (tracing escapes ESC, not CR or LF); a
/// megabyte cell was logged whole.
#[test]
fn a_bad_cell_cannot_forge_a_log_line_or_flood_the_log() {
    let env = env();
    let mut csv = orders_csv(&orders(1..=2));
    csv.push_str("3,c3,\"1\r\nERROR forged: all rows lost\",2025-01-01T00:05:00Z\n");
    csv.push_str(&format!("4,c4,{},2025-01-01T00:06:00Z\n", "9x".repeat(500_000)));
    env.write("exports/a.csv", &csv);
    pipeline(&env, "*.csv", &format!("bad_rows = \"skip\"\n{DECLARED}"));
    let run = env.headwater(&["run", "batch.toml", "--json", "-v"]).ok();
    assert_eq!(run.json()["streams"][0]["bad_rows"], 2, "{}", run.stdout);
    assert!(run.stderr.contains("1\\u{d}\\u{a}ERROR forged"), "the cell is shown escaped:\n{}", run.stderr);
    assert!(!run.stderr.lines().any(|l| l.starts_with("ERROR forged")), "a forged line:\n{}", run.stderr);
    assert!(run.stderr.len() < 20_000, "a megabyte cell is cut: {} bytes of log", run.stderr.len());
}

#[test]
fn an_interrupted_backfill_resumes_from_the_files_it_committed() {
    let env = env();
    env.write("exports/1.csv", orders_csv(&orders(1..=100)));
    env.write("exports/2.csv", orders_csv(&orders(101..=200)));
    // The third file is cut short mid-row, as by a crash of the exporter.
    let broken = orders_csv(&orders(201..=300));
    env.write("exports/3.csv", &broken[..broken.len() / 2]);
    env.write("exports/4.csv", orders_csv(&orders(301..=400)));
    pipeline(&env, "*.csv", DECLARED);
    env.headwater(&["run", "batch.toml"]).fails(1, &["3.csv"]);
    let committed = env.rows("lake/orders").len();
    assert_eq!(committed, 200, "files 1 and 2 committed before the failure");

    env.write("exports/3.csv", &broken);
    let run = env.headwater(&["run", "batch.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 200, "only files 3 and 4: {run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=400));
}

#[test]
fn csv_dialect_options_quotes_nulls_and_timestamp_formats() {
    let env = env();
    env.write(
        "exports/a.csv",
        "id;customer;amount;updated_at\n1;'Smith; Ann';NULL;25/01/2025 10:30\n2;'Lee';3.5;26/01/2025 11:00\n",
    );
    let config = format!(
        "csv = {{ delimiter = \";\", quote = \"'\", null_values = [\"NULL\"], timestamp_formats = {{ updated_at = \"%d/%m/%Y %H:%M\" }} }}\n{DECLARED}"
    );
    pipeline(&env, "*.csv", &config);
    env.headwater(&["run", "batch.toml"]).ok();
    let mut rows = env.rows("lake/orders");
    rows.sort_by_key(|r| r["id"].as_i64());
    assert_eq!(rows[0]["customer"], "Smith; Ann");
    assert!(rows[0].get("amount").is_none_or(Value::is_null), "NULL is null: {:?}", rows[0]);
    assert_eq!(rows[1]["amount"], 3.5);
    assert!(rows[0]["updated_at"].as_str().unwrap().starts_with("2025-01-25T10:30:00"), "{:?}", rows[0]);
}
