//! A CSV export file: the host's loader (line reader, dialect and header
//! detection, inference, decoding) must refuse what it cannot read with an
//! error, never a panic, and build only valid batches within the cell limit.
#![no_main]

use headwater::fuzzing;

#[global_allocator]
static HEAP: fuzzing::CappedHeap = fuzzing::CappedHeap;

libfuzzer_sys::fuzz_target!(init: fuzzing::panics_the_host_catches_are_not_crashes(), |data: &[u8]| {
    let _ = fuzzing::csv_file(data);
});
