//! Workloads beyond the declared-schema orders the other benchmarks use, so that
//! the figures say how Headwater stands beside its peers on data the project
//! did not design, and on the shapes real sources take:
//!
//! - (a) the orders CSV with no declared schema: the `files` connector infers the
//!   types, DuckDB sniffs them (files.rs is the declared-schema case);
//! - (b) the events CSV (events.rs: timestamps as text with offsets, decimals,
//!   quoted free text, nulls) with no declared schema, beside DuckDB's `read_csv`,
//!   and (b') with its columns declared to both (the price as a decimal);
//! - (c) the events as NDJSON, with a nested object and a key most rows lack,
//!   beside DuckDB's `read_json`;
//! - (d) many small files: a folder of CSV files of a few hundred events each,
//!   beside DuckDB's `read_csv` over the glob;
//! - (e) a Parquet export written by pyarrow (snappy) re-landed, beside DuckDB's
//!   `read_parquet`;
//! - (f) the API without a declared schema (api.rs with `no_schema`), beside dlt;
//! - (g) start-up (startup.rs): spawn to the API's first request;
//! - (h) one large CSV (about 5 GB of orders), generated for the run and removed
//!   after it: peak RSS stays bounded whatever the file's size.
//! - (i) the hybrid pattern (hybrid.rs): a CSV export backfilled, then the API
//!   from its watermark, in one `headwater run`, beside DuckDB then dlt.
//!
//! Each file workload reads its input with `cat` (the read ceiling), `headwater
//! run` with the `files` connector (no `schema`, but in (b')) and DuckDB's `COPY
//! … TO … (FORMAT parquet, COMPRESSION zstd)` (peers/duckdb_copy.py), checks
//! that both landed every id exactly once, and sets the columns each made of the
//! input side by side: types, null counts (and, for the events, the nulls the
//! generator wrote), and whether both hold the same values. There is no native
//! baseline (b) here: the rows are lettered as in files.rs.

use crate::measure::{self, Measured, Stdout};
use crate::report::{self, mb};
use crate::verify::{self, Column};
use crate::{Ctx, LIMITS_AND_SINK, api, events, hybrid, peers, startup};
use anyhow::{Context, Result, ensure};
use std::path::PathBuf;
use std::process::Command;

#[derive(clap::Args, Debug, Clone)]
pub struct WorkloadsArgs {
    /// Rows of the orders CSV read with inferred types (workload csv-infer).
    #[arg(long, default_value_t = 5_000_000)]
    pub orders_rows: u64,
    /// Events in the events CSV, NDJSON and Parquet files (events-csv, events-csv-declared, events-ndjson, parquet).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Files in the many-small-files workload (small-files).
    #[arg(long, default_value_t = 10_000)]
    pub small_files: u64,
    /// Events in each small file (small-files).
    #[arg(long, default_value_t = 500)]
    pub small_file_rows: u64,
    /// Records the mock API serves in the API workload without a declared schema (api-no-schema).
    #[arg(long, default_value_t = 1_000_000)]
    pub api_records: u64,
    /// Rows of the large orders CSV generated for the memory run and removed after it
    /// (big-csv; 100,000,000 rows is about 4.9 GB).
    #[arg(long, default_value_t = 100_000_000)]
    pub big_rows: u64,
    /// Timed start-ups of each program, whose median is reported (startup).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    pub startup_runs: u32,
    #[command(flatten)]
    pub hybrid: hybrid::HybridArgs,
    /// Only these workloads, comma-separated (default: every one).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Workload>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// (a) the orders CSV, types inferred.
    CsvInfer,
    /// (b) the events CSV, types inferred.
    EventsCsv,
    /// (b') the events CSV, columns declared (decimal price, timestamp).
    EventsCsvDeclared,
    /// (c) the events NDJSON, nested, types inferred.
    EventsNdjson,
    /// (d) many small events CSV files.
    SmallFiles,
    /// (e) a pyarrow Parquet export (snappy) re-landed.
    Parquet,
    /// (f) the API without a declared schema.
    ApiNoSchema,
    /// (g) start-up: spawn to the first request.
    Startup,
    /// (h) one large CSV (about 5 GB), generated for the run: memory stays bounded.
    BigCsv,
    /// (i) the hybrid pattern: a CSV export backfilled, then the API from its watermark.
    Hybrid,
}

/// Runs the chosen workloads in order; one Markdown section each.
pub fn run(ctx: &Ctx, args: &WorkloadsArgs) -> Result<Vec<String>> {
    use Workload::*;
    let chosen = |w: Workload| args.only.is_empty() || args.only.contains(&w);
    let mut sections = Vec::new();
    if chosen(CsvInfer) {
        let csv = crate::files::csv_file(ctx, args.orders_rows)?;
        sections.push(file_workload(
            ctx,
            &FileWorkload {
                key: "csv-infer",
                title: format!("CSV, types inferred: {} orders in one file", args.orders_rows),
                inputs: vec![csv],
                format: Format::Csv,
                rows: args.orders_rows,
                id: "id",
                layout: None,
                declared: None,
            },
        )?);
    }
    if chosen(EventsCsv) {
        sections.push(file_workload(
            ctx,
            &FileWorkload {
                key: "events-csv",
                title: format!("Events CSV, types inferred: {} events in one file", args.events),
                inputs: vec![events::csv_file(ctx, args.events)?],
                format: Format::Csv,
                rows: args.events,
                id: "event_id",
                layout: Some(events::Layout::Flat),
                declared: None,
            },
        )?);
    }
    if chosen(EventsCsvDeclared) {
        sections.push(file_workload(
            ctx,
            &FileWorkload {
                key: "events-csv-declared",
                title: format!("Events CSV, columns declared: {} events in one file", args.events),
                inputs: vec![events::csv_file(ctx, args.events)?],
                format: Format::Csv,
                rows: args.events,
                id: "event_id",
                layout: Some(events::Layout::Flat),
                declared: Some(&events::CSV_SCHEMA),
            },
        )?);
    }
    if chosen(EventsNdjson) {
        sections.push(file_workload(
            ctx,
            &FileWorkload {
                key: "events-ndjson",
                title: format!("Events NDJSON, nested, types inferred: {} events in one file", args.events),
                inputs: vec![events::ndjson_file(ctx, args.events)?],
                format: Format::Ndjson,
                rows: args.events,
                id: "event_id",
                layout: Some(events::Layout::Nested),
                declared: None,
            },
        )?);
    }
    if chosen(SmallFiles) {
        let rows = args.small_files * args.small_file_rows;
        sections.push(file_workload(
            ctx,
            &FileWorkload {
                key: "small-files",
                title: format!(
                    "Many small files: {} events CSV files of {} events ({rows} events), types inferred",
                    args.small_files, args.small_file_rows
                ),
                inputs: events::small_csv_files(ctx, args.small_files, args.small_file_rows)?,
                format: Format::Csv,
                rows,
                id: "event_id",
                layout: Some(events::Layout::Flat),
                declared: None,
            },
        )?);
    }
    if chosen(Parquet) {
        let python = peers::python(ctx)?;
        sections.push(file_workload(
            ctx,
            &FileWorkload {
                key: "parquet",
                title: format!(
                    "Parquet re-land: {} events (nested) exported by pyarrow with snappy, to zstd",
                    args.events
                ),
                inputs: vec![events::parquet_file(ctx, &python, args.events)?],
                format: Format::Parquet,
                rows: args.events,
                id: "event_id",
                layout: Some(events::Layout::Nested),
                declared: None,
            },
        )?);
    }
    if chosen(ApiNoSchema) {
        let api = api::ApiArgs { records: args.api_records, page: 1000, no_schema: true };
        sections.push(api::run(ctx, &api)?);
    }
    if chosen(Startup) {
        sections.push(startup::run(ctx, args.startup_runs)?);
    }
    if chosen(BigCsv) {
        let csv = crate::files::csv_file(ctx, args.big_rows)?;
        let section = file_workload(
            ctx,
            &FileWorkload {
                key: "big-csv",
                title: format!("One large CSV, types inferred: {} orders, generated for this run", args.big_rows),
                inputs: vec![csv.clone()],
                format: Format::Csv,
                rows: args.big_rows,
                id: "id",
                layout: None,
                declared: None,
            },
        );
        // Too large to keep among the cached inputs.
        let _ = std::fs::remove_file(&csv);
        sections.push(section?);
    }
    if chosen(Hybrid) {
        sections.push(hybrid::run(ctx, &args.hybrid)?);
    }
    Ok(sections)
}

/// An input format, as the `files` connector and DuckDB name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Ndjson,
    Parquet,
}

impl Format {
    /// duckdb_copy.py's `--format`, and the input files' extension.
    fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
        }
    }

    /// The input's name in the table's header and rows.
    fn label(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Ndjson => "NDJSON",
            Format::Parquet => "Parquet",
        }
    }

    /// DuckDB's reader of it.
    fn duckdb_reader(self) -> &'static str {
        match self {
            Format::Csv => "read_csv",
            Format::Ndjson => "read_json",
            Format::Parquet => "read_parquet",
        }
    }
}

/// One file workload: inputs landed by headwater and by DuckDB.
struct FileWorkload {
    /// Names the work folder and the measured programs' logs.
    key: &'static str,
    /// The section's heading.
    title: String,
    /// The cached input files, linked into the pipeline's `data/` folder.
    inputs: Vec<PathBuf>,
    format: Format,
    /// Rows over every input: ids 1..=rows.
    rows: u64,
    /// The int64 id column, checked for every id exactly once.
    id: &'static str,
    /// The events' layout (for the nulls each column should hold); `None` for the orders.
    layout: Option<events::Layout>,
    /// Columns declared to both programs: (name, headwater type, DuckDB type);
    /// `None`: both infer them.
    declared: Option<&'static [(&'static str, &'static str, &'static str)]>,
}

fn file_workload(ctx: &Ctx, w: &FileWorkload) -> Result<String> {
    let files_wasm = ctx.component("files")?;
    let python = peers::python(ctx)?;
    let versions = peers::versions(&python, &["duckdb"])?;
    let work = ctx.workdir(w.key)?;
    let home = work.path().join("home");
    ctx.install(&home, &files_wasm, "files")?;
    // The connector reads only under a root granted inside the pipeline's folder,
    // and refuses symlinks out of it: link the cached inputs in.
    let data = work.path().join("data");
    std::fs::create_dir_all(&data)?;
    let mut names = Vec::with_capacity(w.inputs.len());
    let mut input_bytes = 0;
    for input in &w.inputs {
        let name = input.file_name().context("an input without a file name")?;
        let linked = data.join(name);
        crate::link(input, &linked)?;
        input_bytes += std::fs::metadata(&linked)?.len();
        names.push(name.to_owned());
    }
    let glob = format!("*.{}", w.format.name());
    eprintln!(
        "== workload {}: {} {} file(s), {} rows, {:.1} MB",
        w.key,
        w.inputs.len(),
        w.format.label(),
        w.rows,
        mb(input_bytes)
    );
    let schema = if w.declared.is_some() { "declared schema" } else { "no schema" };
    let pipeline = work.path().join("pipeline.toml");
    std::fs::write(&pipeline, pipeline_toml(w.key, &glob, w.declared))?;
    let duckdb_out = work.path().join("duckdb.parquet");
    let duckdb_copy = peers::dir().join("duckdb_copy.py");
    let lake = work.path().join("lake");

    let (mut a, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=ctx.runs {
        eprintln!("   run {run}/{}: (a) cat > /dev/null", ctx.runs);
        a.push(measure::cat(&format!("{}-a-cat", w.key), &names, &data, work.path())?);

        eprintln!("   run {run}/{}: (c) headwater run (files, {schema})", ctx.runs);
        c.push(ctx.run_headwater(&format!("{}-c-headwater", w.key), &home, work.path(), &pipeline)?);

        eprintln!("   run {run}/{}: (d) DuckDB COPY {} → parquet", ctx.runs, w.format.duckdb_reader());
        let _ = std::fs::remove_file(&duckdb_out);
        let mut cmd = Command::new(&python);
        cmd.arg(&duckdb_copy).arg(data.join(&glob)).arg(&duckdb_out).args(["--format", w.format.name()]);
        if let Some(columns) = w.declared {
            let types: Vec<[&str; 2]> = columns.iter().map(|(name, _, ty)| [*name, *ty]).collect();
            cmd.arg("--columns").arg(serde_json::to_string(&types)?);
        }
        d.push(measure::run(&format!("{}-d-duckdb", w.key), cmd, work.path(), Stdout::Capture)?);
    }
    let (a, c, d) = (Measured::best_of(&a), Measured::best_of(&c), Measured::best_of(&d));

    let (c_size, summary) = verify::headwater_landed(&lake, &c.stdout, w.id, w.rows).context("(c) headwater")?;
    let duckdb = peers::last_json(&d.stdout).context("duckdb_copy.py's summary")?;
    ensure!(duckdb["rows"] == w.rows, "DuckDB's COPY reports {} rows, expected {}", duckdb["rows"], w.rows);
    let (_, d_size) = verify::ids_exactly_once(&duckdb_out, w.id, w.rows).context("(d) DuckDB")?;
    eprintln!("   verified: (c) and (d) hold {} 1..={} exactly once", w.id, w.rows);

    let unit = w.format.label();
    let mut md = format!("## {}: {:.1} MB of {unit}\n\n", w.title, mb(input_bytes));
    let row = |name: &str, m: &Measured, out: Option<u64>| report::row(name, m, w.rows, input_bytes, out);
    md.push_str(&report::table(
        &["program", "seconds", "rows/s", &format!("{unit} MB/s"), "peak RSS MB", "CPU s", "Parquet MB"],
        &[
            row("(a) cat > /dev/null (read ceiling)", &a, None),
            row(&format!("(c) headwater run, files, {schema}"), &c, Some(c_size)),
            row(&format!("(d) peer: DuckDB COPY {} → parquet", w.format.duckdb_reader()), &d, Some(d_size)),
        ],
    ));
    md.push_str(&format!(
        "\nheadwater/DuckDB: throughput (c/d) {:.2}, rows per CPU-second {:.2}, peak RSS {:.2}; \
         headwater/read ceiling (c/a) {:.3}\n\n",
        d.seconds / c.seconds,
        d.cpu_seconds / c.cpu_seconds,
        c.max_rss as f64 / d.max_rss as f64,
        a.seconds / c.seconds,
    ));
    md.push_str(&format!(
        "- (c) wrote {} Parquet file(s) in {} checkpoint(s) from {} input file(s); (d) wrote one file\n",
        summary["streams"][0]["files"], summary["streams"][0]["checkpoints"], summary["streams"][0]["files_opened"]
    ));
    md.push_str(&peers::note(&versions, "d", &c, &d, &duckdb));
    md.push_str(&format!(
        "- every peak RSS includes the launcher's floor of at most {:.1} MB (see measure.rs)\n\n",
        mb([&a, &c, &d].iter().map(|m| m.launcher_rss).max().unwrap_or(0))
    ));
    md.push_str(&columns_side_by_side(&verify::columns(&lake)?, &verify::columns(&duckdb_out)?, w));
    Ok(md)
}

/// What headwater (c) and DuckDB (d) made of the input's columns: each one's
/// type and nulls, beside the nulls the generator wrote (events), and whether
/// the two hold the same values; the columns where they differ are named below.
fn columns_side_by_side(headwater: &[Column], duckdb: &[Column], w: &FileWorkload) -> String {
    let mut names: Vec<&str> = headwater.iter().map(|c| c.name.as_str()).collect();
    names.extend(duckdb.iter().map(|c| c.name.as_str()).filter(|n| !headwater.iter().any(|c| c.name == *n)));
    let find = |cols: &[Column], name: &str| cols.iter().find(|c| c.name == name).cloned();
    let mut rows = Vec::new();
    let mut differ = Vec::new();
    let mut differ_values = Vec::new();
    for name in names {
        let expected = w.layout.and_then(|l| events::expected_nulls(name, w.rows, l));
        let (h, d) = (find(headwater, name), find(duckdb, name));
        for (who, col) in [("headwater", &h), ("DuckDB", &d)] {
            if let (Some(e), Some(col)) = (expected, col)
                && col.nulls != e
            {
                differ.push(format!("{who}'s `{name}` holds {} nulls where the input has {e}", col.nulls));
            }
        }
        let cells = |col: &Option<Column>| match col {
            Some(c) => [format!("`{}`", c.data_type), c.nulls.to_string()],
            None => ["(absent)".into(), "-".into()],
        };
        let values = match (&h, &d) {
            (Some(h), Some(d)) if h.fingerprint == d.fingerprint => "same",
            (Some(h), Some(d)) if h.data_type != d.data_type => {
                differ_values.push(format!("`{name}` (types differ)"));
                "differ (type)"
            }
            (Some(_), Some(_)) => {
                differ_values.push(format!("`{name}`"));
                "differ"
            }
            _ => "-",
        };
        let [ht, hn] = cells(&h);
        let [dt, dn] = cells(&d);
        rows.push(vec![
            format!("`{name}`"),
            expected.map_or("-".into(), |e| e.to_string()),
            ht,
            hn,
            dt,
            dn,
            values.into(),
        ]);
    }
    let mut md = String::from(
        "Columns as landed (Arrow types as the Parquet reader gives them; values: whether both hold the same \
         values, as Arrow displays them, in any order):\n\n",
    );
    md.push_str(&report::table(
        &["column", "input nulls", "headwater type", "nulls", "DuckDB type", "nulls", "values"],
        &rows,
    ));
    if !differ_values.is_empty() {
        md.push_str(&format!("\nValues that differ between headwater and DuckDB: {}\n", differ_values.join(", ")));
    }
    if !differ.is_empty() {
        md.push_str(&format!("\nNulls that differ from the input: {}\n", differ.join("; ")));
    }
    md
}

/// The `files` connector on `./data`, zstd Parquet, with the `declared`
/// columns as its `schema` (none: inferred).
fn pipeline_toml(key: &str, glob: &str, declared: Option<&[(&str, &str, &str)]>) -> String {
    let schema = declared.map_or_else(String::new, |columns| {
        let lines: Vec<String> =
            columns.iter().map(|(name, ty, _)| format!("  {{ name = \"{name}\", type = \"{ty}\" }},\n")).collect();
        format!("schema = [\n{}]\n", lines.concat())
    });
    format!(
        r#"# Written by headwater-bench (workloads: {key}).
name = "bench-{key}"
[source]
connector = "files"
[source.config]
root = "./data"
glob = "{glob}"
stream = "rows"
{schema}[allow]
files = ["./data"]
{LIMITS_AND_SINK}"#
    )
}
