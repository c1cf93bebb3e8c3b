//! `output.emit-records`: the input is a records pointer, a newline, and an API
//! page (any bytes); the host splits the page at the pointer and decodes the
//! records it finds. Must refuse, never panic or overflow a host call's stack.
#![no_main]

use headwater::fuzzing;

#[global_allocator]
static HEAP: fuzzing::CappedHeap = fuzzing::CappedHeap;

libfuzzer_sys::fuzz_target!(init: fuzzing::panics_the_host_catches_are_not_crashes(), |data: &[u8]| {
    let (pointer, page) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let _ = fuzzing::page_split(page, &String::from_utf8_lossy(pointer));
});
