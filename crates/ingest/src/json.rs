//! Streaming JSON records: a JSON array, a bundle or an upload-API body, read record by record.
//!
//! # Key decision: find record boundaries with a structural scanner, parse each record once
//!
//! The scanner tracks only what decides where a value ends: strings (skipped with `memchr`),
//! escapes, and a stack of open brackets. It never builds a tree, so it runs at memory speed,
//! and it keeps only the current record in its buffer, so memory stays flat however large the
//! file. Each record's bytes then go to the validator, which parses them once.
//!
//! Errors of the file's structure (a truncated array, garbage between records, a bracket that
//! does not match, nesting beyond [`Limits::max_depth`]) are fatal and name the line and column.
//! Errors inside one well-delimited record (a bad literal, invalid UTF-8, nesting deeper than
//! the parser allows, a record larger than [`Limits::max_record_bytes`]) belong to that record
//! alone, so a bad record does not stop the others from being read.

use memchr::memchr2;
use std::io::{self, Read};
use stix::{Diagnostic, Json, SpecVersion};

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

/// Whether a byte is JSON's insignificant whitespace (RFC 8259: space, tab, LF, CR).
const fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Appends `src`, a record already known to be valid JSON, to `out` without its insignificant
/// whitespace (space, tab, CR and LF between tokens). String contents, escapes included, are
/// copied byte for byte; numbers and literals are copied as written.
///
/// # Why
///
/// Records are stored as their original text (`stix` never rewrites one), but a pretty-printed
/// feed spends a third or more of its bytes on indentation, which the store would keep, index
/// and send back on every query. Removing only whitespace keeps everything else exactly as the
/// producer wrote it (key order, number spelling, escapes, unknown properties), which a
/// round trip through a JSON tree would not.
///
/// # How
///
/// It runs on every stored record of an import of 250 MB, so it is one tight pass, not a
/// parser: it keeps spans of bytes and skips runs of whitespace outside strings, stepping over a
/// string eight bytes at a time until a word holds a `"` or a backslash. Records are mostly short
/// strings, for which a `memchr` call per string (the first version) cost more in set-up than
/// the scan; this one made the import's reading thread about a tenth faster.
///
/// Given bytes that are not valid JSON it does not panic; its output is then unspecified (for
/// an unterminated string, the rest of `src` is copied as it is).
pub fn minify(src: &[u8], out: &mut Vec<u8>) {
    out.reserve(src.len());
    let n = src.len();
    let mut i = 0;
    // The start of the span being kept: everything from here to `i` is copied as it is.
    let mut keep = 0;
    while i < n {
        match src[i] {
            b'"' => i = string_end(src, i + 1),
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.extend_from_slice(&src[keep..i]);
                i += 1;
                while i < n && is_json_ws(src[i]) {
                    i += 1;
                }
                keep = i;
            }
            _ => i += 1,
        }
    }
    out.extend_from_slice(&src[keep..n]);
}

/// The position just past the `"` that closes the string whose contents start at `i` (or the
/// end of `src`, for an unterminated one).
fn string_end(src: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Whether a byte of `w` equals the byte repeated in `pat` (the classic zero-byte test: no
    // false negatives; a false positive only sends us to the byte-wise loop below).
    let has = |w: u64, pat: u64| {
        let x = w ^ pat;
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    };
    let n = src.len();
    loop {
        while i + 8 <= n {
            let w = u64::from_le_bytes(src[i..i + 8].try_into().expect("eight bytes"));
            if has(w, ONES * u64::from(b'"')) || has(w, ONES * u64::from(b'\\')) {
                break;
            }
            i += 8;
        }
        while i < n {
            match src[i] {
                b'"' => return i + 1,
                b'\\' => i += 2,
                _ => {
                    i += 1;
                    // Back to whole words once past the word that stopped the fast loop.
                    if i.is_multiple_of(8) {
                        break;
                    }
                }
            }
        }
        if i >= n {
            return n;
        }
    }
}

/// Parses one JSON value at the start of `text`, returning it and the bytes it took.
fn parse_in_place(text: &str) -> Result<(Json<'_>, usize), serde_json::Error> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Json>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, stream.byte_offset())),
        Some(Err(e)) => Err(e),
        None => Err(serde::de::Error::custom("expected a value")),
    }
}

/// Parses a delimited record's bytes (the slow path).
fn parse_bytes(bytes: &[u8], line: u64, column: u64) -> Result<Json<'_>, Diagnostic> {
    let e = match std::str::from_utf8(bytes) {
        Ok(text) => match parse_in_place(text) {
            Ok((value, n)) if n == text.len() => return Ok(value),
            Ok(_) => serde::de::Error::custom("trailing characters"),
            Err(e) => e,
        },
        // record_error reports the UTF-8 problem itself.
        Err(_) => serde::de::Error::custom("invalid UTF-8"),
    };
    Err(record_error(bytes, line, column, &e))
}

/// Why a delimited record cannot be used, with positions in the file.
fn record_error(bytes: &[u8], line: u64, column: u64, e: &serde_json::Error) -> Diagnostic {
    let position_of = |offset: usize| -> (u64, u64) {
        let before = &bytes[..offset];
        let newlines = memchr::memchr_iter(b'\n', before).count() as u64;
        match memchr::memrchr(b'\n', before) {
            Some(nl) => (line + newlines, (offset - nl) as u64),
            None => (line, column + offset as u64),
        }
    };
    if let Err(u) = std::str::from_utf8(bytes) {
        let (l, c) = position_of(u.valid_up_to());
        return Diagnostic::new(
            "record",
            format!("Invalid UTF-8 at line {l}, column {c}"),
            "(not shown)",
        );
    }
    let l = line + e.line() as u64 - 1;
    let c = if e.line() == 1 {
        column + e.column() as u64 - 1
    } else {
        e.column() as u64
    };
    let reason = e.to_string();
    // serde_json appends " at line L column C" relative to the record; the file's position is
    // what a person can find.
    let reason = reason
        .rsplit_once(" at line ")
        .map_or(reason.as_str(), |(r, _)| r);
    Diagnostic::new(
        "record",
        format!("Malformed JSON at line {l}, column {c}: {reason}"),
        "(not shown)",
    )
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
    /// The container's keys met so far, by kind ([`ContainerKey`]): the first spelling of each
    /// and how often it came. Only these kinds are counted, so a single object of a million
    /// keys costs nothing here.
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
            let span = match found {
                Found::Span(span) => span,
                Found::RecordStart => {
                    let (line, column) = (self.line, self.column());
                    self.keep = self.pos;
                    // The fast path: the record is parsed where it lies, once, reading more
                    // input while it is incomplete. `value` borrows the buffer, so only fields
                    // other than `buf` change while it lives.
                    let mut parsed = false;
                    if self.utf8_end < self.pos {
                        self.extend_utf8();
                    }
                    // Only objects are records; anything else goes to the slow path, which
                    // reports it. (More input never moves the record's first byte.)
                    while self.buf[self.pos] == b'{' {
                        // SAFETY: `extend_utf8` checked that `buf[pos..utf8_end]` is UTF-8
                        // (see `utf8_end`), and `pos` is at '{', a character boundary. Checking
                        // again here would cost a pass over the rest of the buffer per record.
                        let text = unsafe {
                            std::str::from_utf8_unchecked(&self.buf[self.pos..self.utf8_end])
                        };
                        match parse_in_place(text) {
                            Ok((value, n)) => {
                                let bytes = &self.buf[self.pos..self.pos + n];
                                if let Some(last) = memchr::memrchr(b'\n', bytes) {
                                    let newlines = memchr::memchr_iter(b'\n', bytes).count();
                                    self.line += newlines as u64;
                                    self.line_start = self.base + (self.pos + last) as u64 + 1;
                                }
                                self.pos += n;
                                f(Record {
                                    index,
                                    line,
                                    column,
                                    bytes,
                                    value: Ok(value),
                                    container_version,
                                })?;
                                parsed = true;
                                break;
                            }
                            Err(e) if e.is_eof() => {
                                // Incomplete: more input may complete it, unless what stops the
                                // text is a byte that is not UTF-8, which the slow path reports.
                                let too_big = self.end - self.pos > self.limits.max_record_bytes;
                                if too_big || self.utf8_stuck || !self.more()? {
                                    break;
                                }
                            }
                            Err(e) => {
                                self.parse_error = Some(e);
                                break;
                            }
                        }
                    }
                    if parsed {
                        continue;
                    }
                    // The slow path, for a record that does not parse: the scanner finds where
                    // it ends, so that the records after it can still be read.
                    let first_error = self.parse_error.take();
                    match self.record(line, column) {
                        Ok(span) => {
                            let bytes = &self.buf[span.start..span.end];
                            let value = match (span.oversized, first_error) {
                                (Some(len), _) => Err(Diagnostic::new(
                                    "record",
                                    format!("Record of {len} bytes is larger than the limit"),
                                    "(not shown)",
                                )),
                                (None, Some(e)) => Err(record_error(bytes, line, column, &e)),
                                (None, None) => parse_bytes(bytes, line, column),
                            };
                            f(Record {
                                index,
                                line,
                                column,
                                bytes,
                                value,
                                container_version,
                            })?;
                            continue;
                        }
                        Err(e) => {
                            self.state = State::Done;
                            return Err(e.into());
                        }
                    }
                }
            };
            let bytes = &self.buf[span.start..span.end];
            let value = parse_bytes(bytes, span.line, span.column);
            f(Record {
                index,
                line: span.line,
                column: span.column,
                bytes,
                value,
                container_version,
            })?;
        }
    }

    /// Finds the next record.
    fn advance(&mut self) -> Result<Option<Found>, ReadError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Start => self.start()?,
                State::InArray { first } => {
                    self.keep = self.pos;
                    let Some(b) = self.peek_non_ws()? else {
                        return Err(self.syntax(
                            "unexpected end of input: the array of records is not closed with ']'",
                        ));
                    };
                    if b == b']' {
                        self.pos += 1;
                        self.end_of_array()?;
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(self.syntax(format!(
                                "expected ',' or ']' after record {}, found {}",
                                self.index.saturating_sub(1),
                                describe(b)
                            )));
                        }
                        self.pos += 1;
                        match self.peek_non_ws()? {
                            Some(b']') => {
                                return Err(self.syntax(
                                    "trailing comma: remove the ',' after the last record",
                                ))
                            }
                            None => {
                                return Err(self.syntax(
                                    "unexpected end of input after ',': the file is truncated",
                                ))
                            }
                            _ => {}
                        }
                    }
                    self.state = State::InArray { first: false };
                    return Ok(Some(Found::RecordStart));
                }
                State::InObject { first } => {
                    if let Some(single) = self.object_member(first)? {
                        return Ok(Some(Found::Span(single)));
                    }
                }
            }
        }
    }

    fn start(&mut self) -> Result<(), ReadError> {
        self.fill_at_least(4)?;
        let head = &self.buf[self.pos..self.end];
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            // RFC 8259 lets a parser ignore a UTF-8 byte-order mark, and editors on Windows
            // write one; it carries no meaning, so it is skipped.
            self.pos += 3;
            self.line_start = 3;
        } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(self.syntax("the file is UTF-16; save it as UTF-8"));
        }
        match self.peek_non_ws()? {
            None => Err(self.syntax(
                "empty input: expected a JSON array of STIX objects, a bundle or an upload-API body",
            )),
            Some(b'[') if !self.require_upload => {
                self.container.shape = Some(Shape::Array);
                self.pos += 1;
                self.state = State::InArray { first: true };
                Ok(())
            }
            Some(b'{') => {
                self.object_start = Some((self.pos, self.line, self.column()));
                self.keep = self.pos;
                self.pos += 1;
                self.state = State::InObject { first: true };
                Ok(())
            }
            Some(b) => Err(self.syntax(format!(
                "the top-level value is {}; expected {}",
                describe(b),
                if self.require_upload {
                    "an upload-API body {\"sourcesystem\": …, \"stixobjects\": […]}"
                } else {
                    "a JSON array of STIX objects, a bundle or an upload-API body"
                }
            ))),
        }
    }

    /// Reads one member of the top-level object. Returns the whole object as a record if it
    /// ends without having had a records array.
    fn object_member(&mut self, first: bool) -> Result<Option<Span>, ReadError> {
        if self.object_has_records {
            self.keep = self.pos;
        }
        let Some(mut b) = self.peek_non_ws()? else {
            return Err(self.syntax("unexpected end of input: the object is not closed with '}'"));
        };
        if !first && b != b'}' {
            if b != b',' {
                return Err(self.syntax(format!("expected ',' or '}}', found {}", describe(b))));
            }
            self.pos += 1;
            b = self.peek_non_ws()?.unwrap_or(b'\0');
        } else if b == b'}' {
            self.pos += 1;
            return self.end_of_object();
        }
        if b != b'"' {
            return Err(self.syntax(format!("expected a member name, found {}", describe(b))));
        }
        // Positions as file offsets: reading on may move the buffer (what lies before `keep`
        // is dropped when it is refilled), never these bytes, which lie after `keep`.
        let key_start = self.base + self.pos as u64;
        self.skip_value()?;
        let key_at = (key_start - self.base) as usize;
        let key: String = serde_json::from_slice(&self.buf[key_at..self.pos])
            .map_err(|_| self.syntax("malformed member name"))?;
        match self.peek_non_ws()? {
            Some(b':') => self.pos += 1,
            other => {
                return Err(self.syntax(format!(
                    "expected ':' after \"{key}\", found {}",
                    other.map_or("end of input".into(), describe)
                )))
            }
        }
        let Some(vb) = self.peek_non_ws()? else {
            return Err(self.syntax("unexpected end of input: the file is truncated"));
        };
        let lower = key.to_ascii_lowercase();
        let records_key = match lower.as_str() {
            "objects" => Some(Shape::Bundle),
            "stixobjects" | "value" | "indicators" => Some(Shape::Upload),
            _ => None,
        };
        if let Some(kind) = ContainerKey::of(&lower) {
            let (count, spellings) = &mut self.container_keys[kind as usize];
            *count += 1;
            if spellings.len() < 2 {
                spellings.push(key.clone());
            }
        }
        self.state = State::InObject { first: false };
        let starts_records = records_key.is_some() && vb == b'[' && !self.object_has_records;
        if starts_records || self.object_has_records {
            // A container, then: each of its keys once.
            self.check_container_keys()?;
        }
        if let (Some(shape), true) = (records_key, starts_records) {
            if shape == Shape::Bundle && self.require_upload {
                return Err(self.syntax(
                    "an upload-API body names its records \"stixobjects\", not \"objects\"",
                ));
            }
            self.object_has_records = true;
            self.container.shape = Some(shape);
            self.pos += 1;
            self.keep = self.pos;
            self.state = State::InArray { first: true };
            return Ok(None);
        }
        let value_start = self.base + self.pos as u64;
        self.skip_value()?;
        let value = &self.buf[(value_start - self.base) as usize..self.pos];
        // `sourcesystem` is read whatever its length (the body's own limit bounds it), so that
        // a long one is refused for its length rather than taken for missing.
        let wanted = match lower.as_str() {
            "sourcesystem" => true,
            "spec_version" | "type" => value.len() < 4096,
            _ => false,
        };
        if wanted {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(value) {
                match lower.as_str() {
                    "sourcesystem" => self.container.sourcesystem = Some(v),
                    "spec_version" => self.container.spec_version = v.as_str().map(str::to_owned),
                    _ => self.container.container_type = v.as_str().map(str::to_owned),
                }
            }
        }
        Ok(None)
    }

    /// Refuses a container that named one of its keys twice, or named its records under two
    /// keys.
    fn check_container_keys(&self) -> Result<(), ReadError> {
        let Some((kind, spellings)) = self
            .container_keys
            .iter()
            .enumerate()
            .find(|(_, (count, _))| *count > 1)
            .map(|(kind, (_, spellings))| (kind, spellings))
        else {
            return Ok(());
        };
        let (a, b) = (&spellings[0], &spellings[1]);
        let message = if a == b {
            format!("the key \"{a}\" appears more than once in the top-level object; send it once")
        } else if kind == ContainerKey::Records as usize {
            format!("the body has both \"{a}\" and \"{b}\"; send the objects under one key")
        } else {
            format!(
                "\"{a}\" and \"{b}\" are the same key (names are matched in any case) and it \
                 appears more than once; send it once"
            )
        };
        Err(ReadError::Ambiguous {
            line: self.line,
            column: self.column(),
            message,
        })
    }

    fn end_of_object(&mut self) -> Result<Option<Span>, ReadError> {
        // Absolute, because reading on to the end of input may move the buffer.
        let end_abs = self.base + self.pos as u64;
        self.expect_end()?;
        if self.object_has_records {
            return Ok(None);
        }
        if self.require_upload {
            return Err(self.syntax(
                "the body has no \"stixobjects\" array; expected {\"sourcesystem\": …, \"stixobjects\": […]}",
            ));
        }
        // No records array: the object is itself the one record.
        self.container.shape = Some(Shape::Single);
        let (start, line, column) = self.object_start.expect("set when the object opened");
        Ok(Some(Span {
            start,
            end: (end_abs - self.base) as usize,
            line,
            column,
            oversized: None,
        }))
    }

    fn end_of_array(&mut self) -> Result<(), ReadError> {
        if self.object_start.is_some() {
            self.state = State::InObject { first: false };
            Ok(())
        } else {
            self.expect_end()
        }
    }

    /// After the top-level value only whitespace may follow.
    fn expect_end(&mut self) -> Result<(), ReadError> {
        self.state = State::Done;
        match self.peek_non_ws()? {
            None => Ok(()),
            Some(b) => Err(self.syntax(format!(
                "unexpected {} after the end of the top-level value",
                describe(b)
            ))),
        }
    }

    /// Delimits the record that starts at `pos` with the scanner.
    fn record(&mut self, line: u64, column: u64) -> Result<Span, ReadError> {
        self.keep = self.pos;
        let start_abs = self.base + self.pos as u64;
        let oversized = self.skip_value_bounded(true)?;
        let len = self.base + self.pos as u64 - start_abs;
        Ok(Span {
            start: if oversized { self.pos } else { self.keep },
            end: self.pos,
            line,
            column,
            oversized: oversized.then_some(len),
        })
    }

    fn skip_value(&mut self) -> Result<(), ReadError> {
        self.skip_value_bounded(false).map(|_| ())
    }

    /// Moves `pos` past one JSON value. Returns true if the value outgrew the record size limit
    /// (its bytes were then dropped while scanning).
    fn skip_value_bounded(&mut self, may_drop: bool) -> Result<bool, ReadError> {
        let Some(first) = self.peek()? else {
            return Err(self.syntax("unexpected end of input: expected a value"));
        };
        let start_abs = self.base + self.keep as u64;
        let mut dropped = false;
        match first {
            b'{' | b'[' | b'"' => {}
            _ => {
                // A scalar: it ends at a delimiter.
                loop {
                    match self.peek()? {
                        None => break,
                        Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n') => break,
                        Some(_) => self.pos += 1,
                    }
                }
                return Ok(false);
            }
        }
        self.open.clear();
        let mut in_string = false;
        loop {
            if self.pos >= self.end {
                if self.base + self.pos as u64 - start_abs > self.limits.max_record_bytes as u64 {
                    if !may_drop {
                        return Err(self.syntax(format!(
                            "a value larger than the record size limit ({} bytes) outside the records array",
                            self.limits.max_record_bytes
                        )));
                    }
                    dropped = true;
                }
                if dropped {
                    self.keep = self.pos;
                }
                if !self.more()? {
                    return Err(self.syntax(if in_string {
                        "unexpected end of input inside a string: the file is truncated"
                    } else {
                        "unexpected end of input inside a record: the file is truncated"
                    }));
                }
                continue;
            }
            if in_string {
                match memchr2(b'"', b'\\', &self.buf[self.pos..self.end]) {
                    None => self.pos = self.end,
                    Some(i) => {
                        self.pos += i;
                        if self.buf[self.pos] == b'\\' {
                            if self.pos + 1 >= self.end && !self.more()? {
                                return Err(self.syntax(
                                    "unexpected end of input inside a string: the file is truncated",
                                ));
                            }
                            self.pos += 2;
                        } else {
                            self.pos += 1;
                            in_string = false;
                            if self.open.is_empty() {
                                return Ok(dropped);
                            }
                        }
                    }
                }
                continue;
            }
            let b = self.buf[self.pos];
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    if self.open.len() >= self.limits.max_depth {
                        return Err(self.syntax(format!(
                            "nesting deeper than {} levels",
                            self.limits.max_depth
                        )));
                    }
                    self.open.push(b);
                }
                b'}' | b']' => {
                    let want = if b == b'}' { b'{' } else { b'[' };
                    if self.open.pop() != Some(want) {
                        return Err(
                            self.syntax(format!("'{}' does not close an open bracket", b as char))
                        );
                    }
                    if self.open.is_empty() {
                        self.pos += 1;
                        return Ok(dropped);
                    }
                }
                b'\n' => {
                    self.line += 1;
                    self.line_start = self.base + self.pos as u64 + 1;
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, ReadError> {
        if self.pos >= self.end && !self.more()? {
            return Ok(None);
        }
        Ok(Some(self.buf[self.pos]))
    }

    /// Skips whitespace, counting lines, and returns the next byte without consuming it.
    fn peek_non_ws(&mut self) -> Result<Option<u8>, ReadError> {
        loop {
            let Some(b) = self.peek()? else {
                return Ok(None);
            };
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.base + self.pos as u64;
                }
                _ => return Ok(Some(b)),
            }
        }
    }

    fn fill_at_least(&mut self, n: usize) -> Result<(), ReadError> {
        while self.end - self.pos < n && self.more()? {}
        Ok(())
    }

    /// Reads more input, dropping what is before `keep`. Returns false at end of input.
    fn more(&mut self) -> Result<bool, ReadError> {
        if self.eof {
            return Ok(false);
        }
        if self.keep > 0 {
            self.buf.copy_within(self.keep..self.end, 0);
            self.end -= self.keep;
            self.base += self.keep as u64;
            self.pos -= self.keep;
            self.utf8_end = self.utf8_end.saturating_sub(self.keep);
            if let Some((s, _, _)) = self.object_start.as_mut() {
                // The object's start is only needed while it may still be a single record.
                *s = s.saturating_sub(self.keep);
            }
            self.keep = 0;
        }
        if self.buf.len() - self.end < CHUNK {
            // Only a record larger than the buffer makes it grow; memory stays bounded by the
            // record size limit.
            let want = (self.end + CHUNK).max(2 * self.buf.len());
            self.buf.resize(want, 0);
        }
        let n = loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        self.end += n;
        if n == 0 {
            self.eof = true;
        }
        self.extend_utf8();
        Ok(n > 0)
    }

    /// Extends the known-UTF-8 stretch after `pos` as far as the input allows.
    fn extend_utf8(&mut self) {
        if self.utf8_end < self.pos {
            // What lies behind `pos` has been consumed, invalid bytes included.
            self.utf8_end = self.pos;
        }
        match std::str::from_utf8(&self.buf[self.utf8_end..self.end]) {
            Ok(_) => {
                self.utf8_end = self.end;
                self.utf8_stuck = false;
            }
            Err(e) => {
                self.utf8_end += e.valid_up_to();
                self.utf8_stuck = e.error_len().is_some();
            }
        }
    }

    fn column(&self) -> u64 {
        self.base + self.pos as u64 - self.line_start + 1
    }

    fn syntax(&self, message: impl Into<String>) -> ReadError {
        ReadError::Syntax {
            line: self.line,
            column: self.column(),
            message: message.into(),
        }
    }
}

/// The keys of a container that must come once each. The records' keys are one kind: a body
/// with `stixobjects` and `value` is as ambiguous as one with `stixobjects` twice.
#[derive(Debug, Clone, Copy)]
enum ContainerKey {
    SourceSystem = 0,
    Records = 1,
    SpecVersion = 2,
    Type = 3,
}

impl ContainerKey {
    fn of(lower: &str) -> Option<ContainerKey> {
        match lower {
            "sourcesystem" => Some(ContainerKey::SourceSystem),
            "objects" | "stixobjects" | "value" | "indicators" => Some(ContainerKey::Records),
            "spec_version" => Some(ContainerKey::SpecVersion),
            "type" => Some(ContainerKey::Type),
            _ => None,
        }
    }
}

fn describe(b: u8) -> String {
    match b {
        b'"' => "a string".into(),
        b'0'..=b'9' | b'-' => "a number".into(),
        b't' | b'f' => "a boolean".into(),
        b'n' => "null".into(),
        b'{' => "an object".into(),
        b'[' => "an array".into(),
        0x20..=0x7e => format!("'{}'", b as char),
        _ => format!("byte 0x{b:02X}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as (index, line, column, text), the error that stopped reading, the container.
    type Collected = (Vec<(usize, u64, u64, String)>, Option<String>, Container);

    fn collect(text: &[u8]) -> Collected {
        let mut r = JsonRecords::new(text, Limits::default());
        let mut out = Vec::new();
        let result = r.for_each(|rec| {
            out.push((
                rec.index,
                rec.line,
                rec.column,
                String::from_utf8_lossy(rec.bytes).into_owned(),
            ));
            Ok::<(), ReadError>(())
        });
        (
            out,
            result.err().map(|e| e.to_string()),
            r.container().clone(),
        )
    }

    /// Each record's index and value (or message).
    fn values(text: &[u8], limits: Limits) -> Vec<(usize, Result<String, String>)> {
        let mut r = JsonRecords::new(text, limits);
        let mut out = Vec::new();
        r.for_each(|rec| {
            out.push((
                rec.index,
                rec.value.map(|v| v.to_string()).map_err(|d| d.to_string()),
            ));
            Ok::<(), ReadError>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn array_records_with_positions() {
        let (recs, err, c) = collect(b"[\n  {\"a\": \"x]}\"},\n  {\"b\": [1, {\"c\": 2}]}\n]\n");
        assert_eq!(err, None);
        assert_eq!(c.shape, Some(Shape::Array));
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0], (0, 2, 3, "{\"a\": \"x]}\"}".into()));
        assert_eq!(recs[1].1, 3);
        assert_eq!(recs[1].3, "{\"b\": [1, {\"c\": 2}]}");
    }

    #[test]
    fn bundle_and_upload_bodies() {
        let (recs, err, c) =
            collect(br#"{"type":"bundle","id":"bundle--x","spec_version":"2.0","objects":[{"a":1},{"b":2}]}"#);
        assert_eq!(err, None);
        assert_eq!(c.shape, Some(Shape::Bundle));
        assert_eq!(c.records_version(), Some(SpecVersion::V20));
        assert_eq!(recs.len(), 2);
        let (recs, err, c) = collect(br#"{"SourceSystem":"x","Value":[{"a":1}]}"#);
        assert_eq!(err, None);
        assert_eq!(c.shape, Some(Shape::Upload));
        assert_eq!(c.sourcesystem, Some(serde_json::json!("x")));
        assert_eq!(recs.len(), 1);
    }

    #[test]
    fn single_object_is_one_record() {
        let (recs, err, c) = collect(b" {\"type\":\"indicator\",\"x\":[1]} ");
        assert_eq!(err, None);
        assert_eq!(c.shape, Some(Shape::Single));
        assert_eq!(recs[0].3, "{\"type\":\"indicator\",\"x\":[1]}");
    }

    #[test]
    fn structural_errors_name_line_and_column() {
        let cases: &[(&[u8], &str)] = &[
            (b"[{\"a\":1},\n{\"b\":", "line 2, column 6: unexpected end of input inside a record: the file is truncated"),
            (b"[{\"a\":1}", "line 1, column 9: unexpected end of input: the array of records is not closed with ']'"),
            (b"[{\"a\":1},]", "line 1, column 10: trailing comma: remove the ',' after the last record"),
            (b"[{\"a\":1} {\"b\":2}]", "line 1, column 10: expected ',' or ']' after record 0, found an object"),
            (b"[{\"a\":[1}]", "line 1, column 9: '}' does not close an open bracket"),
            (b"\"just a string\"", "line 1, column 1: the top-level value is a string; expected a JSON array of STIX objects, a bundle or an upload-API body"),
            (b"", "line 1, column 1: empty input: expected a JSON array of STIX objects, a bundle or an upload-API body"),
            (b"[] x", "line 1, column 4: unexpected 'x' after the end of the top-level value"),
            (b"\xFF\xFE[", "line 1, column 1: the file is UTF-16; save it as UTF-8"),
        ];
        for (input, want) in cases {
            let (_, err, _) = collect(input);
            assert_eq!(
                err.as_deref(),
                Some(*want),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn deep_nesting_is_one_error() {
        let mut text = b"[".to_vec();
        text.extend(std::iter::repeat_n(b'[', 1_000_000));
        let (_, err, _) = collect(&text);
        assert_eq!(
            err.as_deref(),
            Some("line 1, column 10002: nesting deeper than 10000 levels")
        );
    }

    #[test]
    fn bom_is_skipped() {
        let (recs, err, _) = collect(b"\xEF\xBB\xBF[{\"a\":1}]");
        assert_eq!(err, None);
        assert_eq!(recs.len(), 1);
    }

    #[test]
    fn oversized_record_is_skipped_not_buffered() {
        let mut text = b"[{\"a\":\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', 3 << 20));
        text.extend_from_slice(b"\"},{\"b\":1}]");
        let limits = Limits {
            max_record_bytes: 1 << 20,
            ..Limits::default()
        };
        let mut r = JsonRecords::new(&text[..], limits);
        let mut seen = Vec::new();
        r.for_each(|rec| {
            seen.push((rec.bytes.to_vec(), rec.value.is_ok()));
            Ok::<(), ReadError>(())
        })
        .unwrap();
        assert_eq!(seen, vec![(vec![], false), (b"{\"b\":1}".to_vec(), true)]);
        assert!(r.buf.capacity() < 3 << 20, "the big record was buffered");
    }

    #[test]
    fn record_errors_are_per_record_with_file_positions() {
        let text = b"[\n{\"a\": tru},\n{\"b\": \"\xFF\"},\n{\"c\": 1}\n]";
        let got = values(text, Limits::default());
        assert_eq!(
            got,
            vec![
                (0, Err("Error for Property=record: Malformed JSON at line 2, column 10: expected ident. Actual value: (not shown).".into())),
                (1, Err("Error for Property=record: Invalid UTF-8 at line 3, column 8. Actual value: (not shown).".into())),
                (2, Ok("{\"c\":1}".into())),
            ]
        );
    }

    #[test]
    fn truncation_after_the_buffer_moved_is_reported_where_it_is() {
        // The buffer is compacted between reads; bytes left behind past its end must never be
        // taken for input.
        let big = format!("{{\"a\":\"{}\"}}", "qz".repeat(CHUNK / 2));
        let text = format!("[{big},\n{{\"b\":\"abc");
        let (recs, err, _) = collect(text.as_bytes());
        assert_eq!(recs.len(), 1);
        assert_eq!(
            err.as_deref(),
            Some(
                "line 2, column 10: unexpected end of input inside a string: the file is truncated"
            )
        );
    }

    #[test]
    fn records_split_across_reads_parse_the_same() {
        // Records larger than one read, so that the in-place parse meets the buffer's end.
        let big = format!("{{\"a\":\"{}\",\"b\":[1,2]}}", "y".repeat(CHUNK / 3));
        let text = format!("[{big},\n{big},\n{big},\n{big}]");
        let got = values(text.as_bytes(), Limits::default());
        assert_eq!(got.len(), 4);
        for (i, (index, v)) in got.iter().enumerate() {
            assert_eq!(*index, i);
            assert_eq!(v.as_deref(), Ok(big.as_str()));
        }
    }

    #[test]
    fn small_reads_give_the_same_records() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(3);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let text = br#"{"sourcesystem":"s","stixobjects":[{"a":"\"x\\"},{"b":[1,2,{"c":"}"}]}]}"#;
        let mut r = JsonRecords::new(Trickle(text), Limits::default());
        let mut got = Vec::new();
        r.for_each(|rec| {
            assert!(rec.value.is_ok());
            got.push(String::from_utf8(rec.bytes.to_vec()).unwrap());
            Ok::<(), ReadError>(())
        })
        .unwrap();
        assert_eq!(got, vec![r#"{"a":"\"x\\"}"#, r#"{"b":[1,2,{"c":"}"}]}"#]);
    }

    #[test]
    fn members_after_the_records_survive_the_buffer_moving() {
        // Found by fuzzing: a member after the records array whose value needs another read
        // (which moves the buffer) was sliced at its old position: a panic, a 500 from the
        // service. The input arrives in two reads, split inside that value.
        struct Chunks(Vec<Vec<u8>>);
        impl Read for Chunks {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let Some(mut chunk) = (!self.0.is_empty()).then(|| self.0.remove(0)) else {
                    return Ok(0);
                };
                let n = chunk.len().min(out.len());
                out[..n].copy_from_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.0.insert(0, chunk.split_off(n));
                }
                Ok(n)
            }
        }
        let source = "s".repeat(3000);
        let head = r#"{"stixobjects":[{"a":1},{"b":2}],"sourcesystem":"ss"#;
        let tail = format!(r#"{}"}}"#, &source[2..]);
        for keys in [
            [head.to_owned(), tail.clone()],
            [format!("{head}{tail}"), String::new()],
        ] {
            let chunks = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
            let mut r = JsonRecords::new(Chunks(chunks), Limits::default()).upload_only();
            let mut n = 0;
            r.for_each(|_| {
                n += 1;
                Ok::<(), ReadError>(())
            })
            .unwrap();
            assert_eq!(n, 2);
            assert_eq!(r.container().sourcesystem, Some(serde_json::json!(source)));
        }
    }

    fn minified(src: &[u8]) -> String {
        let mut out = b"prefix:".to_vec();
        minify(src, &mut out);
        let out = String::from_utf8(out).expect("minify keeps UTF-8");
        out.strip_prefix("prefix:")
            .expect("minify appends")
            .to_owned()
    }

    #[test]
    fn minify_removes_only_whitespace_between_tokens() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("{}", "{}"),
            (" \t\r\n{ \t\r\n} \n", "{}"),
            (
                "{\n  \"a b\" : [ 1 , -2.50e+3 , true , false , null ] ,\r\n\t\"c\":{ }\n}",
                r#"{"a b":[1,-2.50e+3,true,false,null],"c":{}}"#,
            ),
            // Escaped quotes and backslashes do not end the string; whitespace inside stays.
            (
                r#"{ "k" : "a \" b" , "l" : "c \\" , "m" : "\\\" }" }"#,
                r#"{"k":"a \" b","l":"c \\","m":"\\\" }"}"#,
            ),
            (r#"[ "\\\\" , "x" ]"#, r#"["\\\\","x"]"#),
            // Escapes of every kind are copied as written, not decoded.
            (
                r#"[ "\u0041 \u00e9 \ud83d\ude00 \/ \b\f\n\r\t" ]"#,
                r#"["\u0041 \u00e9 \ud83d\ude00 \/ \b\f\n\r\t"]"#,
            ),
            // Raw UTF-8 in strings and keys, and a non-breaking space, which is not JSON
            // whitespace (it can only occur inside a string anyway).
            (
                "{ \"clé ☃\" : \"é \u{a0} 😀 \" }",
                "{\"clé ☃\":\"é \u{a0} 😀 \"}",
            ),
            ("  42  ", "42"),
            ("\"  lone string  \"", "\"  lone string  \""),
        ];
        for (src, want) in cases {
            assert_eq!(minified(src.as_bytes()), *want, "{src:?}");
            if !src.is_empty() {
                let a: serde_json::Value = serde_json::from_str(src).unwrap();
                let b: serde_json::Value = serde_json::from_str(want).unwrap();
                assert_eq!(a, b, "{src:?}");
            }
        }
    }

    #[test]
    fn minify_does_not_panic_on_broken_input() {
        for src in [
            &b"\"abc"[..],
            b"\"abc\\",
            b"[\"a\\\"",
            b"{ \"a\" : \"\\",
            b"\\ \" ",
            b"\xff \xfe",
        ] {
            let mut out = Vec::new();
            minify(src, &mut out);
            assert!(out.len() <= src.len());
        }
    }

    /// Arbitrary JSON values, strings drawn to contain what needs escaping.
    fn arb_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let string = prop_oneof![
            any::<String>(),
            "[ \t\r\n\"\\\\/{}\\[\\]:,a-z\u{e9}\u{1F600}\u{0}-\u{1f}]{0,12}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            string.clone().prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((string.clone(), inner), 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Minifying serde_json's pretty form gives serde_json's compact form, byte for byte
        /// (both come from one value, so numbers and escapes are spelled alike).
        #[test]
        fn minify_agrees_with_serde_json(v in arb_value()) {
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            let compact = serde_json::to_string(&v).unwrap();
            let got = minified(pretty.as_bytes());
            proptest::prop_assert_eq!(&got, &compact);
            // Parsed, it is the value the compact form parses to (not `v` itself: parsing a
            // float may differ from it in the last bit, whatever the whitespace).
            let back: serde_json::Value = serde_json::from_str(&got).unwrap();
            let expected: serde_json::Value = serde_json::from_str(&compact).unwrap();
            proptest::prop_assert_eq!(back, expected);
            // Minifying is idempotent.
            proptest::prop_assert_eq!(minified(compact.as_bytes()), compact);
        }
    }
}
