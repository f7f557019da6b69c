//! The streaming reader of a CSV template file: comment rows and the header first, then one
//! [`CsvRecord`] per data row.
//!
//! Invariants: one [`ByteRecord`] is reused for every row, so memory does not grow with the
//! file; `index` counts data rows only (not the header, comment rows or blank rows); `line` is
//! the 1-based file line where the row starts, right across CRLF, blank lines and quoted cells
//! holding line breaks; after a fatal [`CsvError`] the iterator ends.

use std::io::Read;

use csv::ByteRecord;
use stix::Timestamp;

use super::columns::N_COLS;
use super::header::Layout;
use super::row::RowCtx;
use super::{CsvError, CsvRecord, IdScope, InvalidRow, Template};

/// Reads a CSV template file row by row.
///
/// [`CsvReader::new`] reads up to the header and fails with a [`CsvError`] when the file
/// cannot be a template; the iterator then yields one [`CsvRecord`] per data row, or a fatal
/// `CsvError` (an I/O error), after which it ends.
pub struct CsvReader<R> {
    rdr: csv::Reader<LineCounter<R>>,
    record: ByteRecord,
    layout: Layout,
    header: Vec<String>,
    header_line: u64,
    scope: IdScope,
    now: String,
    now_ts: Timestamp,
    next_index: usize,
    /// Comment rows are skipped only directly after the header, before the first data row.
    seen_data: bool,
    done: bool,
    /// Reused buffer for the UUIDv5 name.
    id_name: Vec<u8>,
}

impl<R: Read> CsvReader<R> {
    /// Reads the comment rows and the header of `input`.
    ///
    /// `template`: `None` detects it from the header; `Some` insists on it and says so when the
    /// header is the other one's. `now` becomes `created` and `modified` of every indicator.
    pub fn new(
        input: R,
        template: Option<Template>,
        scope: IdScope,
        now: Timestamp,
    ) -> Result<CsvReader<R>, CsvError> {
        let rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            // Column counts are checked per row, so that a bad row is a per-row error.
            .flexible(true)
            .from_reader(LineCounter::new(input));
        let mut this = CsvReader {
            rdr,
            record: ByteRecord::new(),
            layout: Layout {
                template: template.unwrap_or(Template::CsvOther),
                at: [None; N_COLS],
                width: 0,
                unnamed: Vec::new(),
            },
            header: Vec::new(),
            header_line: 1,
            scope,
            now: now.to_string(),
            now_ts: now,
            next_index: 0,
            seen_data: false,
            done: false,
            id_name: Vec::new(),
        };
        let mut saw_rows = false;
        loop {
            let Some(line) = this.read()? else {
                return Err(if saw_rows {
                    CsvError::NoHeader {
                        line: this.rdr.get_mut().lines_read(),
                    }
                } else {
                    CsvError::EmptyFile
                });
            };
            if is_blank(&this.record) {
                continue;
            }
            saw_rows = true;
            if is_comment(&this.record) {
                continue;
            }
            this.header = this
                .record
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let s = String::from_utf8_lossy(c);
                    // csv-core drops a BOM at the very start; this catches one after a comment
                    // row that a tool prepended.
                    let s = if i == 0 {
                        s.trim_start_matches('\u{feff}')
                    } else {
                        &s
                    };
                    s.trim().to_owned()
                })
                .collect();
            this.header_line = line;
            break;
        }
        this.layout = Layout::from_header(&this.header, this.header_line, template)?;
        Ok(this)
    }

    /// The template the file follows.
    pub fn template(&self) -> Template {
        self.layout.template
    }

    /// The header's cells, trimmed, as the file spells them (for the error file).
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The 1-based line of the header row.
    pub fn header_line(&self) -> u64 {
        self.header_line
    }

    /// Reads the next row into `self.record`; returns the line it starts on, `None` at the end.
    fn read(&mut self) -> Result<Option<u64>, CsvError> {
        match self.rdr.read_byte_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => {
                let line = self.rdr.get_mut().lines_read();
                let source = match e.into_kind() {
                    csv::ErrorKind::Io(io) => io,
                    other => std::io::Error::other(format!("{other:?}")),
                };
                return Err(CsvError::Io { line, source });
            }
        }
        // csv's own `Position::line` is where the previous record ended, which is not where
        // this one starts after blank lines or a CRLF. The row's last byte (its terminator, or
        // its last character at the end of the file) is on the row's last line; the row starts
        // as many lines earlier as its cells hold line breaks.
        let end = self.rdr.position().byte();
        let last_line = self.rdr.get_mut().line_of(end.saturating_sub(1));
        let inside = memchr::memchr_iter(b'\n', self.record.as_slice()).count() as u64;
        Ok(Some(last_line.saturating_sub(inside).max(1)))
    }
}

/// Counts line breaks as the CSV parser pulls bytes, so that a row's line can be told from the
/// byte offset where it ends. Keeps only the offsets of breaks not yet passed (those in the
/// parser's read-ahead), so memory does not grow with the file.
struct LineCounter<R> {
    inner: R,
    /// Bytes read from `inner` so far.
    offset: u64,
    /// Offsets of `\n` bytes at or after the last queried offset.
    ahead: std::collections::VecDeque<u64>,
    /// Number of `\n` bytes before the last queried offset.
    passed: u64,
}

impl<R> LineCounter<R> {
    fn new(inner: R) -> Self {
        LineCounter {
            inner,
            offset: 0,
            ahead: std::collections::VecDeque::new(),
            passed: 0,
        }
    }

    /// The 1-based line of the byte at `offset`. Offsets must not decrease between calls.
    fn line_of(&mut self, offset: u64) -> u64 {
        while self.ahead.front().is_some_and(|&nl| nl < offset) {
            self.ahead.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }

    /// The line reached so far, for errors that have no row.
    fn lines_read(&mut self) -> u64 {
        self.line_of(self.offset)
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let base = self.offset;
        self.ahead
            .extend(memchr::memchr_iter(b'\n', &buf[..n]).map(|i| base + i as u64));
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Result<CsvRecord, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line = match self.read() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            // Excel leaves rows of empty cells (",,,,") below the data; they are no record.
            if is_blank(&self.record) {
                continue;
            }
            if !self.seen_data && is_comment(&self.record) {
                continue;
            }
            self.seen_data = true;
            let index = self.next_index;
            self.next_index += 1;
            let row = RowCtx {
                layout: &self.layout,
                scope: &self.scope,
                now: &self.now,
                now_ts: self.now_ts,
            };
            let outcome = row
                .map(&self.record, &mut self.id_name)
                .map_err(|errors| InvalidRow {
                    cells: kept_cells(&self.record, self.layout.width),
                    errors,
                });
            return Some(Ok(CsvRecord {
                index,
                line,
                outcome,
            }));
        }
        None
    }
}

/// The cells of an invalid row, for the error file. A row with far more fields than the header
/// (a runaway line of commas) keeps its first cells and the rest joined into the last one, so
/// that a small input cannot become millions of strings.
fn kept_cells(record: &ByteRecord, width: usize) -> Vec<String> {
    let keep = width.max(1) + 16;
    let mut cells: Vec<String> = record
        .iter()
        .take(keep)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    if record.len() > keep {
        let last = cells.last_mut().expect("keep >= 1");
        for c in record.iter().skip(keep) {
            last.push(',');
            last.push_str(&String::from_utf8_lossy(c));
        }
    }
    cells
}

fn is_blank(record: &ByteRecord) -> bool {
    record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace))
}

fn is_comment(record: &ByteRecord) -> bool {
    let first = record.get(0).unwrap_or_default();
    let first = first.strip_prefix(b"\xef\xbb\xbf").unwrap_or(first);
    first.trim_ascii_start().starts_with(b"#")
}
