//! `output.emit-json` (and the records of `emit-records`, and NDJSON chunks): any
//! bytes as JSON rows through the host's JSON decoder with its default limits,
//! with and without declared columns. Must refuse, never panic, overflow a host
//! call's stack or build a batch past `max_emit_cells`.
#![no_main]

use headwater::fuzzing;

#[global_allocator]
static HEAP: fuzzing::CappedHeap = fuzzing::CappedHeap;

libfuzzer_sys::fuzz_target!(init: fuzzing::panics_the_host_catches_are_not_crashes(), |data: &[u8]| {
    let _ = fuzzing::json_intake(data);
});
