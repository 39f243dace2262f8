//! Fuzz target: `shared::fuzzing::hub_event`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzzing::hub_event(data));
