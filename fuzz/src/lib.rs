//! Shared pieces of the fuzz targets (see `README.md` beside this crate).
//!
//! - [`world`]: the small certified hierarchy pages are validated against.
//! - [`page`]: the structure-aware page generator: the fuzzer's bytes choose, through
//!   `arbitrary`, what validly signed, hash-chained entries to build (real Automerge
//!   changes and saved documents by the right actor, snapshot claims, certificates,
//!   notifications), then how to damage them, so validation is reached beyond the
//!   signature check.
//! - [`targets`]: the body of each fuzz target, replayable without the fuzzer.
//! - [`zip`]: a minimal writer of stored (uncompressed) zip archives, so the XLSX target
//!   can mutate the XML parts of a workbook instead of the compressed bytes.

pub mod page;
pub mod targets;
pub mod world;
pub mod zip;
