//! Entry decoding: any bytes a peer sends as an entry. A decoded entry must re-encode to
//! exactly the bytes it came from (one encoding, one hash), and validation must classify
//! it without panicking, whatever its payload (the signature is taken as good so the
//! checks after it are reached: authority, Automerge change parsing, actors, continuity).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eduioc_fuzz::targets::entry_decode(data));
