//! The structural scanner and the read buffer: moving past one JSON value without parsing it,
//! reading more input, and keeping line and column.
//!
//! Invariants: the scanner tracks only what decides where a value ends (strings, escapes, a
//! stack of open brackets no deeper than [`Limits::max_depth`](super::Limits)); the buffer keeps
//! only the bytes from `keep` on, so memory is bounded by the largest record, and a value
//! larger than the record size limit is passed without being kept; the known-UTF-8 stretch is
//! checked once, as input arrives; line and column are kept as `pos` moves, so that every
//! error can name them.

use memchr::memchr2;
use std::io::{self, Read};

use super::{JsonRecords, ReadError, Span, CHUNK};

impl<R: Read> JsonRecords<R> {
    /// Delimits the record that starts at `pos` with the scanner.
    pub(super) fn record(&mut self, line: u64, column: u64) -> Result<Span, ReadError> {
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

    pub(super) fn skip_value(&mut self) -> Result<(), ReadError> {
        self.skip_value_bounded(false).map(|_| ())
    }

    /// Moves `pos` past one JSON value. Returns true if the value outgrew the record size limit
    /// (its bytes were then dropped while scanning).
    fn skip_value_bounded(&mut self, may_drop: bool) -> Result<bool, ReadError> {
        let Some(first) = self.peek()? else {
            return Err(self.syntax("unexpected end of input: expected a value"));
        };
        if !matches!(first, b'{' | b'[' | b'"') {
            self.skip_scalar()?;
            return Ok(false);
        }
        let start_abs = self.base + self.keep as u64;
        let mut dropped = false;
        self.open.clear();
        let mut in_string = false;
        loop {
            if self.pos >= self.end {
                self.read_inside_value(start_abs, may_drop, in_string, &mut dropped)?;
                continue;
            }
            if in_string {
                if self.string_step()? {
                    in_string = false;
                    if self.open.is_empty() {
                        return Ok(dropped);
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

    /// Moves `pos` past a scalar (a number or a literal), which ends at a delimiter.
    fn skip_scalar(&mut self) -> Result<(), ReadError> {
        loop {
            match self.peek()? {
                None => return Ok(()),
                Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n') => return Ok(()),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Reads more input when the scanner has reached the end of the buffer inside a value that
    /// started at file offset `start_abs`. Once the value is larger than the record size limit,
    /// its bytes are dropped as they are passed (`dropped` becomes true and stays so), so that
    /// it is never held in memory; outside the records array (`!may_drop`) that is fatal.
    fn read_inside_value(
        &mut self,
        start_abs: u64,
        may_drop: bool,
        in_string: bool,
        dropped: &mut bool,
    ) -> Result<(), ReadError> {
        if self.base + self.pos as u64 - start_abs > self.limits.max_record_bytes as u64 {
            if !may_drop {
                return Err(self.syntax(format!(
                    "a value larger than the record size limit ({} bytes) outside the records array",
                    self.limits.max_record_bytes
                )));
            }
            *dropped = true;
        }
        if *dropped {
            self.keep = self.pos;
        }
        if !self.more()? {
            return Err(self.syntax(if in_string {
                "unexpected end of input inside a string: the file is truncated"
            } else {
                "unexpected end of input inside a record: the file is truncated"
            }));
        }
        Ok(())
    }

    /// Inside a string: moves `pos` past the next escape or the closing quote, or to the end of
    /// the buffer if there is neither. Returns whether the string has closed.
    fn string_step(&mut self) -> Result<bool, ReadError> {
        let Some(i) = memchr2(b'"', b'\\', &self.buf[self.pos..self.end]) else {
            self.pos = self.end;
            return Ok(false);
        };
        self.pos += i;
        if self.buf[self.pos] == b'"' {
            self.pos += 1;
            return Ok(true);
        }
        // A backslash: the byte after it is escaped, and may still be to come.
        if self.pos + 1 >= self.end && !self.more()? {
            return Err(
                self.syntax("unexpected end of input inside a string: the file is truncated")
            );
        }
        self.pos += 2;
        Ok(false)
    }

    fn peek(&mut self) -> Result<Option<u8>, ReadError> {
        if self.pos >= self.end && !self.more()? {
            return Ok(None);
        }
        Ok(Some(self.buf[self.pos]))
    }

    /// Skips whitespace, counting lines, and returns the next byte without consuming it.
    pub(super) fn peek_non_ws(&mut self) -> Result<Option<u8>, ReadError> {
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

    pub(super) fn fill_at_least(&mut self, n: usize) -> Result<(), ReadError> {
        while self.end - self.pos < n && self.more()? {}
        Ok(())
    }

    /// Reads more input, dropping what is before `keep`. Returns false at end of input.
    pub(super) fn more(&mut self) -> Result<bool, ReadError> {
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
    pub(super) fn extend_utf8(&mut self) {
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

    pub(super) fn column(&self) -> u64 {
        self.base + self.pos as u64 - self.line_start + 1
    }

    pub(super) fn syntax(&self, message: impl Into<String>) -> ReadError {
        ReadError::Syntax {
            line: self.line,
            column: self.column(),
            message: message.into(),
        }
    }
}
