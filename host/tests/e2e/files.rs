//! The `files` connector over folders of CSV exports.

use headwater_mock::{orders, orders_csv};
use headwater_testkit::assert_same_orders;

const PIPELINE: &str = r#"
name = "exports"
[source]
connector = "files"
[source.config]
root = "./exports"
glob = "orders/**/*.csv"
stream = "orders"
primary_key = ["id"]
cursor_field = "updated_at"
schema = [
  { name = "id", type = "int64", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "float64" },
  { name = "updated_at", type = "timestamp(us, UTC)" },
]
[allow]
files = ["./exports"]
[sink]
path = "lake"
"#;

#[test]
fn loads_every_csv_and_a_rerun_loads_only_the_new_file() {
    let env = crate::env_with("files");
    env.write("exports/orders/dt=2025-01-01/a.csv", orders_csv(&orders(1..=1000)));
    env.write("exports/orders/dt=2025-01-02/b.csv", orders_csv(&orders(1001..=2000)));
    env.write("exports/orders/dt=2025-01-03/c.csv", orders_csv(&orders(2001..=2500)));
    env.write("exports/orders/readme.txt", "not a csv");
    env.write("pipeline.toml", PIPELINE);

    let run = env.headwater(&["run", "pipeline.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 2500);
    assert_eq!(run["streams"][0]["checkpoints"], 3, "one checkpoint per file");
    assert_eq!(run["streams"][0]["watermark"], "2025-01-02T17:39:00Z");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=2500));

    env.write("exports/orders/dt=2025-01-03/d.csv", orders_csv(&orders(2501..=2600)));
    let run = env.headwater(&["run", "pipeline.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 100, "only the new file: {run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=2600));

    // Nothing new: nothing loaded, nothing written.
    let files_before = env.parquet_files("lake").len();
    let run = env.headwater(&["run", "pipeline.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 0);
    assert_eq!(env.parquet_files("lake").len(), files_before);
}

#[test]
fn infers_column_types_when_none_are_declared() {
    let env = crate::env_with("files");
    env.write("exports/orders/a.csv", orders_csv(&orders(1..=50)));
    let pipeline = PIPELINE
        .lines()
        .filter(|l| !(l.starts_with("schema") || l.starts_with("  {") || l.starts_with(']')))
        .collect::<Vec<_>>()
        .join("\n");
    env.write("pipeline.toml", pipeline);
    env.headwater(&["run", "pipeline.toml"]).ok();
    let files = env.parquet_files("lake/orders");
    let batches = headwater_testkit::read_parquet(&files[0]);
    let schema = batches[0].schema();
    use arrow::datatypes::DataType;
    assert_eq!(schema.field_with_name("id").unwrap().data_type(), &DataType::Int64);
    assert_eq!(schema.field_with_name("amount").unwrap().data_type(), &DataType::Float64);
    assert!(matches!(schema.field_with_name("updated_at").unwrap().data_type(), DataType::Timestamp(..)));
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 50);
}

#[test]
fn a_value_that_does_not_fit_its_declared_type_fails_naming_file_and_column() {
    let env = crate::env_with("files");
    env.write("exports/orders/a.csv", orders_csv(&orders(1..=3)));
    env.write("exports/orders/b.csv", "id,customer,amount,updated_at\n4,c4,not-a-number,2025-01-01T00:04:00Z\n");
    env.write("pipeline.toml", PIPELINE);
    env.headwater(&["run", "pipeline.toml"]).fails(1, &["column `amount`", "not-a-number"]);
    // a.csv committed at its own checkpoint; nothing of b.csv did.
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=3));
}

/// Exports that are themselves hostile: a gzip file that expands a
/// thousandfold into one endless line, and Parquet files whose footer lies. Each
/// fails naming the file and the limit, with the host alive, and what was
/// committed before it (one checkpoint per file) stays.
#[test]
fn hostile_exports_fail_naming_the_file_and_keep_what_was_committed() {
    use std::io::Write as _;
    let bomb = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(b"id,customer,amount,updated_at\n1,").unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..64 {
            gz.write_all(&chunk).unwrap();
        }
        gz.finish().unwrap()
    };
    assert!(bomb.len() < 256 << 10, "the attack is small: {} bytes", bomb.len());
    let forged_footer = [&b"PAR1"[..], &[0u8; 64], &0xFFFF_FFF0u32.to_le_bytes(), b"PAR1"].concat();
    let cases: [(&str, Vec<u8>, &[&str]); 3] = [
        ("z.csv.gz", bomb, &["z.csv.gz", "max_record_mb = 1"]),
        ("z.parquet", forged_footer, &["z.parquet"]),
        ("z.parquet", b"PAR1 cut short".to_vec(), &["z.parquet"]),
    ];
    for (name, bytes, needles) in cases {
        let env = crate::env_with("files");
        env.write("exports/orders/a.csv", orders_csv(&orders(1..=300)));
        env.write(&format!("exports/orders/{name}"), bytes);
        let pipeline =
            PIPELINE.replace("orders/**/*.csv", "orders/*").replace("[sink]", "[limits]\nmax_record_mb = 1\n[sink]");
        env.write("pipeline.toml", pipeline);
        let run = env.headwater(&["run", "pipeline.toml"]).fails(1, needles);
        assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
        assert_same_orders(&env.rows("lake/orders"), &orders(1..=300));
    }
}
