//! A Parquet export file: the host's loader must refuse what it cannot read
//! (a footer that does not parse, a schema nested past the stack) with an
//! error, never a panic or a stack overflow.
#![no_main]

use headwater::fuzzing;

#[global_allocator]
static HEAP: fuzzing::CappedHeap = fuzzing::CappedHeap;

libfuzzer_sys::fuzz_target!(init: fuzzing::panics_the_host_catches_are_not_crashes(), |data: &[u8]| {
    let _ = fuzzing::parquet_file(data);
});
