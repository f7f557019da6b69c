//! The error file of an import: every invalid record with its messages, written as the import
//! runs, in the form of the uploaded file (JSON for a JSON import, CSV for a CSV import).
//!
//! # Key decisions
//!
//! * **Streamed.** An import of 250 MB may have hundreds of thousands of invalid records, so
//!   each entry is written as soon as it is known and nothing is kept but a small reused
//!   buffer; memory does not grow with the number of errors. [`preview`] reads back only the
//!   entries it returns, for the same reason.
//! * **JSON: one entry per line.** The JSON error file is a JSON array,
//!   `[\n{"recordIndex":N,"line":L,"errorMessages":["…"]},\n…\n]\n` (an empty one is `[]\n`).
//!   Strings are escaped, so an entry never spans lines, and [`preview`] can read entries line by
//!   line instead of parsing the whole array. `line` is written only when it is known: it
//!   places a record that has no index of its own (a file-level failure) in the file.
//! * **CSV: the analyst's row, next to what is wrong with it.** The CSV error file has the
//!   columns `line`, `errorMessages`, then the input file's own header cells, and one row per
//!   invalid record: its 1-based file line, its messages in one cell (one per line of the cell),
//!   and the row's original cells, so that it can be opened in a spreadsheet and the rows
//!   corrected (to import them again, delete the first two columns; a cell the neutralizing
//!   below prefixed with `'` keeps that prefix until someone removes it). It has no
//!   `recordIndex` column: the file line is what a person uses to find a row. [`preview`] of a
//!   CSV error file therefore returns `line`, `errorMessages` and `cells`, without
//!   `recordIndex`.
//! * **Safe to open in a spreadsheet.** Every text cell of the CSV form (header cells, the
//!   messages cell and the data cells) goes through [`neutralize_cell`], because the cells come
//!   from an uploaded file and a cell such as `=HYPERLINK(…)` would otherwise run as a formula
//!   on the machine of whoever opens the error file. (The `line` cell is a number the writer
//!   formats itself.) [`preview`] returns the cells as the file holds them, neutralized.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use serde_json::{Map, Value};

use crate::csvmap::neutralize_cell;

/// The header cells the CSV error file puts before the input file's own.
const CSV_LEADING: [&str; 2] = ["line", "errorMessages"];

/// A streaming writer of an import's error file, JSON or CSV.
///
/// Entries are written by [`ErrorFile::record`] as they come, and [`ErrorFile::finish`] closes
/// the file; a file that is dropped without `finish` is incomplete (a JSON array without its
/// closing bracket), which is what an interrupted import leaves.
pub struct ErrorFile<W: Write> {
    kind: Kind<W>,
    count: u64,
}

enum Kind<W: Write> {
    Json {
        w: W,
        /// Reused for each entry, so that an entry is one `write_all`.
        buf: Vec<u8>,
    },
    Csv {
        /// Boxed: the CSV writer carries its own buffer state, ten times the JSON variant.
        w: Box<csv::Writer<BomFirst<W>>>,
        /// The header row, neutralized, until it is written with the first entry or by
        /// `finish` (so that the constructors need not do I/O and cannot fail).
        header: Option<Vec<String>>,
    },
}

impl<W: Write> ErrorFile<W> {
    /// An error file in the JSON form, for a JSON import.
    pub fn json(w: W) -> ErrorFile<W> {
        ErrorFile {
            kind: Kind::Json {
                w,
                buf: Vec::with_capacity(512),
            },
            count: 0,
        }
    }

    /// An error file in the CSV form, for a CSV import whose header row is `header` (the input
    /// file's header cells as read; empty when the file failed before a header was read, and
    /// then the error file has only the columns `line` and `errorMessages`).
    ///
    /// The writer is flexible about row lengths, because an invalid row may have more or fewer
    /// cells than the header (that is often why it is invalid), and it is kept as it was.
    pub fn csv(w: W, header: &[String]) -> ErrorFile<W> {
        let w = Box::new(crate::csvmap::spreadsheet_safe_writer(
            BomFirst {
                inner: w,
                bom_written: false,
            },
            true,
        ));
        let header = CSV_LEADING
            .iter()
            .map(|h| (*h).to_owned())
            .chain(header.iter().map(|h| neutralize_cell(h).into_owned()))
            .collect();
        ErrorFile {
            kind: Kind::Csv {
                w,
                header: Some(header),
            },
            count: 0,
        }
    }

    /// Writes one invalid record.
    ///
    /// `index` is the record's 0-based index among the file's records (the JSON form's
    /// `recordIndex`; the CSV form has no such column, see the module documentation). `line` is
    /// its 1-based file line, if known. `cells` are a CSV row's original cells (the JSON form
    /// ignores them). `messages` are every problem of the record; the CSV form writes them into
    /// one cell, one per line.
    pub fn record(
        &mut self,
        index: u64,
        line: Option<u64>,
        cells: Option<&[String]>,
        messages: &[String],
    ) -> io::Result<()> {
        match &mut self.kind {
            Kind::Json { w, buf } => {
                buf.clear();
                buf.extend_from_slice(if self.count == 0 { b"[\n" } else { b",\n" });
                write!(buf, "{{\"recordIndex\":{index}")?;
                if let Some(line) = line {
                    write!(buf, ",\"line\":{line}")?;
                }
                buf.extend_from_slice(b",\"errorMessages\":[");
                for (i, m) in messages.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    serde_json::to_writer(&mut *buf, m).map_err(io::Error::from)?;
                }
                buf.extend_from_slice(b"]}");
                w.write_all(buf)?;
            }
            Kind::Csv { w, header } => {
                if let Some(h) = header.take() {
                    write_csv_header(w, &h)?;
                }
                match line {
                    Some(l) => w.write_field(l.to_string()).map_err(csv_io)?,
                    None => w.write_field("").map_err(csv_io)?,
                }
                let joined = messages.join("\n");
                w.write_field(neutralize_cell(&joined).as_bytes())
                    .map_err(csv_io)?;
                for c in cells.unwrap_or_default() {
                    w.write_field(neutralize_cell(c).as_bytes())
                        .map_err(csv_io)?;
                }
                w.write_record(std::iter::empty::<&[u8]>())
                    .map_err(csv_io)?;
            }
        }
        self.count += 1;
        Ok(())
    }

    /// The number of entries written so far (the import's count of invalid records, as far as
    /// they went to this file).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Completes the file (closes the JSON array; writes the CSV header if no entry did) and
    /// flushes it, returning the underlying writer (so that the caller can `sync_all` a file
    /// before it reports the import finished).
    pub fn finish(self) -> io::Result<W> {
        match self.kind {
            Kind::Json { mut w, .. } => {
                w.write_all(if self.count == 0 { b"[]\n" } else { b"\n]\n" })?;
                w.flush()?;
                Ok(w)
            }
            Kind::Csv { mut w, header } => {
                if let Some(h) = header {
                    write_csv_header(&mut w, &h)?;
                }
                w.into_inner().map(|b| b.inner).map_err(|e| e.into_error())
            }
        }
    }
}

/// The file under the CSV writer: a UTF-8 byte-order mark goes before its first byte. Without
/// one, Excel reads a CSV file in the system's legacy code page and garbles every non-ASCII
/// character (names, descriptions, internationalized domains). CSV readers, ours included,
/// skip it. It goes under the writer, not into the first cell, because every cell is quoted
/// and the mark must come before the quote.
struct BomFirst<W> {
    inner: W,
    bom_written: bool,
}

impl<W: Write> Write for BomFirst<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.bom_written {
            self.inner.write_all("\u{feff}".as_bytes())?;
            self.bom_written = true;
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the CSV form's first row (after the byte-order mark, see [`BomFirst`]).
fn write_csv_header<W: Write>(w: &mut csv::Writer<W>, header: &[String]) -> io::Result<()> {
    w.write_record(header).map_err(csv_io)
}

/// The I/O error inside a CSV writer's or reader's error, or the error itself as an I/O error.
fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
    }
}

/// The first `n` entries of an error file written by [`ErrorFile`], as JSON objects, for the
/// API's `?preview=N`.
///
/// The form is told by the first byte (`[` for JSON; a CSV error file starts with its header,
/// `line,…`). An entry of the JSON form is `{"recordIndex","line"?,"errorMessages"}` as written;
/// an entry of the CSV form is `{"line"?,"errorMessages","cells"?}`, where `cells` maps each
/// header cell to the row's cell (a cell beyond the header, or under an empty or repeated header
/// cell, is named `column N` after its 1-based column in the input file), and the messages are
/// the lines of the messages cell (so a message that itself held a line break comes back as
/// two). Cells and header names are returned as the file holds them, neutralized.
///
/// Only the entries returned are read, never the whole file. An empty file has no entries.
pub fn preview(path: &Path, n: usize) -> io::Result<Vec<Value>> {
    let mut r = BufReader::new(File::open(path)?);
    let first = r.fill_buf()?.first().copied();
    match first {
        None => Ok(Vec::new()),
        _ if n == 0 => Ok(Vec::new()),
        Some(b'[') => preview_json(r, n),
        Some(_) => preview_csv(r, n),
    }
}

fn preview_json(mut r: impl BufRead, n: usize) -> io::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut line = String::new();
    while out.len() < n {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        // Lines are `[`, `{entry},`, `{entry}`, `]` or `[]`.
        let t = line.trim();
        let t = t.strip_prefix('[').unwrap_or(t);
        let t = t.strip_suffix(',').unwrap_or(t);
        let t = t.strip_suffix(']').unwrap_or(t).trim();
        if t.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(t).map_err(io::Error::from)?;
        out.push(v);
    }
    Ok(out)
}

fn preview_csv(r: impl BufRead, n: usize) -> io::Result<Vec<Value>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(r);
    let header = rdr.headers().map_err(csv_io)?.clone();
    // The key of each data column (after `line` and `errorMessages`), made unique.
    let mut keys: Vec<String> = Vec::new();
    let key_of = |keys: &mut Vec<String>, i: usize| -> String {
        while keys.len() <= i {
            let col = keys.len();
            let name = header.get(col + CSV_LEADING.len()).unwrap_or_default();
            let name = if name.is_empty() || keys.iter().any(|k| k == name) {
                format!("column {}", col + 1)
            } else {
                name.to_owned()
            };
            keys.push(name);
        }
        keys[i].clone()
    };
    let mut out = Vec::new();
    let mut rec = csv::StringRecord::new();
    while out.len() < n && rdr.read_record(&mut rec).map_err(csv_io)? {
        let mut entry = Map::new();
        if let Some(l) = rec.get(0).and_then(|l| l.parse::<u64>().ok()) {
            entry.insert("line".into(), l.into());
        }
        let messages: Vec<Value> = match rec.get(1).unwrap_or_default() {
            "" => Vec::new(),
            m => m.split('\n').map(|s| Value::from(s.to_owned())).collect(),
        };
        entry.insert("errorMessages".into(), Value::Array(messages));
        if rec.len() > CSV_LEADING.len() {
            let mut cells = Map::new();
            for (i, c) in rec.iter().skip(CSV_LEADING.len()).enumerate() {
                cells.insert(key_of(&mut keys, i), c.into());
            }
            entry.insert("cells".into(), Value::Object(cells));
        }
        out.push(Value::Object(entry));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).expect("error files are UTF-8")
    }

    /// Writes `bytes` to a fresh file and previews it.
    fn preview_of(bytes: &[u8], n: usize) -> Vec<Value> {
        let dir = std::env::temp_dir().join(format!(
            "ingest-errorfile-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("errors");
        std::fs::write(&path, bytes).unwrap();
        let out = preview(&path, n).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    /// Every cell of a CSV error file, as a CSV reader sees it.
    fn csv_rows(b: &[u8]) -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(b)
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn json_form_one_entry_per_line() {
        let mut f = ErrorFile::json(Vec::new());
        f.record(3, None, Some(&s(&["ignored"])), &s(&["a", "b"]))
            .unwrap();
        f.record(7, Some(12), None, &s(&["c"])).unwrap();
        assert_eq!(f.count(), 2);
        let out = text(f.finish().unwrap());
        assert_eq!(
            out,
            "[\n{\"recordIndex\":3,\"errorMessages\":[\"a\",\"b\"]},\n\
             {\"recordIndex\":7,\"line\":12,\"errorMessages\":[\"c\"]}\n]\n"
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
    }

    #[test]
    fn empty_files() {
        let f = ErrorFile::json(Vec::new());
        assert_eq!(f.count(), 0);
        let out = f.finish().unwrap();
        assert_eq!(text(out.clone()), "[]\n");
        assert!(preview_of(&out, 10).is_empty());

        let header = s(&["validFrom", "observableType"]);
        let out = ErrorFile::csv(Vec::new(), &header).finish().unwrap();
        assert_eq!(
            text(out.clone()),
            "\u{feff}\"line\",\"errorMessages\",\"validFrom\",\"observableType\"\n"
        );
        assert!(preview_of(&out, 10).is_empty());

        // A file-level failure before any header was read.
        let out = ErrorFile::csv(Vec::new(), &[]).finish().unwrap();
        assert_eq!(text(out), "\u{feff}\"line\",\"errorMessages\"\n");

        // A file of zero bytes (an error file not yet written).
        assert!(preview_of(b"", 10).is_empty());
    }

    #[test]
    fn file_level_failure_without_header() {
        let mut f = ErrorFile::csv(Vec::new(), &[]);
        f.record(
            0,
            Some(1),
            None,
            &s(&["line 1: empty file, expected a header row"]),
        )
        .unwrap();
        let out = f.finish().unwrap();
        assert_eq!(
            text(out.clone()),
            "\u{feff}\"line\",\"errorMessages\"\n\"1\",\"line 1: empty file, expected a header row\"\n"
        );
        assert_eq!(
            preview_of(&out, 5),
            vec![
                json!({"line": 1, "errorMessages": ["line 1: empty file, expected a header row"]})
            ]
        );
    }

    #[test]
    fn every_dangerous_prefix_is_neutralized_everywhere() {
        for p in ["=", "+", "-", "@", "\t", "\r", "\0"] {
            let header = s(&["name", &format!("{p}hdr")]);
            let mut f = ErrorFile::csv(Vec::new(), &header);
            let cells = s(&["ok", &format!("{p}cmd|' /C calc'!A0")]);
            f.record(
                0,
                Some(2),
                Some(&cells),
                &s(&[&format!("{p}msg"), "second"]),
            )
            .unwrap();
            let out = f.finish().unwrap();
            let rows = csv_rows(&out);
            assert_eq!(rows.len(), 2, "{p:?}");
            for row in &rows {
                for cell in row {
                    assert!(
                        !cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\0']),
                        "{p:?}: cell {cell:?} would run in a spreadsheet"
                    );
                }
            }
            assert_eq!(rows[0][3], format!("'{p}hdr"));
            assert_eq!(rows[1][1], format!("'{p}msg\nsecond"));
            assert_eq!(rows[1][3], format!("'{p}cmd|' /C calc'!A0"));
            // Safe cells are left alone.
            assert_eq!(rows[0][..3], s(&["line", "errorMessages", "name"]));
            assert_eq!(rows[1][2], "ok");
        }
    }

    #[test]
    fn json_round_trip_through_preview() {
        let tricky = s(&[
            "Error for Property=pattern: \"quoted\", with, commas. Actual value: a\nb\\c",
            "unicode é ☃ \u{1F600} and control \u{1}",
        ]);
        let mut f = ErrorFile::json(Vec::new());
        f.record(0, None, None, &tricky).unwrap();
        f.record(1, Some(9), None, &[]).unwrap();
        f.record(2, None, None, &s(&["x"])).unwrap();
        let out = f.finish().unwrap();
        let all = preview_of(&out, 100);
        assert_eq!(
            all,
            vec![
                json!({"recordIndex": 0, "errorMessages": tricky}),
                json!({"recordIndex": 1, "line": 9, "errorMessages": []}),
                json!({"recordIndex": 2, "errorMessages": ["x"]}),
            ]
        );
        assert_eq!(preview_of(&out, 2), all[..2]);
        assert!(preview_of(&out, 0).is_empty());
        // The whole file is one JSON array with the same entries.
        let whole: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(whole, Value::Array(all));
    }

    #[test]
    fn csv_round_trip_through_preview() {
        let header = s(&["tags", "", "name", "", "name"]);
        let mut f = ErrorFile::csv(Vec::new(), &header);
        let cells = s(&[
            "a, \"b\"",
            "",
            "multi\nline",
            "x",
            "dup",
            "extra beyond the header",
        ]);
        let messages = s(&[
            "Error for Property=tags: \"quoted\", comma. Actual value: a.",
            "Error for Property=name: second.",
        ]);
        f.record(4, Some(7), Some(&cells), &messages).unwrap();
        f.record(5, None, Some(&s(&["=1+1"])), &s(&["-bad"]))
            .unwrap();
        f.record(6, Some(9), None, &[]).unwrap();
        assert_eq!(f.count(), 3);
        let out = f.finish().unwrap();
        let all = preview_of(&out, 10);
        assert_eq!(
            all,
            vec![
                json!({
                    "line": 7,
                    "errorMessages": messages,
                    "cells": {
                        "tags": "a, \"b\"",
                        "column 2": "",
                        "name": "multi\nline",
                        "column 4": "x",
                        "column 5": "dup",
                        "column 6": "extra beyond the header",
                    }
                }),
                json!({"errorMessages": ["'-bad"], "cells": {"tags": "'=1+1"}}),
                json!({"line": 9, "errorMessages": []}),
            ]
        );
        assert_eq!(preview_of(&out, 1), all[..1]);
    }

    #[test]
    fn a_message_with_a_line_break_previews_as_two_in_csv() {
        let mut f = ErrorFile::csv(Vec::new(), &s(&["name"]));
        f.record(0, Some(2), Some(&s(&["v"])), &s(&["one\ntwo"]))
            .unwrap();
        let out = f.finish().unwrap();
        assert_eq!(
            preview_of(&out, 1)[0]["errorMessages"],
            json!(["one", "two"])
        );
    }

    #[test]
    fn replaced_invalid_utf8_cells_round_trip() {
        // What `InvalidRow::cells` holds for bytes that were not UTF-8.
        let bad = String::from_utf8_lossy(b"caf\xe9").into_owned();
        let bad_formula = String::from_utf8_lossy(b"=\xff\xfe").into_owned();
        let mut f = ErrorFile::csv(Vec::new(), &s(&["name", "description"]));
        f.record(0, Some(2), Some(&[bad.clone(), bad_formula]), &s(&["m"]))
            .unwrap();
        let out = f.finish().unwrap();
        let p = preview_of(&out, 1);
        assert_eq!(p[0]["cells"]["name"], "caf\u{FFFD}");
        assert_eq!(p[0]["cells"]["description"], "'=\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn json_entries_escape_line_breaks_so_each_is_one_line() {
        let mut f = ErrorFile::json(Vec::new());
        f.record(0, None, None, &s(&["a\nb\r\nc\u{2028}d"]))
            .unwrap();
        f.record(1, None, None, &s(&["e"])).unwrap();
        let out = text(f.finish().unwrap());
        assert_eq!(out.lines().count(), 4, "{out}");
    }
}
