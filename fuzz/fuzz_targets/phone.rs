//! Fuzz target: `shared::fuzzing::phone`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzzing::phone(data));
