//! What Headwater's end-to-end tests share, so that each test reads as the
//! scenario it checks: the guest components this crate's build script builds
//! (see build.rs), a fresh folder and `HEADWATER_HOME` per test driving the
//! real `headwater` binary, Parquet read back as rows, and real S3 (moto) and
//! SFTP (OpenSSH) servers on 127.0.0.1.
//!
//! The binary is not found here but handed in: `Env::new(env!("CARGO_BIN_EXE_headwater"))`
//! only compiles in the `headwater` package's own tests, and there cargo
//! rebuilds the binary before it runs them.

pub mod examples;
pub mod faultfs;
pub mod s3;
pub mod sftp;

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The components build.rs built, as `pub const REST: &str = "…/rest.wasm"` and so on,
/// [`COMPONENTS`] and `foreach_component!`.
mod built {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}
pub use built::*;

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("tests/kit sits in the repository")
}

/// The built component named `name` (its package name: `rest`, `other-world`).
pub fn component(name: &str) -> PathBuf {
    let (_, path) = COMPONENTS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| {
        let names: Vec<_> = COMPONENTS.iter().map(|(n, _)| *n).collect();
        panic!("no component `{name}`: the guests are {names:?}")
    });
    PathBuf::from(path)
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

    /// Stdout parsed as JSON (the output of `--json`).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A test's own folder, `HEADWATER_HOME` and environment.
pub struct Env {
    pub dir: tempfile::TempDir,
    bin: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    /// A fresh environment that runs the `headwater` binary at `bin`.
    pub fn new(bin: impl Into<PathBuf>) -> Env {
        let bin = bin.into();
        assert!(bin.exists(), "{} is missing", bin.display());
        Env { dir: tempfile::tempdir().expect("a temp dir"), bin, vars: Vec::new() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `contents` to `rel`, creating its folders.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("a file has a folder")).expect("creating the folder");
        std::fs::write(&path, contents).expect("writing the file");
        path
    }

    /// Sets an environment variable for every later `headwater` call.
    pub fn var(&mut self, key: &str, value: &str) {
        self.vars.push((key.into(), value.into()));
    }

    /// Runs `headwater args…` in the test's folder, with its own `HEADWATER_HOME` and no `RUST_LOG`.
    pub fn headwater(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("headwater runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts `headwater args…` as [`Env::headwater`] runs it, without waiting
    /// (for tests that kill it), its output discarded.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("headwater starts")
    }

    /// The command [`Env::headwater`] runs, for a test to add to (a fault to inject).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("HEADWATER_HOME", self.path("home"))
            .env_remove("RUST_LOG")
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Installs a built component under `name`.
    pub fn install(&self, name: &str) {
        let file = component(name);
        self.headwater(&["connector", "install", file.to_str().expect("a UTF-8 path"), "--name", name]).ok();
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
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .and_then(|r| r.collect::<Result<Vec<_>, _>>().map_err(Into::into))
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Batches as JSON rows (timestamps as RFC 3339 text).
pub fn rows_of(batches: &[RecordBatch]) -> Vec<Map<String, Value>> {
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for b in batches {
        writer.write(b).expect("a batch converts to JSON");
    }
    writer.finish().expect("the JSON array closes");
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice(&bytes).expect("arrow writes JSON")
}

/// Asserts that the sink's rows are exactly the orders `expected`, each once,
/// field by field.
#[track_caller]
pub fn assert_same_orders(sink: &[Map<String, Value>], expected: &[Value]) {
    let mut by_id: std::collections::BTreeMap<i64, &Map<String, Value>> = std::collections::BTreeMap::new();
    for row in sink {
        let id = row["id"].as_i64().expect("id is an integer");
        assert!(by_id.insert(id, row).is_none(), "order {id} landed more than once");
    }
    assert_eq!(by_id.len(), expected.len(), "sink has {} orders, source has {}", by_id.len(), expected.len());
    for e in expected {
        let id = e["id"].as_i64().expect("an order has an integer id");
        let row = by_id.get(&id).unwrap_or_else(|| panic!("order {id} is missing from the sink"));
        assert_eq!(row["customer"], e["customer"], "order {id}: customer");
        assert_eq!(row["amount"].as_f64(), e["amount"].as_f64(), "order {id}: amount");
        // Inferred timestamps land without a zone (UTC values); declared ones with `Z` or `+00:00`.
        let landed = row["updated_at"].as_str().unwrap_or_else(|| panic!("order {id}: updated_at is not text"));
        let mut landed = landed.replace(".000000", "").replace("+00:00", "Z");
        if !landed.ends_with('Z') {
            landed.push('Z');
        }
        assert_eq!(Some(landed.as_str()), e["updated_at"].as_str(), "order {id}: updated_at");
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
