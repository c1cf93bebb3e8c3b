//! Benchmark 4, merge by key into Delta: Headwater's merge stream
//! (`write = "merge"`, copy on write with key-bound pruning) against dlt's
//! `filesystem` destination with `table_format="delta"` and the `upsert` merge
//! strategy (delta-rs's MERGE), on the same Parquet files, in the same run.
//!
//! The data: N orders (id 1..=N in id order, customer, amount, status,
//! updated_at) in Parquet files of about 1M rows each, the way an export arrives,
//! and two change sets with newer `updated_at` and new `amount` and `status`:
//! "recent" (90% updates among the newest 1% of ids, 10% new ids past N) and
//! "uniform" (updates spread uniformly over 1..=N). For each tool and each
//! change set, from a fresh table: the initial load of the N rows, then the
//! merge of the change set, each measured as a child process. What each merge
//! rewrote is read from the table's Delta log (peers/delta_commit_stats.py), not
//! from either tool's report, and both tables are checked against the data
//! (peers/verify_merge.py): one row per id, the changed rows' new values, the
//! unchanged rows' amounts. dlt runs in a virtualenv with the versions pinned in
//! tests/bench/peers/requirements.txt, made on first use under target/bench/peers/.

use crate::measure::{self, Measured, Stdout};
use crate::report::{self, mb};
use crate::{Ctx, peers};
use anyhow::{Context, Result, bail, ensure};
use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

#[derive(clap::Args, Debug, Clone)]
pub struct MergeArgs {
    /// Rows in the initial export (ids 1..=N).
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Rows in each change set.
    #[arg(long, default_value_t = 10_000)]
    pub changes: u64,
    /// Rows in each file of the initial export.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows_per_file: u64,
}

impl Default for MergeArgs {
    fn default() -> MergeArgs {
        MergeArgs { rows: 10_000_000, changes: 10_000, rows_per_file: 1_000_000 }
    }
}

const PIPELINE: &str = r#"# Written by headwater-bench (merge).
name = "bench-merge"
[source]
connector = "files"
[source.config]
root = "./data"
glob = "*.parquet"
stream = "orders"
primary_key = ["id"]
cursor_field = "updated_at"
[allow]
files = ["./data"]
[sink]
path = "./lake"
format = "delta"
[streams.orders]
write = "merge"
[state]
path = "./state"
"#;

/// Bump when the generated data changes, so cached inputs are made again.
const DATA_VERSION: u32 = 1;
/// 2024-01-01T00:00:00Z: the initial rows' `updated_at` is this plus one second per id.
const BASE_US: i64 = 1_704_067_200_000_000;
/// 2025-06-01T00:00:00Z: the change sets' `updated_at` is this plus one second per row.
const CHANGED_US: i64 = 1_748_736_000_000_000;
const STATUSES: [&str; 5] = ["placed", "paid", "shipped", "delivered", "cancelled"];
const NEW_STATUSES: [&str; 3] = ["refunded", "returned", "disputed"];

/// The two change sets.
const SETS: [(&str, &str); 2] = [
    ("recent", "90% updates among the newest 1% of ids, 10% new ids past N"),
    ("uniform", "updates to ids spread uniformly over 1..=N"),
];

/// The generated export and change sets (cached under target/bench/merge-input/).
struct Inputs {
    initial: Vec<PathBuf>,
    initial_bytes: u64,
    /// (set name, file, new ids in it).
    changes: Vec<(&'static str, PathBuf, u64)>,
}

/// What one tool did with one change set.
struct Outcome {
    load: Measured,
    merge: Measured,
    /// peers/delta_commit_stats.py's JSON for the merge commit.
    stats: Value,
}

pub fn run(ctx: &Ctx, args: &MergeArgs) -> Result<String> {
    ensure!(
        args.rows > 0 && args.changes > 0 && args.rows_per_file > 0,
        "--rows, --changes and --rows-per-file must be > 0"
    );
    let files = ctx.component("files")?;
    let python = peers::python(ctx)?;
    let versions = versions(&python)?;
    let inputs = inputs(ctx, args)?;
    eprintln!(
        "== merge: {} rows in {} Parquet files ({:.1} MB), change sets of {} rows; {versions}",
        args.rows,
        inputs.initial.len(),
        mb(inputs.initial_bytes),
        args.changes
    );

    let work = ctx.workdir("merge")?;
    let home = work.path().join("home");
    ctx.install(&home, &files, "files")?;
    let peers = peers::dir();
    // dlt's fixed cost in every step: the interpreter starting and importing it.
    let imports = (0..ctx.runs)
        .map(|_| {
            let mut cmd = Command::new(&python);
            cmd.args(["-c", "import dlt, deltalake, pyarrow.parquet"]);
            measure::run("merge-dlt-imports", cmd, work.path(), Stdout::Discard)
        })
        .collect::<Result<Vec<_>>>()?;
    let imports = Measured::best_of(&imports);

    let mut md = String::new();
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    md.push_str(&format!(
        "## Merge by key into Delta: headwater vs dlt {} (deltalake {}, pyarrow {}), {} rows in {} Parquet files \
         ({:.1} MB), change sets of {} rows, {cores} cores\n",
        versions.dlt,
        versions.deltalake,
        versions.pyarrow,
        args.rows,
        inputs.initial.len(),
        mb(inputs.initial_bytes),
        args.changes,
    ));
    for (set, description) in SETS {
        let (_, change, new_ids) = inputs.changes.iter().find(|(s, _, _)| *s == set).expect("every set is generated");
        let (mut hw_runs, mut dlt_runs) = (Vec::new(), Vec::new());
        for run in 1..=ctx.runs {
            eprintln!("   run {run}/{}: {set}: headwater", ctx.runs);
            hw_runs.push(headwater(ctx, &home, work.path(), &python, &inputs, set, change)?);
            eprintln!("   run {run}/{}: {set}: dlt", ctx.runs);
            dlt_runs.push(dlt(work.path(), &python, &peers, &inputs, set, change)?);
        }
        let best = |runs: &[Outcome]| {
            let load = Measured::best_of(&runs.iter().map(|o| o.load.clone()).collect::<Vec<_>>());
            let merge = Measured::best_of(&runs.iter().map(|o| o.merge.clone()).collect::<Vec<_>>());
            (load, merge, runs.last().expect("at least one run").stats.clone())
        };
        let (hw, dl) = (best(&hw_runs), best(&dlt_runs));
        let row = |tool: &str, (load, merge, stats): &(Measured, Measured, Value), ratio: String| {
            let n = |k: &str| stats[k].as_u64().unwrap_or(0);
            vec![
                tool.to_string(),
                format!("{:.2}", load.seconds),
                format!("{:.2}", load.cpu_seconds),
                format!("{:.0}", mb(load.max_rss)),
                format!("{:.2}", merge.seconds),
                format!("{:.2}", merge.cpu_seconds),
                format!("{:.0}", mb(merge.max_rss)),
                ratio,
                format!("{} / {}", n("files_removed"), n("files_before")),
                format!("{:.1}", mb(n("bytes_removed"))),
                format!("{} / {:.1}", n("files_added"), mb(n("bytes_added"))),
                format!("{} / {:.1}", n("files"), mb(n("bytes"))),
                n("rows").to_string(),
            ]
        };
        let ratio = dl.1.seconds / hw.1.seconds;
        md.push_str(&format!("\n### Change set \"{set}\": {} rows, {description} ({new_ids} new)\n\n", args.changes));
        md.push_str(&report::table(
            &[
                "tool",
                "load s",
                "load CPU s",
                "load RSS MB",
                "merge s",
                "merge CPU s",
                "merge RSS MB",
                "merge speed-up",
                "files rewritten / in table",
                "MB rewritten",
                "files / MB written",
                "table files / MB after",
                "rows after",
            ],
            &[row("headwater", &hw, format!("{ratio:.2}")), row("dlt", &dl, "1.00".into())],
        ));
        md.push_str(&format!(
            "\nmerge wall time: dlt {:.2} s ÷ headwater {:.2} s = **{ratio:.2}** (> 1: headwater is faster); \
             initial load: dlt {:.2} s ÷ headwater {:.2} s = {:.2}.\n",
            dl.1.seconds,
            hw.1.seconds,
            dl.0.seconds,
            hw.0.seconds,
            dl.0.seconds / hw.0.seconds
        ));
    }
    md.push_str(
        "\nload: the initial export into an empty table (headwater: a merge stream from the first checkpoint, \
         each checkpoint one merge commit; dlt: its first load writes the table). merge: the change set's file \
         merged into it (one commit for each tool). speed-up: dlt's merge seconds ÷ headwater's. Files and bytes \
         rewritten, written and in the table: from the merge commit in the table's Delta log \
         (tests/bench/peers/delta_commit_stats.py). Both tables are checked after every merge \
         (tests/bench/peers/verify_merge.py: one row per id, the change set's values on its ids, the initial \
         amounts on the others). dlt: pyarrow tables read from the same files (arrow passthrough), loader files \
         in Parquet, default workers, telemetry off.\n",
    );
    md.push_str(&format!(
        "\nOf each dlt step's wall time, {:.2} s ({:.0} MB peak RSS) is Python starting and importing dlt, \
         deltalake and pyarrow (measured alone).\n",
        imports.seconds,
        mb(imports.max_rss)
    ));
    Ok(md)
}

/// Headwater: the initial load, then the change file added to the folder and merged.
fn headwater(
    ctx: &Ctx,
    home: &Path,
    work: &Path,
    python: &Path,
    inputs: &Inputs,
    set: &str,
    change: &Path,
) -> Result<Outcome> {
    let dir = work.join(format!("headwater-{set}"));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    // The connector reads only under a granted root inside the pipeline's folder
    // (symlinks out of it are refused): link the cached files in.
    for f in &inputs.initial {
        crate::link(f, &data.join(f.file_name().expect("a file name")))?;
    }
    std::fs::write(dir.join("bench.toml"), PIPELINE)?;
    let step = |label: &str| -> Result<Measured> {
        let mut cmd = ctx.headwater(home);
        cmd.current_dir(&dir).arg("run").arg("bench.toml").arg("--json");
        measure::run(&format!("merge-{set}-headwater-{label}"), cmd, work, Stdout::Capture)
    };
    let load = step("load")?;
    crate::link(change, &data.join(format!("changes-{set}.parquet")))?;
    let merge = step("merge")?;
    let table = dir.join("lake/orders");
    let stats = commit_stats(python, &table)?;
    verify(python, "headwater", &table, inputs, change)?;
    Ok(Outcome { load, merge, stats })
}

/// dlt: one invocation of peers/dlt_merge.py for the initial files, one for the change file.
fn dlt(work: &Path, python: &Path, peers: &Path, inputs: &Inputs, set: &str, change: &Path) -> Result<Outcome> {
    let dir = work.join(format!("dlt-{set}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let bucket = dir.join("bucket");
    let step = |label: &str, files: &[PathBuf]| -> Result<Measured> {
        let mut cmd = Command::new(python);
        cmd.current_dir(&dir)
            .arg(peers.join("dlt_merge.py"))
            .arg(label)
            .arg("--bucket")
            .arg(&bucket)
            .arg("--pipelines-dir")
            .arg(dir.join("pipelines"))
            .args(files)
            .env("RUNTIME__DLTHUB_TELEMETRY", "false")
            .env("RUNTIME__LOG_LEVEL", "WARNING");
        measure::run(&format!("merge-{set}-dlt-{label}"), cmd, work, Stdout::Capture)
    };
    let load = step("load", &inputs.initial)?;
    let merge = step("merge", &[change.to_path_buf()])?;
    let table = bucket.join("bench/orders");
    let stats = commit_stats(python, &table)?;
    verify(python, "dlt", &table, inputs, change)?;
    Ok(Outcome { load, merge, stats })
}

fn commit_stats(python: &Path, table: &Path) -> Result<Value> {
    let stats = peers::script(python, &[peers::dir().join("delta_commit_stats.py").as_os_str(), table.as_os_str()])?;
    eprintln!("     merge commit: {stats}");
    Ok(stats)
}

/// Fails unless the merged table holds what the initial files and the change set say.
fn verify(python: &Path, tool: &str, table: &Path, inputs: &Inputs, change: &Path) -> Result<()> {
    let verifier = peers::dir().join("verify_merge.py");
    let mut args: Vec<&std::ffi::OsStr> = vec![verifier.as_os_str(), table.as_os_str(), "--initial".as_ref()];
    args.extend(inputs.initial.iter().map(|p| p.as_os_str()));
    args.extend(["--changes".as_ref(), change.as_os_str()]);
    let verdict = peers::script(python, &args).with_context(|| format!("{tool}'s merged table is wrong"))?;
    eprintln!("     {tool}: table verified: {verdict}");
    Ok(())
}

struct Versions {
    dlt: String,
    deltalake: String,
    pyarrow: String,
}

impl std::fmt::Display for Versions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dlt {}, deltalake {}, pyarrow {}", self.dlt, self.deltalake, self.pyarrow)
    }
}

fn versions(python: &Path) -> Result<Versions> {
    let code = "import json, importlib.metadata as m; \
                print(json.dumps({p: m.version(p) for p in ['dlt', 'deltalake', 'pyarrow']}))";
    let v = peers::script(python, &["-c".as_ref(), code.as_ref()])?;
    let get = |k: &str| v[k].as_str().unwrap_or("?").to_string();
    Ok(Versions { dlt: get("dlt"), deltalake: get("deltalake"), pyarrow: get("pyarrow") })
}

/// A 64-bit LCG (Knuth's MMIX constants) with a fixed seed: the change sets are
/// the same in every run and on every machine.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 16
    }

    /// Uniform in `lo..=hi` (the modulo's bias is negligible for these ranges).
    fn within(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// `k` distinct values of `lo..=hi`, sorted.
    fn distinct(&mut self, k: u64, lo: u64, hi: u64) -> Result<Vec<u64>> {
        ensure!(hi >= lo && k <= hi - lo + 1, "cannot draw {k} distinct ids from {lo}..={hi}");
        let mut seen = HashSet::with_capacity(k as usize);
        if k * 4 > hi - lo {
            // A dense draw: a partial Fisher-Yates shuffle of the range.
            let mut all: Vec<u64> = (lo..=hi).collect();
            for i in 0..k as usize {
                let j = i + self.next() as usize % (all.len() - i);
                all.swap(i, j);
            }
            seen.extend(&all[..k as usize]);
        } else {
            while (seen.len() as u64) < k {
                seen.insert(self.within(lo, hi));
            }
        }
        let mut v: Vec<u64> = seen.into_iter().collect();
        v.sort_unstable();
        Ok(v)
    }
}

/// A row's initial values, a function of its id (splitmix64 of it).
fn initial_row(id: u64) -> (String, f64, &'static str, i64) {
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let customer = format!("customer-{:06}", z % 100_000);
    let amount = ((z >> 20) % 1_000_000) as f64 / 100.0;
    let status = STATUSES[((z >> 44) % STATUSES.len() as u64) as usize];
    (customer, amount, status, BASE_US + id as i64 * 1_000_000)
}

/// Column vectors of the orders table, built row by row.
#[derive(Default)]
struct Columns {
    id: Vec<i64>,
    customer: Vec<String>,
    amount: Vec<f64>,
    status: Vec<&'static str>,
    updated_at: Vec<i64>,
}

impl Columns {
    fn push(&mut self, id: u64, (customer, amount, status, updated_at): (String, f64, &'static str, i64)) {
        self.id.push(id as i64);
        self.customer.push(customer);
        self.amount.push(amount);
        self.status.push(status);
        self.updated_at.push(updated_at);
    }

    fn batch(self) -> Result<RecordBatch> {
        Ok(RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(self.id)) as ArrayRef),
            ("customer", Arc::new(StringArray::from(self.customer)) as ArrayRef),
            ("amount", Arc::new(Float64Array::from(self.amount)) as ArrayRef),
            ("status", Arc::new(StringArray::from(self.status)) as ArrayRef),
            ("updated_at", Arc::new(TimestampMicrosecondArray::from(self.updated_at).with_timezone("UTC")) as ArrayRef),
        ])?)
    }
}

/// Writes batches of rows to a Snappy Parquet file (as pyarrow and most exporters write them).
fn write_parquet(path: &Path, batches: impl Iterator<Item = Result<RecordBatch>>) -> Result<()> {
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut writer: Option<ArrowWriter<std::fs::File>> = None;
    let mut file = Some(file);
    for batch in batches {
        let batch = batch?;
        if writer.is_none() {
            writer = Some(ArrowWriter::try_new(file.take().expect("one file"), batch.schema(), Some(props.clone()))?);
        }
        writer.as_mut().expect("made above").write(&batch)?;
    }
    let Some(writer) = writer else { bail!("no rows for {}", path.display()) };
    writer.close()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The export and the change sets: generated once per size and cached.
fn inputs(ctx: &Ctx, args: &MergeArgs) -> Result<Inputs> {
    let dir = ctx.dir.join(format!(
        "merge-input/v{DATA_VERSION}-rows{}-per{}-changes{}",
        args.rows, args.rows_per_file, args.changes
    ));
    let files = args.rows.div_ceil(args.rows_per_file);
    let initial: Vec<PathBuf> = (0..files).map(|f| dir.join(format!("part-{f:05}.parquet"))).collect();
    let recent = dir.join("changes-recent.parquet");
    let uniform = dir.join("changes-uniform.parquet");
    let new_ids = args.changes / 10;
    let done = dir.join("complete");
    if !done.exists() {
        eprintln!("== merge: generating the export and change sets in {}", dir.display());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        const BATCH: u64 = 65_536;
        for (f, path) in initial.iter().enumerate() {
            let first = f as u64 * args.rows_per_file + 1;
            let last = (first + args.rows_per_file - 1).min(args.rows);
            let batches = (first..=last).step_by(BATCH as usize).map(|lo| {
                let mut c = Columns::default();
                for id in lo..=(lo + BATCH - 1).min(last) {
                    c.push(id, initial_row(id));
                }
                c.batch()
            });
            write_parquet(path, batches)?;
        }
        let mut lcg = Lcg(42);
        // (a) recent: updates among the newest 1% of ids, and new ids past N.
        let newest = (args.rows / 100).max(1);
        let mut ids = lcg.distinct(args.changes - new_ids, args.rows - newest + 1, args.rows)?;
        ids.extend(args.rows + 1..=args.rows + new_ids);
        write_changes(&recent, &ids, &mut lcg)?;
        // (b) uniform: updates anywhere.
        let ids = lcg.distinct(args.changes, 1, args.rows)?;
        write_changes(&uniform, &ids, &mut lcg)?;
        std::fs::write(&done, "")?;
    }
    let initial_bytes = initial.iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum();
    Ok(Inputs { initial, initial_bytes, changes: vec![("recent", recent, new_ids), ("uniform", uniform, 0)] })
}

/// A change set: each id's row with a new amount and status and a newer `updated_at`
/// (a new id past N gets a row of its own the same way).
fn write_changes(path: &Path, ids: &[u64], lcg: &mut Lcg) -> Result<()> {
    let mut c = Columns::default();
    for (i, &id) in ids.iter().enumerate() {
        let (customer, _, _, _) = initial_row(id);
        let amount = lcg.within(1, 5_000_000) as f64 / 100.0;
        let status = NEW_STATUSES[(lcg.next() % NEW_STATUSES.len() as u64) as usize];
        c.push(id, (customer, amount, status, CHANGED_US + i as i64 * 1_000_000));
    }
    write_parquet(path, std::iter::once(c.batch()))
}
