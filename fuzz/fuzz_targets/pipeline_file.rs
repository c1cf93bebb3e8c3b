//! The pipeline file: any bytes that are UTF-8, as TOML parsed and validated
//! into the model (`Pipeline::parse`). Must never panic.
#![no_main]

use headwater::fuzzing;

#[global_allocator]
static HEAP: fuzzing::CappedHeap = fuzzing::CappedHeap;

libfuzzer_sys::fuzz_target!(init: fuzzing::panics_the_host_catches_are_not_crashes(), |data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        fuzzing::pipeline_file(text);
    }
});
