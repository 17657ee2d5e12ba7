//! CSV import: the first byte picks the kind (`% 4`, in `Collection::ALL` order) and
//! the content type (`/ 4 % 3`: none, `text/csv`, with a charset); the rest is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eduioc_fuzz::targets::import_csv(data));
