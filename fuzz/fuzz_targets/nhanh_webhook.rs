//! Fuzz target: `shared::fuzzing::nhanh_webhook`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzzing::nhanh_webhook(data));
