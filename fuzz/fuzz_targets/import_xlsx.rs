//! XLSX import, with the XLSX content type. The first byte picks the kind (`/ 2 % 4`)
//! and the shape of the rest: odd, the rest is a whole file (a real workbook's bytes);
//! even, it is the XML of the first sheet, the shared strings and the styles, separated
//! by `eduioc_fuzz::zip::PART_SEPARATOR`, zipped here (stored, valid CRCs) into a workbook,
//! so the fuzzer mutates the XML the reader parses rather than compressed bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eduioc_fuzz::targets::import_xlsx(data));
