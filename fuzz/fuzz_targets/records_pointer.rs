//! The records pointer: the input is a JSON pointer, a newline, and a JSON
//! document. The host's page scanner must find exactly what serde_json's RFC 6901
//! `Value::pointer` finds in the document (compact and pretty-printed), and
//! leave the rest of the page exactly as it was.
#![no_main]

use headwater::fuzzing;

#[global_allocator]
static HEAP: fuzzing::CappedHeap = fuzzing::CappedHeap;

libfuzzer_sys::fuzz_target!(init: fuzzing::panics_the_host_catches_are_not_crashes(), |data: &[u8]| {
    let (pointer, doc) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[..0]),
    };
    let _ = fuzzing::records_pointer(doc, &String::from_utf8_lossy(pointer));
});
