#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nomos_core::fuzzing::yaml_input(data));
