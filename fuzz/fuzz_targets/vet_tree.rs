#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nomos_core::fuzzing::vet_input(data));
