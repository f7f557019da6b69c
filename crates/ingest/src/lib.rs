//! Turns inputs into records: JSON arrays, bundles and upload-API bodies streamed record by
//! record, and the two CSV templates mapped to indicators.
//!
//! # Key decision: each record is parsed where it lies, the scanner only delimits the bad ones
//!
//! Files of hundreds of megabytes are read through a reused buffer that holds the record being
//! read (it grows to the largest record, never to the file). Each record is parsed in place,
//! once, into the borrowed tree the validator reads; only a record that does not parse is cut
//! out by a structural scanner, so that the records after it are still read. Memory therefore
//! depends on the largest record, never on the file.
//!
//! # What this crate does not do
//!
//! It does not decide validity (that is `stix`), and it does not store anything.

pub mod csvmap;
pub mod errorfile;
pub mod json;

pub use errorfile::{preview as preview_error_file, ErrorFile};
pub use json::{minify, Container, JsonRecords, Limits, ReadError, Record, Shape};
