//! Entry points for the fuzz targets in `fuzz/` (`just fuzz`), behind the
//! `fuzzing` feature and hidden from the docs: not an API.
//!
//! The parsers of hostile input — the pipeline file, and the bytes a connector
//! hands over (Arrow IPC, JSON rows, API pages and their records pointer) — are
//! private to the crate, and a fuzz target is another crate. This module is the
//! one door: each function is a thin call of the host's own entry point, with the
//! host's default `[limits]`, on a stack the size a host call gets, so a fuzz
//! target exercises the code a run executes rather than a copy of it. Besides
//! "never panics", a few functions check what the code promises (a pointer finds
//! what RFC 6901 says; no batch past the cell limit is ever built) and panic
//! when it does not, so that libFuzzer reports it as a crash.

use crate::config::{Limits, Pipeline};
use crate::stream::{self, Intake, leaf_columns};
use arrow::array::{Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use serde_json::Value;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, OnceLock};

/// libFuzzer's panic hook aborts at any panic, even one the host catches and turns
/// into the stream's error, as it does where a decoder it cannot fix panics on
/// malformed input (arrow-ipc: `stream::ipc_rows`, an export's embedded Arrow
/// schema). The default hook is put back, so that a caught panic is what it is in
/// a run, an error, and the fuzzer goes on; a panic the host does not catch still
/// ends in libfuzzer-sys's own `catch_unwind`, which aborts and reports the input.
pub fn panics_the_host_catches_are_not_crashes() {
    let _ = std::panic::take_hook();
    // The default hook prints each one: the first few say what panics, and the rest
    // would fill the log (arrow-ipc panics on a tenth of the inputs; 440 MB in 120 s).
    let default = std::panic::take_hook();
    let shown = std::sync::atomic::AtomicU32::new(0);
    std::panic::set_hook(Box::new(move |info| {
        if shown.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 20 {
            default(info);
        }
    }));
}

/// The intake bounds of a pipeline file without `[limits]` (what a run uses by default).
fn intake() -> Intake {
    static INTAKE: OnceLock<Intake> = OnceLock::new();
    *INTAKE.get_or_init(|| Intake::of(&Limits::default()))
}

/// The stack a host function has: connector calls are async, so the guest and
/// the host functions it calls share one wasmtime fiber, whose default size is
/// 2 MiB, of which wasm itself may use up to `max_wasm_stack` (512 KiB by default).
pub const HOST_CALL_STACK: usize = 2048 * 1024 - 512 * 1024;

/// The stack of the CLI's main thread, where the pipeline file is read (Linux's default).
pub const MAIN_STACK: usize = 8 << 20;

type Job = Box<dyn FnOnce() + Send>;

/// A long-lived thread with a stack of a given size, that runs one job at a time.
struct Worker(OnceLock<Mutex<Sender<Job>>>);

static HOST_CALL: Worker = Worker(OnceLock::new());
static MAIN: Worker = Worker(OnceLock::new());

impl Worker {
    /// Runs `f` on the worker, so that recursion too deep for the stack the code
    /// gets in the host overflows under the fuzzer too. A panic there aborts the
    /// process (libfuzzer-sys's panic hook), which libFuzzer reports with the input.
    fn run<R: Send + 'static>(&'static self, stack: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
        let sender = self.0.get_or_init(|| {
            let (send, receive): (Sender<Job>, Receiver<Job>) = channel();
            std::thread::Builder::new()
                .name(format!("stack-{}k", stack >> 10))
                .stack_size(stack)
                .spawn(move || {
                    report_stack_overflows();
                    for job in receive {
                        job();
                    }
                })
                .expect("the worker thread starts");
            Mutex::new(send)
        });
        let (done, result) = channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        sender.lock().expect("not poisoned").send(job).expect("the worker thread runs");
        result.recv().expect("the worker thread finished the job")
    }
}

/// The stack of a tokio blocking-pool thread, where files are decoded (`output.load`).
pub const BLOCKING_STACK: usize = 2 << 20;

static BLOCKING: Worker = Worker(OnceLock::new());

/// Runs `f` on a thread with [`BLOCKING_STACK`], as a file decodes.
fn on_blocking_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    BLOCKING.run(BLOCKING_STACK, f)
}

/// Runs `f` as a host function runs, on [`HOST_CALL_STACK`].
fn on_host_call_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    HOST_CALL.run(HOST_CALL_STACK, f)
}

/// Lets libFuzzer report a stack overflow on the calling thread as a crash, with
/// the input. Without a sanitizer nothing gives a thread an alternate signal
/// stack (libFuzzer's `main` replaces Rust's, which would), so the SIGSEGV of an
/// overflow could not run any handler and the process would just die, the input
/// lost. This gives the thread one and makes the handlers libFuzzer installed
/// run on it.
fn report_stack_overflows() {
    const SIZE: usize = 256 << 10;
    // SAFETY: a fresh anonymous mapping, never unmapped, becomes this thread's
    // alternate signal stack; the handlers' other settings are kept as read.
    unsafe {
        let stack = libc::mmap(
            std::ptr::null_mut(),
            SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if stack == libc::MAP_FAILED {
            return;
        }
        let alt = libc::stack_t { ss_sp: stack, ss_flags: 0, ss_size: SIZE };
        if libc::sigaltstack(&alt, std::ptr::null_mut()) != 0 {
            return;
        }
        for signal in [libc::SIGSEGV, libc::SIGBUS] {
            let mut action: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut action) == 0
                && action.sa_sigaction != libc::SIG_DFL
                && action.sa_sigaction != libc::SIG_IGN
            {
                action.sa_flags |= libc::SA_ONSTACK;
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }
}

/// The pipeline file: TOML parsed and validated into the model (`Pipeline::parse`,
/// what `headwater check` and `run` do after reading the file), on a stack the
/// size of the CLI's main thread. Relative paths
/// resolve against a folder that does not exist; nothing is read from disk: a
/// text whose values hold a `${file:…}` secret is not validated (it would read
/// whatever file the fuzzer names, `/dev/stdin` included). `${env:…}` secrets
/// are looked up, which reads nothing. Returns whether the file is valid.
pub fn pipeline_file(text: &str) -> bool {
    fn reads_a_file(v: &toml::Value) -> bool {
        match v {
            toml::Value::String(s) => s.contains("${file:"),
            toml::Value::Array(a) => a.iter().any(reads_a_file),
            toml::Value::Table(t) => t.values().any(reads_a_file),
            _ => false,
        }
    }
    let text = text.to_string();
    MAIN.run(MAIN_STACK, move || {
        if let Ok(table) = toml::from_str::<toml::Table>(&text)
            && table.values().any(reads_a_file)
        {
            return false;
        }
        match Pipeline::parse(Path::new("/nonexistent/headwater-fuzz/pipeline.toml"), &text) {
            Ok(pipeline) => {
                // What `check` prints and a run records: the phases, and Debug (secrets redacted).
                let _ = (pipeline.phases().count(), format!("{pipeline:?}"));
                true
            }
            Err(e) => {
                let _ = e.to_string();
                false
            }
        }
    })
}

fn check_batches(what: &str, batches: &[RecordBatch], max_cells: u64) {
    for batch in batches {
        let cells = (batch.num_rows() as u64).saturating_mul(leaf_columns(batch.schema_ref().fields()));
        assert!(
            cells <= max_cells,
            "{what} built a batch of {} rows × {} leaf columns = {cells} cells, more than max_emit_cells = {max_cells}",
            batch.num_rows(),
            leaf_columns(batch.schema_ref().fields())
        );
        for (field, column) in batch.schema_ref().fields().iter().zip(batch.columns()) {
            if let Err(e) = column.to_data().validate_full() {
                panic!("{what} returned column `{}` that is not valid Arrow data: {e}", field.name());
            }
        }
    }
}

/// `output.emit`: an Arrow IPC stream decoded as the host does (`stream::ipc_rows`,
/// with the default `max_emit_cells`), on a host call's stack. What it returns
/// must be valid Arrow data, each batch within the cell limit counted by leaf
/// columns. Returns the rows decoded, or the host's error message.
pub fn ipc_intake(bytes: &[u8]) -> Result<usize, String> {
    let bytes = bytes.to_vec();
    on_host_call_stack(move || {
        let max_cells = intake().max_emit_cells;
        let batches = stream::ipc_rows(&bytes, max_cells).map_err(|e| e.to_string())?;
        check_batches("ipc_rows", &batches, max_cells);
        Ok(batches.iter().map(RecordBatch::num_rows).sum())
    })
}

/// Columns a connector may declare, for the declared path of the JSON decoder:
/// most kinds `parse_data_type` knows, through the host's own parser
/// (`stream::declared_schema`), one of them not nullable.
fn declared() -> SchemaRef {
    static DECLARED: OnceLock<SchemaRef> = OnceLock::new();
    DECLARED
        .get_or_init(|| {
            let field = |name: &str, data_type: &str, nullable: bool| crate::bindings::Field {
                name: name.into(),
                data_type: data_type.into(),
                nullable,
            };
            let fields = [
                field("id", "int64", false),
                field("name", "string", true),
                field("amount", "decimal(18, 2)", true),
                field("at", "timestamp", true),
                field("day", "date", true),
                field("ok", "bool", true),
                field("ratio", "float64", true),
                field("small", "uint8", true),
            ];
            stream::declared_schema(&fields).expect("the fuzz schema is valid").expect("it declares columns")
        })
        .clone()
}

/// `output.emit-json`, the records of `emit-records` and NDJSON chunks: JSON rows
/// through the host's one JSON decoder (`stream::json_rows`) with the default
/// `max_json_depth` and `max_emit_cells`, without declared columns and with
/// [`declared`] ones, on a host call's stack. Batches it returns are within the
/// cell limit. Returns the rows each decoding produced (or its error message).
///
/// Then the same bytes into a schema already known (as the stream's schema after
/// its first page): the fast decoder (`known_rows`) must decode exactly what
/// arrow-json decodes from them, or give them back.
pub fn json_intake(bytes: &[u8]) -> [Result<usize, String>; 2] {
    let bytes = bytes.to_vec();
    on_host_call_stack(move || {
        let _ = stream::known_rows_agree(&bytes, &known());
        [None, Some(declared())].map(|declared| json_rows(&bytes, declared.as_ref()))
    })
}

/// A schema as inference makes one, of every type `known_rows` decodes: what a
/// stream's later pages are decoded into.
fn known() -> SchemaRef {
    use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
    static KNOWN: OnceLock<SchemaRef> = OnceLock::new();
    KNOWN
        .get_or_init(|| {
            use std::sync::Arc;
            let tags = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
            let user = Fields::from(vec![Field::new("id", DataType::Int64, true), Field::new("tags", tags, true)]);
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("name", DataType::Utf8, true),
                Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
                Field::new("ok", DataType::Boolean, true),
                Field::new("ratio", DataType::Float64, true),
                Field::new("user", DataType::Struct(user), true),
                Field::new("none", DataType::Null, true),
                Field::new("amount", DataType::Decimal128(18, 2), true),
            ]))
        })
        .clone()
}

fn json_rows(bytes: &[u8], declared: Option<&SchemaRef>) -> Result<usize, String> {
    let intake = intake();
    let batches = stream::json_rows(bytes, declared, None, &intake).map_err(|e| e.to_string())?;
    check_batches("json_rows", &batches, intake.max_emit_cells);
    Ok(batches.iter().map(RecordBatch::num_rows).sum())
}

/// `output.emit-records`: an API page split at the stream's records pointer
/// (`stream::split_page`), the rest parsed for the connector's pagination, and
/// the records array, when there is one, decoded as [`json_intake`] does without
/// declared columns, on a host call's stack. Returns the rows decoded, or why not.
pub fn page_split(page: &[u8], pointer: &str) -> Result<usize, String> {
    let (page, pointer) = (page.to_vec(), pointer.to_string());
    on_host_call_stack(move || {
        let split = stream::split_page(&page, &pointer, usize::MAX)?;
        let _ = split.skeleton.to_string();
        match split.records {
            Some(raw) => {
                let start = raw.as_ptr() as usize - page.as_ptr() as usize;
                assert!(start + raw.len() <= page.len(), "the records are a part of the page");
                if raw != b"null" && raw.first() == Some(&b'[') { json_rows(raw, None) } else { Ok(0) }
            }
            None => Ok(0),
        }
    })
}

/// The records pointer against a document, checked against serde_json's own RFC
/// 6901 implementation (`Value::pointer`): `doc` is parsed by serde_json (so it
/// has no duplicate keys and at most serde_json's nesting), written back compact
/// and pretty, and split at `pointer` by the host's scanner (`stream::split_page`).
/// The scanner must find exactly the value serde_json finds (or nothing where it
/// finds nothing), and leave exactly the rest, with `null` in its place.
/// Returns whether the pointer found a value; `None` when `doc` is not JSON.
pub fn records_pointer(doc: &[u8], pointer: &str) -> Option<bool> {
    let value: Value = serde_json::from_slice(doc).ok()?;
    let (pointer, texts) = (
        pointer.to_string(),
        [
            serde_json::to_vec(&value).expect("a value serialises"),
            serde_json::to_vec_pretty(&value).expect("pretty too"),
        ],
    );
    let expected = value.pointer(&pointer).cloned();
    let mut rest = value.clone();
    if let Some(at) = rest.pointer_mut(&pointer) {
        *at = Value::Null;
    }
    Some(on_host_call_stack(move || {
        for text in &texts {
            match stream::split_page(text, &pointer, usize::MAX) {
                Ok(split) => {
                    let found = split.records.map(|raw| {
                        serde_json::from_slice::<Value>(raw).unwrap_or_else(|e| {
                            panic!("pointer {pointer:?} found bytes that are not a JSON value ({e}): {raw:?}")
                        })
                    });
                    assert_eq!(found, expected, "pointer {pointer:?} in {}", String::from_utf8_lossy(text));
                    if found.is_some() {
                        assert_eq!(split.skeleton, rest, "the rest of the page after {pointer:?}");
                    } else {
                        assert_eq!(split.skeleton, value, "the page, found nothing at {pointer:?}");
                    }
                }
                // Only a pointer that is not one fails on a valid page: `x` (no leading `/`).
                Err(e) => assert!(
                    !pointer.is_empty() && !pointer.starts_with('/') && expected.is_none(),
                    "pointer {pointer:?} failed on a valid page: {e}"
                ),
            }
        }
        expected.is_some()
    }))
}

/// The heap the fuzz targets allocate from: the system allocator, refusing (a
/// null pointer, as an exhausted machine would) any allocation that would take
/// the live heap past [`CappedHeap::LIMIT`]. Without a sanitizer libFuzzer sees
/// only resident memory, and a gigabyte-sized allocation never touched is not
/// resident; here a decoder that sizes buffers from a claim in its input fails at
/// once (`memory allocation of N bytes failed`, an abort libFuzzer reports),
/// while code that allocates fallibly gets to refuse the input.
pub struct CappedHeap;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl CappedHeap {
    /// As `-rss_limit_mb=2048`, which `just fuzz` passes to libFuzzer.
    pub const LIMIT: usize = 2048 << 20;

    fn reserve(size: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        LIVE.fetch_update(Relaxed, Relaxed, |live| live.checked_add(size).filter(|&total| total <= Self::LIMIT)).is_ok()
    }

    fn release(size: usize) {
        LIVE.fetch_sub(size, std::sync::atomic::Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator with the same layout;
// the accounting only decides whether to forward it.
unsafe impl std::alloc::GlobalAlloc for CappedHeap {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if !Self::reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if p.is_null() {
            Self::release(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if !Self::reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as in `alloc`.
        let p = unsafe { std::alloc::System.alloc_zeroed(layout) };
        if p.is_null() {
            Self::release(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        Self::release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !Self::reserve(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from this allocator with `layout`, as the caller guarantees.
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        match (p.is_null(), new_size > old) {
            (true, true) => Self::release(new_size - old),
            (false, false) => Self::release(old - new_size),
            _ => {}
        }
        p
    }
}

/// A CSV export file: the bytes written as `fuzz.csv` and loaded as the host loads
/// an export (`load::open`: the line reader bounded by `max_record_mb`, dialect
/// and header detection, schema inference on a sample, then every batch), on a
/// blocking-pool thread's stack. Every batch must be valid Arrow within the cell
/// limit. Returns the rows loaded, or the loader's error message.
pub fn csv_file(bytes: &[u8]) -> Result<usize, String> {
    use crate::load::{FileFormat, LoadOptions};
    let bytes = bytes.to_vec();
    on_blocking_stack(move || {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("fuzz.csv");
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        let options = LoadOptions { format: Some(FileFormat::Csv), ..crate::load::default_options() };
        let batches = crate::load::open(&path, "fuzz.csv", &options, None, intake()).map_err(|e| e.to_string())?;
        let mut rows = 0;
        for batch in batches {
            let batch = batch.map_err(|e| e.to_string())?;
            check_batches("load::open (csv)", std::slice::from_ref(&batch), intake().max_emit_cells);
            rows += batch.num_rows();
        }
        Ok(rows)
    })
}

/// A Parquet export: the bytes as a file, decoded by the host's loader
/// (`load::open`, as `output.load` decodes a file: the footer's depth check,
/// then the parquet crate) on a blocking-pool thread's stack. Returns the rows
/// decoded, or the loader's error.
pub fn parquet_file(bytes: &[u8]) -> Result<usize, String> {
    use crate::load::{FileFormat, LoadOptions};
    let bytes = bytes.to_vec();
    on_blocking_stack(move || {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("fuzz.parquet");
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        let options = LoadOptions { format: Some(FileFormat::Parquet), ..crate::load::default_options() };
        let batches = crate::load::open(&path, "fuzz.parquet", &options, None, intake()).map_err(|e| e.to_string())?;
        let mut rows = 0;
        for batch in batches {
            rows += batch.map_err(|e| e.to_string())?.num_rows();
        }
        Ok(rows)
    })
}
