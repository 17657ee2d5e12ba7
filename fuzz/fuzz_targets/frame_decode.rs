//! Frame decoding: any bytes a peer sends as a request or a response. A decoded message
//! must encode back to a frame that decodes to the same message; the entries, saved
//! documents and certificates inside are decoded as a node would.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eduioc_fuzz::targets::frame_decode(data));
