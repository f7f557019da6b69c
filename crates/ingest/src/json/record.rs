//! One record of the records array: parsed where it lies in the buffer (the fast path), or, if
//! it does not parse, delimited by the structural scanner and reported (the slow path), so that
//! the records after a bad one are still read.
//!
//! Invariants: a record is parsed once, straight from the buffer, with strings borrowing it; the
//! buffer's UTF-8 was checked as it arrived and is not checked again; a record's error belongs
//! to that record alone and names line and column in the file; a record larger than the size
//! limit is passed without being kept, and reported by its length.

use std::io::Read;

use stix::{Diagnostic, Json, SpecVersion};

use super::{JsonRecords, ReadError, Record, State};

/// What is known of a record before its bytes: its place among the records and in the file,
/// and the version its container declares.
#[derive(Debug, Clone, Copy)]
pub(super) struct Start {
    pub(super) index: usize,
    pub(super) line: u64,
    pub(super) column: u64,
    pub(super) container_version: Option<SpecVersion>,
}

impl Start {
    pub(super) fn record<'b>(
        self,
        bytes: &'b [u8],
        value: Result<Json<'b>, Diagnostic>,
    ) -> Record<'b> {
        Record {
            index: self.index,
            line: self.line,
            column: self.column,
            bytes,
            value,
            container_version: self.container_version,
        }
    }
}

impl<R: Read> JsonRecords<R> {
    /// Hands `f` the record of the records array that starts at `pos`.
    pub(super) fn array_record<E: From<ReadError>>(
        &mut self,
        start: Start,
        f: &mut impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.keep = self.pos;
        if self.parse_where_it_lies(start, f)? {
            return Ok(());
        }
        self.delimit_unparsed(start, f)
    }

    /// The fast path: the record is parsed where it lies, once, reading more input while it is
    /// incomplete. Returns false, having handed `f` nothing, if the record does not parse; the
    /// parser's error is then kept in `parse_error` for the slow path.
    fn parse_where_it_lies<E: From<ReadError>>(
        &mut self,
        start: Start,
        f: &mut impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<bool, E> {
        if self.utf8_end < self.pos {
            self.extend_utf8();
        }
        // Only objects are records; anything else goes to the slow path, which reports it.
        // (More input never moves the record's first byte.)
        while self.buf[self.pos] == b'{' {
            // SAFETY: `extend_utf8` checked that `buf[pos..utf8_end]` is UTF-8 (see
            // `utf8_end`), and `pos` is at '{', a character boundary. Checking again here would
            // cost a pass over the rest of the buffer per record.
            let text = unsafe { std::str::from_utf8_unchecked(&self.buf[self.pos..self.utf8_end]) };
            match parse_in_place(text) {
                Ok((value, n)) => {
                    // `value` borrows the buffer, so only fields other than `buf` change
                    // while it lives.
                    let bytes = &self.buf[self.pos..self.pos + n];
                    if let Some(last) = memchr::memrchr(b'\n', bytes) {
                        let newlines = memchr::memchr_iter(b'\n', bytes).count();
                        self.line += newlines as u64;
                        self.line_start = self.base + (self.pos + last) as u64 + 1;
                    }
                    self.pos += n;
                    f(start.record(bytes, Ok(value)))?;
                    return Ok(true);
                }
                Err(e) if e.is_eof() => {
                    // Incomplete: more input may complete it, unless what stops the text is a
                    // byte that is not UTF-8, which the slow path reports.
                    let too_big = self.end - self.pos > self.limits.max_record_bytes;
                    if too_big || self.utf8_stuck || !self.more()? {
                        return Ok(false);
                    }
                }
                Err(e) => {
                    self.parse_error = Some(e);
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }

    /// The slow path, for a record that does not parse: the scanner finds where it ends, so
    /// that the records after it can still be read, and `f` gets the record's error.
    fn delimit_unparsed<E: From<ReadError>>(
        &mut self,
        start: Start,
        f: &mut impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let first_error = self.parse_error.take();
        let span = match self.record(start.line, start.column) {
            Ok(span) => span,
            Err(e) => {
                self.state = State::Done;
                return Err(e.into());
            }
        };
        let bytes = &self.buf[span.start..span.end];
        let (line, column) = (start.line, start.column);
        let value = match (span.oversized, first_error) {
            (Some(len), _) => Err(Diagnostic::new(
                "record",
                format!("Record of {len} bytes is larger than the limit"),
                "(not shown)",
            )),
            (None, Some(e)) => Err(record_error(bytes, line, column, &e)),
            (None, None) => parse_bytes(bytes, line, column),
        };
        f(start.record(bytes, value))
    }
}

/// Parses one JSON value at the start of `text`, returning it and the bytes it took.
///
/// `#[inline]`: it is the per-record call of the fast path. Inlined, it and the parser's code
/// are compiled with the generic reader that calls it, where the parser's inner calls are
/// inlined too; otherwise whether they were depended on how this crate's modules happened to
/// be grouped into codegen units, and splitting `json.rs` into files cost the reader about
/// 3.5% more instructions per record.
#[inline]
fn parse_in_place(text: &str) -> Result<(Json<'_>, usize), serde_json::Error> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Json>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, stream.byte_offset())),
        Some(Err(e)) => Err(e),
        None => Err(serde::de::Error::custom("expected a value")),
    }
}

/// Parses a delimited record's bytes (the slow path).
pub(super) fn parse_bytes(bytes: &[u8], line: u64, column: u64) -> Result<Json<'_>, Diagnostic> {
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
