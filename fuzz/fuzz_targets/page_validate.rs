//! Page validation, structure-aware (`eduioc_fuzz::page`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eduioc_fuzz::targets::page_validate(data));
