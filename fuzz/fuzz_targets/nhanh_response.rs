//! Fuzz target: `shared::fuzzing::nhanh_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzzing::nhanh_response(data));
