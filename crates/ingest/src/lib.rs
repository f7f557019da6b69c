//! Turns inputs into records: JSON arrays, bundles and upload-API bodies streamed record by
//! record, and the two CSV templates mapped to indicators.
//!
//! # Key decision: records are delimited before they are parsed
//!
//! Files of hundreds of megabytes are read through a fixed-size buffer; a record is cut out by
//! a structural scanner and handed on as bytes, and only then parsed, once, by whoever consumes
//! it. Memory therefore depends on the largest record, never on the file.
//!
//! # What this crate does not do
//!
//! It does not decide validity (that is `stix`), and it does not store anything.

pub mod csvmap;
pub mod errorfile;
pub mod json;

pub use errorfile::{preview as preview_error_file, ErrorFile};
pub use json::{minify, Container, JsonRecords, Limits, ReadError, Record, Shape};
