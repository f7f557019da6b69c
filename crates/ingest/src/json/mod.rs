//! Streaming JSON records: a JSON array, a bundle, an upload-API body or a single object, read
//! record by record.
//!
//! # Key decision: parse each record where it lies; the scanner delimits only what does not parse
//!
//! Each record is parsed once, in place in the buffer, into the borrowed tree the validator
//! reads (`Record::value`). Only when that fails does the structural scanner step in: it tracks
//! what decides where a value ends (strings, skipped with `memchr`, escapes, a stack of open
//! brackets), never builds a tree, and finds the end of the bad record so the next one can be
//! read. The buffer holds the record being read and grows to the largest one, so memory stays
//! flat however large the file.
//!
//! Errors of the file's structure (a truncated array, garbage between records, a bracket that
//! does not match, nesting beyond [`Limits::max_depth`]) are fatal and name the line and column.
//! Errors inside one well-delimited record (a bad literal, invalid UTF-8, nesting deeper than
//! the parser allows, a record larger than [`Limits::max_record_bytes`]) belong to that record
//! alone, so a bad record does not stop the others from being read.
//!
//! # Files
//!
//! * `mod.rs` (this file): the public types and [`JsonRecords::for_each`], the loop that hands
//!   each record to its caller.
//! * `record.rs`: one record of the records array, parsed where it lies (the fast path) or, if
//!   it does not parse, delimited by the scanner and reported (the slow path).
//! * `container.rs`: the structure around the records: the top-level value, a bundle's or an
//!   upload body's members, the records array's commas and brackets.
//! * `scan.rs`: the structural scanner and the buffer: skipping a value, reading more input,
//!   line and column.
//! * `minify.rs`: [`minify()`], the compact text of a record already known to be valid.
//! * `tests.rs`: the reader's unit tests.

mod container;
mod minify;
mod record;
mod scan;
#[cfg(test)]
mod tests;

use std::io::{self, Read};
use stix::{Diagnostic, Json, SpecVersion};

pub use minify::minify;
use record::{parse_bytes, Start};

/// Bounds that keep memory flat on hostile input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A record larger than this is skipped without being buffered and reported as invalid.
    pub max_record_bytes: usize,
    /// Brackets nested deeper than this make the file unreadable (a fatal error).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 16 << 20,
            max_depth: 10_000,
        }
    }
}

/// A file whose structure cannot be read as JSON records.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: u64,
        column: u64,
        message: String,
    },
    /// Well-formed JSON whose top-level object names a key twice (`stixobjects` twice, or
    /// `stixobjects` and `value`): which one was meant cannot be known, and reading one would
    /// silently drop the other.
    #[error("line {line}, column {column}: {message}")]
    Ambiguous {
        line: u64,
        column: u64,
        message: String,
    },
    #[error("cannot read the input: {0}")]
    Io(#[from] io::Error),
}

/// What the top-level value turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A JSON array whose elements are the records (the bulk-import format).
    Array,
    /// A STIX bundle; its `objects` are the records.
    Bundle,
    /// An upload-API body; its `stixobjects` (or legacy `value`/`indicators`) are the records.
    Upload,
    /// A single STIX object, which is the one record.
    Single,
}

/// Facts about the container that the records came in.
#[derive(Debug, Clone, Default)]
pub struct Container {
    pub shape: Option<Shape>,
    /// The upload body's `sourcesystem` (any case of the key, as legacy clients send it).
    pub sourcesystem: Option<serde_json::Value>,
    /// The bundle's `spec_version`, which is the version of its members.
    pub spec_version: Option<String>,
    /// The container's `type` member, if it had one.
    pub container_type: Option<String>,
}

impl Container {
    /// The STIX version the container declares for its records, if any.
    pub fn records_version(&self) -> Option<SpecVersion> {
        match self.spec_version.as_deref() {
            Some("2.0") => Some(SpecVersion::V20),
            Some("2.1") => Some(SpecVersion::V21),
            _ => None,
        }
    }
}

/// One record: where it starts in the file, its bytes, and the record parsed or the reason it
/// cannot be, in the upload API's wording.
#[derive(Debug)]
pub struct Record<'b> {
    /// 0-based position among the file's records.
    pub index: usize,
    /// 1-based line and byte column where the record starts.
    pub line: u64,
    pub column: u64,
    /// The record's text; empty when it was larger than the size limit.
    pub bytes: &'b [u8],
    pub value: Result<Json<'b>, Diagnostic>,
    /// The STIX version the container declares for its records (a 2.0 bundle's members).
    pub container_version: Option<SpecVersion>,
}

/// What `advance` found.
enum Found {
    /// A record was delimited by the scanner (a whole top-level object).
    Span(Span),
    /// A record starts at `pos` in the records array.
    RecordStart,
}

/// Where a record lies in the buffer, and where it starts in the file.
struct Span {
    start: usize,
    end: usize,
    line: u64,
    column: u64,
    /// The record's length when it was too large to keep.
    oversized: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    /// Inside the records array; `first` until the first element or `]` is read.
    InArray {
        first: bool,
    },
    /// Inside a top-level object, between members (after the records array, if any).
    InObject {
        first: bool,
    },
    Done,
}

/// Reads records one at a time from a JSON text.
pub struct JsonRecords<R> {
    src: R,
    /// Zeroed once and reused: `buf[..end]` holds input. (Growing and truncating a `Vec` on
    /// every read would zero each chunk again.)
    buf: Vec<u8>,
    end: usize,
    /// Scan position in `buf`.
    pos: usize,
    /// Bytes before this index in `buf` may be dropped when the buffer is refilled.
    keep: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    line: u64,
    /// File offset of the first byte of the current line.
    line_start: u64,
    limits: Limits,
    state: State,
    index: usize,
    container: Container,
    /// In an object: the file offset, line and column where it starts, so that an object that
    /// turns out to be a single record can be yielded whole.
    object_start: Option<(usize, u64, u64)>,
    /// Whether the top-level object had a records array.
    object_has_records: bool,
    /// The container's keys met so far, by kind (`ContainerKey`, in `container.rs`): the first
    /// spelling of each and how often it came. Only these kinds are counted, so a single object
    /// of a million keys costs nothing here.
    container_keys: [(u32, Vec<String>); 4],
    open: Vec<u8>,
    /// Set when the records array was expected to be an upload body (`--format upload`).
    require_upload: bool,
    /// The in-place parse's error for the record the scanner is about to delimit.
    parse_error: Option<serde_json::Error>,
    /// `buf[pos..utf8_end]` is known to be UTF-8, checked once as input arrives.
    utf8_end: usize,
    /// Whether the check stopped at a byte that is not UTF-8 (rather than at a character that
    /// the next read completes).
    utf8_stuck: bool,
}

const CHUNK: usize = 256 << 10;

impl<R: Read> JsonRecords<R> {
    pub fn new(src: R, limits: Limits) -> Self {
        JsonRecords {
            src,
            buf: Vec::new(),
            end: 0,
            pos: 0,
            keep: 0,
            base: 0,
            eof: false,
            line: 1,
            line_start: 0,
            limits,
            state: State::Start,
            index: 0,
            container: Container::default(),
            object_start: None,
            object_has_records: false,
            container_keys: Default::default(),
            open: Vec::new(),
            require_upload: false,
            parse_error: None,
            utf8_end: 0,
            utf8_stuck: false,
        }
    }

    /// Accept only an upload-API body (`{"sourcesystem":…,"stixobjects":[…]}`).
    pub fn upload_only(mut self) -> Self {
        self.require_upload = true;
        self
    }

    /// What the container said about itself so far.
    pub fn container(&self) -> &Container {
        &self.container
    }

    /// Calls `f` with each record in turn, until the input ends, `f` fails, or the input
    /// turns out unreadable (a [`ReadError`], converted into `f`'s error type).
    ///
    /// Records are handed to a function rather than returned by an iterator because each
    /// borrows the read buffer, which must be refilled between records.
    pub fn for_each<E: From<ReadError>>(
        &mut self,
        mut f: impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            let found = match self.advance() {
                Ok(Some(found)) => found,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.state = State::Done;
                    return Err(e.into());
                }
            };
            let index = self.index;
            self.index += 1;
            let container_version = self.container.records_version();
            match found {
                Found::RecordStart => {
                    let start = Start {
                        index,
                        line: self.line,
                        column: self.column(),
                        container_version,
                    };
                    self.array_record(start, &mut f)?;
                }
                Found::Span(span) => {
                    // A single object, which the scanner has delimited as a whole.
                    let start = Start {
                        index,
                        line: span.line,
                        column: span.column,
                        container_version,
                    };
                    let bytes = &self.buf[span.start..span.end];
                    f(start.record(bytes, parse_bytes(bytes, span.line, span.column)))?;
                }
            }
        }
    }
}
