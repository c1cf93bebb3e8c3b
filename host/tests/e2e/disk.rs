//! Disk tests: a full disk, a read-only sink and kills at the write, fsync and
//! rename level, injected below the host by faultfs (tests/kit/faultfs.c, an
//! LD_PRELOAD shim that fails the real binary's libc calls, its own and sled's
//! and parquet's alike), on the hybrid pipeline of the crash tests. A full or
//! read-only disk fails the run cleanly: exit 1, not a signal or a panic, with
//! the path and the OS error named. Whatever a fault interrupted, no order is
//! visible twice, what is visible is what the state store says is committed
//! (an interrupted commit aside, which the next run completes), and the store
//! opens; then a run without the fault lands every order exactly once.

use crate::crash::TOTAL;
use headwater_mock::{MockApi, orders};
use headwater_testkit::faultfs::{Fault, Op};
use headwater_testkit::{Env, assert_same_orders};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;
use std::time::Instant;

const RUN: &[&str] = &["run", "hybrid.toml"];
/// The sink folder and the state store (`[state] path` unset: `.headwater` beside the pipeline file).
const SINK: &str = "lake";
const STATE: &str = ".headwater";
const NO_SPACE: &str = "No space left on device";
const READ_ONLY: &str = "Read-only file system";
/// A budget no run reaches: the shim only counts.
const UNLIMITED: u64 = i64::MAX as u64;

/// The crash tests' hybrid pipeline: six export files, then the API.
fn scenario() -> (Env, MockApi) {
    crate::crash::scenario()
}

/// The run failed because of the fault, and said so: exit 1 (not a signal, not a
/// panic), with a line of stderr naming a path in `place` and the OS error.
#[track_caller]
fn failed_cleanly(out: &Output, fault: &Fault, place: &str, os_error: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let fired = fault.fired().unwrap_or_else(|| panic!("the fault never fired ({}):\n{stderr}", out.status));
    assert_eq!(
        out.status.code(),
        Some(1),
        "after `{fired}`, the run was to fail with exit 1 ({}):\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "after `{fired}`, the host panicked:\n{stderr}");
    assert!(
        stderr.lines().any(|l| l.contains(os_error) && l.contains(place)),
        "after `{fired}`, no line of stderr names `{place}…` and `{os_error}`:\n{stderr}"
    );
}

/// No order is visible twice, and the visible ones are what the state store has
/// committed, or, with an interrupted commit (which the next run completes),
/// between that and what the commit records; the store opens (`state show`, what
/// a user runs after a crash). Returns how many orders are visible.
#[track_caller]
fn consistent(env: &Env, after: &str) -> usize {
    let visible = crate::crash::never_twice(env, after);
    let show = env.headwater(&["state", "show", "hybrid.toml", "--json"]);
    assert_eq!(show.code, 0, "after {after}, the state store does not open:\n{}", show.stderr);
    let state = show.json();
    let stream = state.as_array().expect("a list of streams").iter().find(|s| s["stream"] == "orders");
    let committed = stream.and_then(|s| s["rows"].as_u64()).unwrap_or(0) as usize;
    match stream.map(|s| &s["interrupted_commit"]).filter(|i| !i.is_null()) {
        None => {
            assert_eq!(visible, committed, "after {after}: {visible} orders visible, {committed} committed: {state}")
        }
        Some(interrupted) => {
            assert_eq!(interrupted["lost_files"], serde_json::json!([]), "after {after}: {state}");
            let recorded = interrupted["rows"].as_u64().unwrap() as usize;
            assert!(
                committed <= visible && visible <= recorded,
                "after {after}: {visible} orders visible, {committed} committed, {recorded} in the interrupted commit"
            );
        }
    }
    visible
}

/// A run without a fault lands every order of the source once, and leaves nothing staged.
#[track_caller]
fn exactly_once(env: &Env, total: i64, after: &str) {
    let run = env.headwater(RUN);
    assert_eq!(run.code, 0, "the rerun after {after} failed:\n{}\n{}", run.stdout, run.stderr);
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=total));
    let staged: Vec<_> = files(&env.path(SINK)).into_iter().filter(|(p, _, _)| p.ends_with(".staged")).collect();
    assert!(staged.is_empty(), "after {after}, files are left staged: {staged:?}");
    let state = env.headwater(&["state", "show", "hybrid.toml", "--json"]).ok().json();
    assert_eq!(state[0]["backfill_done"], true, "after {after}: {state}");
    assert!(state[0]["interrupted_commit"].is_null(), "after {after}: {state}");
}

/// Every file under `dir`, with its size and modification time, sorted.
fn files(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let (p, meta) = (e.path(), e.metadata().unwrap());
            if meta.is_dir() {
                out.extend(files(&p));
            } else {
                out.push((p.display().to_string(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// How many bytes a whole run writes under `dir`, in a fresh scenario.
fn bytes_a_run_writes(dir: &str) -> u64 {
    let (env, _api) = scenario();
    let measure = Fault::enospc(env.path(dir), UNLIMITED);
    let out = measure.output(&env, RUN);
    assert!(out.status.success(), "a run with nothing to fail failed:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=TOTAL));
    measure.counted().expect("the shim counts what it let through")
}

/// A disk that fills up while `dir` is written: at once, and after a third and
/// two thirds of what a run writes there (a few checkpoints committed first).
fn a_full_disk_in(dir: &str, place: &str) {
    let started = Instant::now();
    let total = bytes_a_run_writes(dir);
    for after in [0, total / 3, total * 2 / 3] {
        let (env, _api) = scenario();
        let at = format!("a full disk in {dir} after {after} of {total} bytes");
        let fault = Fault::enospc(env.path(dir), after);
        failed_cleanly(&fault.output(&env, RUN), &fault, place, NO_SPACE);
        let visible = consistent(&env, &at);
        assert_eq!(visible > 0, after > 0, "{at}: {visible} orders visible");
        // Still full: the next run fails as cleanly, and lands nothing twice.
        let still = Fault::enospc(env.path(dir), 0);
        failed_cleanly(&still.output(&env, RUN), &still, place, NO_SPACE);
        assert!(consistent(&env, &format!("{at}, then at once")) >= visible, "{at}: orders went missing");
        exactly_once(&env, TOTAL, &at);
    }
    eprintln!("a full disk in {dir}: {total} bytes a run, 3 budgets, {:.1?}", started.elapsed());
}

#[test]
fn a_full_disk_in_the_sink_fails_the_run_and_a_rerun_lands_each_order_once() {
    a_full_disk_in(SINK, "lake/");
}

#[test]
fn a_full_disk_in_the_state_store_fails_the_run_and_a_rerun_lands_each_order_once() {
    a_full_disk_in(STATE, STATE);
}

/// sled writes a snapshot when it opens a store that has committed since the last
/// one: a disk full then fails the run at its start, at once, halfway through
/// what the open writes, or two bytes short of it (the snapshot's checksum torn).
#[test]
fn a_full_disk_while_the_state_store_opens_fails_the_run_and_leaves_the_store_usable() {
    let (env, api) = scenario();
    env.headwater(RUN).ok();
    api.with(|s| s.orders.extend(orders(TOTAL + 1..=TOTAL + 100)));
    // What the open writes, measured on a copy: the next open of the store writes it again.
    let (state, kept) = (env.path(STATE), env.path("state-before"));
    copy_dir(&state, &kept);
    let measure = Fault::enospc(&state, UNLIMITED);
    assert!(measure.output(&env, &["state", "show", "hybrid.toml"]).status.success());
    let opening = measure.counted().unwrap();
    assert!(opening > 2, "opening the store wrote {opening} bytes: no snapshot to fail");
    for after in [0, opening / 2, opening - 2] {
        std::fs::remove_dir_all(&state).unwrap();
        copy_dir(&kept, &state);
        let at = format!("a full disk after {after} of the {opening} bytes the store's open writes");
        let fault = Fault::enospc(&state, after);
        failed_cleanly(&fault.output(&env, RUN), &fault, STATE, NO_SPACE);
        assert_eq!(consistent(&env, &at), TOTAL as usize, "{at}");
    }
    exactly_once(&env, TOTAL + 100, "a full disk while the store opened");
}

/// A sink on a read-only mount: the run fails before writing anything, naming the
/// path; with committed files there, nothing in the sink or the state changes.
#[test]
fn a_read_only_sink_fails_the_run_writes_nothing_and_a_rerun_lands_everything() {
    let (env, api) = scenario();
    let fault = Fault::erofs(env.path(SINK));
    failed_cleanly(&fault.output(&env, RUN), &fault, "lake/", READ_ONLY);
    assert!(!env.exists(SINK), "the run wrote into a read-only sink: {:?}", files(&env.path(SINK)));
    assert_eq!(consistent(&env, "a read-only sink"), 0);
    exactly_once(&env, TOTAL, "a read-only sink");

    api.with(|s| s.orders.extend(orders(TOTAL + 1..=TOTAL + 100)));
    let (sink, state) =
        (files(&env.path(SINK)), env.headwater(&["state", "show", "hybrid.toml", "--json"]).ok().json());
    failed_cleanly(&fault.output(&env, RUN), &fault, "lake/", READ_ONLY);
    assert_eq!(files(&env.path(SINK)), sink, "the run changed a read-only sink");
    assert_eq!(env.headwater(&["state", "show", "hybrid.toml", "--json"]).ok().json(), state);
    exactly_once(&env, TOTAL + 100, "a read-only sink with committed files");
}

/// A kill at each write, fsync and rename a first run makes under the test's
/// folder (sink, staging, state store), then kills spread over runs that go on
/// from what the last kill left: a write is torn first (half of it written), as
/// a kill in the middle of a large write leaves it. After each kill nothing is
/// visible twice and the store opens; a run that finishes lands each order once
/// (and, in the second part, the next starts over from nothing).
#[test]
fn killed_at_writes_fsyncs_and_renames_no_order_lands_twice() {
    const OPS: &[Op] = &[Op::Write, Op::Fsync, Op::Rename];
    /// Kills to spread over a run's operations (each kill is a short run).
    const KILLS: u64 = 40;
    let started = Instant::now();
    let (env, _api) = scenario();
    let root = env.dir.path().to_path_buf();
    let start_over = || {
        for dir in [SINK, STATE] {
            std::fs::remove_dir_all(env.path(dir)).unwrap();
        }
    };
    let measure = Fault::kill_at(&root, OPS, UNLIMITED);
    assert!(measure.output(&env, RUN).status.success());
    let total = measure.counted().expect("the shim counts the ops of a run");
    start_over();
    let mut struck = std::collections::BTreeMap::new();
    // A kill at every op of a first run, each followed by a run to the end.
    let mut short = 0;
    for n in 1..=total {
        let fault = Fault::kill_at(&root, OPS, n);
        let out = fault.output(&env, RUN);
        let Some(fired) = fault.fired() else {
            // This run did fewer ops than the measured one (sled's background flushes
            // follow the clock, so a busy machine changes their count): it finished.
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "op {n} of {total}: no kill, and the run failed:\n{stderr}");
            assert!(n + 8 > total, "op {n} of {total}: no kill, far from the end of the run");
            exactly_once(&env, TOTAL, &format!("the run that finished before op {n}"));
            start_over();
            short += 1;
            continue;
        };
        assert_eq!(out.status.signal(), Some(libc::SIGKILL), "`{fired}`: {}", out.status);
        *struck.entry(fired.split(' ').nth(1).unwrap_or("?").to_string()).or_insert(0) += 1;
        consistent(&env, &format!("`{fired}`"));
        exactly_once(&env, TOTAL, &format!("`{fired}`"));
        start_over();
    }
    // Kills of runs that go on from what the last kill left (recovering it first).
    let first = total - short;
    let (mut kills, mut finished) = (first, 0);
    for n in (1..=total).step_by((total / KILLS).max(1) as usize) {
        let fault = Fault::kill_at(&root, OPS, n);
        let out = fault.output(&env, RUN);
        match fault.fired() {
            Some(fired) => {
                assert_eq!(out.status.signal(), Some(libc::SIGKILL), "`{fired}`: {}", out.status);
                kills += 1;
                consistent(&env, &format!("`{fired}`"));
            }
            None => {
                // The run had fewer than `n` ops left to do: it finished.
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "op {n} of {total}: the run failed on its own:\n{stderr}");
                exactly_once(&env, TOTAL, &format!("the run that finished before op {n}"));
                start_over();
                finished += 1;
            }
        }
    }
    exactly_once(&env, TOTAL, &format!("{kills} kills"));
    eprintln!(
        "{kills} kills: at each of the {first} writes, fsyncs and renames of a first run, and {} in resumed \
         runs ({finished} of which finished); the first by call: {struck:?}; {:.1?}",
        kills - first,
        started.elapsed()
    );
    assert!(kills >= first + KILLS / 2, "only {} kills of resumed runs struck", kills - first);
}
