//! `output.emit`: any bytes as an Arrow IPC stream, decoded by the host with its
//! default `max_emit_cells`. Must refuse what is not a stream of batches within
//! the limit, never panic, abort or allocate past the capped heap.
#![no_main]

use headwater::fuzzing;

#[global_allocator]
static HEAP: fuzzing::CappedHeap = fuzzing::CappedHeap;

libfuzzer_sys::fuzz_target!(init: fuzzing::panics_the_host_catches_are_not_crashes(), |data: &[u8]| {
    let _ = fuzzing::ipc_intake(data);
});
