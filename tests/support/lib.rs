//! Shared by the end-to-end tests: a fresh folder and `HEADWATER_HOME` per test,
//! the real `headwater` binary, the real components built for wasm32-wasip2, a
//! mock JSON API on 127.0.0.1, and Parquet read back as rows.

pub mod api;
pub mod s3;
pub mod sftp;

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// The `headwater` binary the tests drive (built by `just test` before the tests).
pub fn bin() -> PathBuf {
    let path =
        std::env::var_os("HEADWATER_BIN").map(PathBuf::from).unwrap_or_else(|| root().join("target/debug/headwater"));
    assert!(path.exists(), "{} is missing: run the tests with `just test`, which builds it", path.display());
    path
}

/// A component built for wasm32-wasip2 from connectors/ or tests/components/.
pub fn component(name: &str) -> PathBuf {
    let path = root().join("target/wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `just test`, which builds the components",
        path.display()
    );
    path
}

/// What one `headwater` invocation did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "headwater failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Asserts the exit code and that stderr mentions every `needle`.
    #[track_caller]
    pub fn fails(self, code: i32, needles: &[&str]) -> Self {
        assert_eq!(self.code, code, "expected exit {code}:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "stderr does not mention `{n}`:\n{}", self.stderr);
        }
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A test's own folder, `HEADWATER_HOME` and environment.
pub struct Env {
    pub dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Env {
        Env { dir: tempfile::tempdir().expect("a temp dir"), vars: Vec::new() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Sets an environment variable for every later `headwater` call.
    pub fn var(&mut self, key: &str, value: &str) {
        self.vars.push((key.into(), value.into()));
    }

    pub fn headwater(&self, args: &[&str]) -> Run {
        let out = Command::new(bin())
            .args(args)
            .current_dir(self.dir.path())
            .env("HEADWATER_HOME", self.path("home"))
            .env_remove("RUST_LOG")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("headwater runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Installs a built component under `name`.
    pub fn install(&self, name: &str) {
        let file = component(name);
        self.headwater(&["connector", "install", file.to_str().unwrap(), "--name", name]).ok();
    }

    /// Every Parquet file under `rel`, sorted.
    pub fn parquet_files(&self, rel: &str) -> Vec<PathBuf> {
        parquet_files(&self.path(rel))
    }

    /// Every row of every Parquet file under `rel`, as JSON objects.
    pub fn rows(&self, rel: &str) -> Vec<Map<String, Value>> {
        self.parquet_files(rel).iter().flat_map(|f| rows_of(&read_parquet(f))).collect()
    }

    /// Whether anything at all was written under `rel`.
    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }
}

pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().collect::<Result<Vec<_>, _>>().unwrap()
}

/// Batches as JSON rows (timestamps as RFC 3339 text).
pub fn rows_of(batches: &[RecordBatch]) -> Vec<Map<String, Value>> {
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for b in batches {
        writer.write(b).unwrap();
    }
    writer.finish().unwrap();
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice(&bytes).unwrap()
}

/// Orders as a source dataset: id, customer, amount, updated_at (one a minute from 2025-01-01).
pub fn orders(ids: std::ops::RangeInclusive<i64>) -> Vec<Value> {
    ids.map(order).collect()
}

pub fn order(id: i64) -> Value {
    let minutes = id - 1;
    let (d, h, m) = (1 + minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    serde_json::json!({
        "id": id,
        "customer": format!("c{}", id % 37),
        "amount": (id * 37 % 10_000) as f64 / 100.0,
        "updated_at": format!("2025-01-{d:02}T{h:02}:{m:02}:00Z"),
    })
}

/// The rows of `orders` as CSV text with a header.
pub fn orders_csv(rows: &[Value]) -> String {
    let mut csv = String::from("id,customer,amount,updated_at\n");
    for r in rows {
        csv.push_str(&format!(
            "{},{},{},{}\n",
            r["id"],
            r["customer"].as_str().unwrap(),
            r["amount"],
            r["updated_at"].as_str().unwrap()
        ));
    }
    csv
}

/// Asserts that the sink's rows are exactly `expected`, each once, field by field.
#[track_caller]
pub fn assert_same_orders(sink: &[Map<String, Value>], expected: &[Value]) {
    let mut by_id: std::collections::BTreeMap<i64, &Map<String, Value>> = std::collections::BTreeMap::new();
    for row in sink {
        let id = row["id"].as_i64().expect("id is an integer");
        assert!(by_id.insert(id, row).is_none(), "order {id} landed more than once");
    }
    assert_eq!(by_id.len(), expected.len(), "sink has {} orders, source has {}", by_id.len(), expected.len());
    for e in expected {
        let id = e["id"].as_i64().unwrap();
        let row = by_id.get(&id).unwrap_or_else(|| panic!("order {id} is missing from the sink"));
        assert_eq!(row["customer"], e["customer"], "order {id}: customer");
        assert_eq!(row["amount"].as_f64(), e["amount"].as_f64(), "order {id}: amount");
        // Inferred timestamps land without a zone (UTC values); declared ones with `Z` or `+00:00`.
        let mut landed = row["updated_at"].as_str().unwrap().replace(".000000", "").replace("+00:00", "Z");
        if !landed.ends_with('Z') {
            landed.push('Z');
        }
        assert_eq!(landed, e["updated_at"].as_str().unwrap(), "order {id}: updated_at");
    }
}

/// Every `.parquet` file under `path` (or `path` itself), sorted.
pub fn parquet_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}
