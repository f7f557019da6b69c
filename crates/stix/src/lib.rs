//! The STIX 2.0/2.1 object model and its validation.
//!
//! # Key decision: validate a borrowed JSON tree against data tables
//!
//! A record is parsed into [`Json`], a tree whose strings borrow from the input, and checked
//! against a table of properties per object type (`types21.rs`, `types20.rs`) by one generic
//! checker (`rules.rs`), with one function per type for rules that relate properties
//! (`extra.rs`). Validation never stops at the first problem: the [`Report`] lists every problem
//! of the record, each a [`Diagnostic`] worded as the upload API words it,
//! `Error for Property=<name>: <reason>. Actual value: <value>.`
//!
//! The record itself is never rewritten: unknown properties, custom objects and extensions stay
//! in the JSON exactly as sent, and whoever stores the record stores its original text.
//!
//! # Profiles
//!
//! [`Profile::Compatible`] (the default) accepts what real producers and the upload API's own
//! examples send (`"confidence": "95"`, empty lists, `"lang": ""`, custom properties);
//! [`Profile::Strict`] enforces the MUST rules of STIX 2.1 as the OASIS reference validator
//! does with its default options. Both refuse what cannot be stored meaningfully.
//!
//! # Versions
//!
//! A record with `spec_version` is read as that version; one inside a container that declares a
//! version is read as the container's; one with neither is 2.1, unless (in the compatible profile
//! only) it is valid only as 2.0. The strict profile, like the reference validator, reads it as 2.1.
//! A record read as 2.0 is stored as 2.1 by appending [`normalized_21_members`] to its text;
//! [`upgrade`] makes a stored object valid STIX 2.1 for a 2.1 consumer (2.0's `labels` moved
//! to 2.1's members, and so on) as it is exported or answered.
//!
//! # What this crate does not do
//!
//! No I/O, no knowledge of files, CSV or HTTP; those belong to `ingest` and the layers above.

mod diag;
mod extra;
mod hashes;
mod id;
pub mod json;
mod normalize;
mod registry;
mod rules;
mod strict;
mod timestamp;
mod tlp;
mod types20;
mod types21;
mod types_sco;
pub mod upgrade;
mod validate;
pub mod vocab;

pub use diag::Diagnostic;
pub use hashes::{canonical_algorithm, hash_value_ok};
pub use id::{is_type_name, IdError, StixId};
pub use json::Json;
pub use normalize::normalized_21_members;
pub use stix_pattern::{Profile, SpecVersion};
pub use timestamp::{Timestamp, TimestampError};
pub use tlp::Tlp;
pub use validate::{validate, Options, PatternObservable, Report};
