//! The two CSV templates, `csv-other` and `csv-file`: a streaming reader that maps each data row
//! to a STIX 2.1 indicator, or explains, column by column, everything wrong with the row.
//!
//! # Files
//!
//! * `mod.rs` (this file): the public types: templates, errors, mapped and invalid rows.
//! * `columns.rs`: the columns of both templates and how a header cell names one.
//! * `header.rs`: reading the header row into a `Layout`, or the one error that
//!   explains why the file cannot be a template.
//! * `reader.rs`: [`CsvReader`], the streaming reader: comment and blank rows, line numbers,
//!   one reused record buffer.
//! * `row.rs`: mapping one data row, one function per column rule and a short driver.
//! * `observable.rs`: the observable types of the csv-other template and their value checks.
//! * `json_text.rs`: writing the mapped indicator as compact JSON text.
//! * `spreadsheet.rs`: cells and writers for CSV meant to be opened in a spreadsheet.
//!
//! # Key decisions
//!
//! * **Header driven.** Columns are found by name (trimmed, any case, any order), and the
//!   template is told apart by the columns only one of them has (`observableType` /
//!   `observableValue` against `fileName` and the hash columns). Whatever is wrong with the
//!   header — an unknown column, a missing required one, a duplicate, the other template — is
//!   one fatal [`CsvError`], because no row of such a file can be read reliably.
//! * **Rows are independent.** Everything wrong with one row (a wrong number of fields, invalid
//!   UTF-8, a bad cell) makes that row an [`InvalidRow`] listing *every* problem, each a
//!   [`Diagnostic`] whose property is the column name; the next row is read as usual.
//! * **Two lines of defence.** The cell rules below catch what an analyst gets wrong, with
//!   messages in their terms; the mapped indicator is then checked by [`stix::validate`]
//!   (compatible profile), so that nothing leaves this module that the store would refuse. Its
//!   residual messages are renamed from STIX properties back to the columns.
//! * **Streaming and cheap.** One reused [`csv::ByteRecord`]; cells are borrowed `&str`s; the
//!   indicator is built as a borrowed [`stix::Json`] tree, validated, and written out once as
//!   JSON text (the form the store keeps), so a row costs a handful of allocations.
//!
//! # Mapping
//!
//! `threatTypes`→`indicator_types` and `tags`→`labels` (split on commas, trimmed, empties
//! dropped, case kept), `name`, `description`, `confidence` (integer), `revoked` (boolean),
//! `validFrom`→`valid_from` and `validUntil`→`valid_until` (normalised to UTC, at least
//! millisecond precision), `tlpLevel`→`object_marking_refs` (the TLP marking-definition id),
//! `severity`→`x_tiport_severity` (integer 0–10), `fileName`→`x_tiport_file_name`, and the
//! observable→a quoted STIX pattern. `created`/`modified` are the caller's `now`; the id is a
//! UUIDv5 of workspace, source and pattern, so importing a file twice creates no duplicates.
//! Observable values and hashes are kept as written (trimmed), not case-folded: the pattern says
//! what the analyst wrote.
//!
//! A user account is matched on `account_login` (what an analyst calls a user name); a registry
//! key on `key`. A CIDR block is compared with `=`, the form feeds use; containment is the
//! query side's business (`observable=` matches CIDRs by containment).
//!
//! # Counting rows
//!
//! `index` counts data rows only: not the header, not comment rows (first cell starting with `#`,
//! before the header or directly after it), not blank rows (every cell empty, as spreadsheets
//! leave below the data). `line` is the 1-based file line where the row starts, right across
//! CRLF, blank lines and quoted cells holding line breaks.

mod columns;
mod header;
mod json_text;
mod observable;
mod reader;
mod row;
mod spreadsheet;

use std::fmt;

use stix::{Diagnostic, Timestamp, Tlp};
use uuid::Uuid;

use columns::{Col, FILE_COLUMNS, OTHER_COLUMNS};
pub use reader::CsvReader;
pub use spreadsheet::{neutralize_cell, spreadsheet_safe_writer};

/// The namespace of indicator ids minted from CSV rows: UUIDv5(URL namespace,
/// `urn:tiport:csv-indicator`). Fixed forever: changing it would change every id and turn a
/// re-import into duplicates.
pub const ID_NAMESPACE: Uuid = Uuid::from_u128(0xaf3688ea_ac90_58f2_9ca2_8544061a4c60);

/// `severity` is an integer from 0 to 10 (inclusive). STIX has no severity property and the
/// seed gives no range (its example uses 5); 0–10 is the scale analysts know from CVSS and
/// vendor feeds, and bounds it so that `100` (a confidence in the wrong column) is caught.
pub const SEVERITY_RANGE: std::ops::RangeInclusive<i64> = 0..=10;

/// Which CSV template a file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// "All other indicator types": one observable per row (`observableType`, `observableValue`).
    CsvOther,
    /// "File indicators": file name and up to four hashes per row.
    CsvFile,
}

impl Template {
    /// The template's name as the CLI and the API spell it.
    pub fn name(self) -> &'static str {
        match self {
            Template::CsvOther => "csv-other",
            Template::CsvFile => "csv-file",
        }
    }

    /// Parses `csv-other` / `csv-file`.
    pub fn from_name(s: &str) -> Option<Template> {
        match s {
            "csv-other" => Some(Template::CsvOther),
            "csv-file" => Some(Template::CsvFile),
            _ => None,
        }
    }

    fn columns(self) -> &'static [Col] {
        match self {
            Template::CsvOther => &OTHER_COLUMNS,
            Template::CsvFile => &FILE_COLUMNS,
        }
    }

    /// The template's column names, in the template's order (its header row).
    pub fn column_names(self) -> impl Iterator<Item = &'static str> {
        self.columns().iter().map(|c| c.name())
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whose indicator ids these are: ids are derived from workspace, source and pattern, so the
/// same row imported into another workspace or from another source is another object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdScope {
    pub workspace: String,
    pub source: String,
}

/// A file that cannot be read as a CSV template at all. Every variant's message starts with the
/// 1-based file line it is about.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("line 1: empty file, expected a header row")]
    EmptyFile,
    #[error(
        "line {line}: expected a header row after the comment rows, found the end of the file"
    )]
    NoHeader { line: u64 },
    /// An unknown, missing, duplicate or unrecognisable column: one error for the whole file.
    #[error("line {line}: {message}")]
    BadHeader { line: u64, message: String },
    /// The header is the other template's.
    #[error(
        "line {line}: this file has the columns of the {looks_like} template, but it is being \
         imported as {requested}; import it as {looks_like} or use the {requested} template"
    )]
    WrongTemplate {
        line: u64,
        requested: Template,
        looks_like: Template,
    },
    #[error("line {line}: cannot read the input: {source}")]
    Io {
        line: u64,
        #[source]
        source: std::io::Error,
    },
}

impl CsvError {
    /// The 1-based file line the error is about.
    pub fn line(&self) -> u64 {
        match self {
            CsvError::EmptyFile => 1,
            CsvError::NoHeader { line }
            | CsvError::BadHeader { line, .. }
            | CsvError::WrongTemplate { line, .. }
            | CsvError::Io { line, .. } => *line,
        }
    }
}

/// A valid row, mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedIndicator {
    /// `indicator--<UUIDv5>`.
    pub id: String,
    /// The STIX pattern built from the observable.
    pub pattern: String,
    /// The indicator as compact JSON text, the form the store keeps. It has passed
    /// `stix::validate` with the compatible profile.
    pub json: String,
    /// The byte range within `json` of `"created":"<now>","modified":"<now>",` (with its
    /// trailing comma): the only text that differs when the same row is imported again at
    /// another time. See [`MappedIndicator::content`].
    pub stamps: std::ops::Range<usize>,
    /// The values a store indexes, as typed values, so that nobody parses `json` again.
    pub fields: IndicatorFields,
}

/// The indexed values of a mapped indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorFields {
    /// `created` and `modified`: the reader's `now`.
    pub now: Timestamp,
    pub valid_from: Timestamp,
    pub valid_until: Option<Timestamp>,
    pub confidence: Option<u8>,
    pub revoked: bool,
    pub tlp: Option<Tlp>,
    pub labels: Vec<String>,
    /// The `name`, when the row gives one.
    pub name: Option<String>,
}

impl MappedIndicator {
    /// The JSON before and after [`MappedIndicator::stamps`].
    ///
    /// A row's id depends only on workspace, source and pattern, and its `created`/`modified`
    /// are the time of the import, so importing an unchanged file again yields the same ids
    /// with new timestamps. Were those stored as they are, each re-import would add a version
    /// of every indicator that says nothing new. The store instead compares the content, the
    /// JSON without the two timestamps, with that of the current version: if it is equal the
    /// row is unchanged and nothing is written, so the first import's `created` (and
    /// `modified`) stay; only a row whose content changed becomes a new version.
    pub fn content(&self) -> (&str, &str) {
        (
            &self.json[..self.stamps.start],
            &self.json[self.stamps.end..],
        )
    }
}

/// An invalid row: its cells as read (for the error file) and every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRow {
    /// The row's cells, untrimmed; invalid UTF-8 is replaced by U+FFFD.
    pub cells: Vec<String>,
    /// Every problem of the row; each names its column as `Property`.
    pub errors: Vec<Diagnostic>,
}

impl InvalidRow {
    /// The messages, in the upload API's wording.
    pub fn messages(&self) -> Vec<String> {
        self.errors.iter().map(|d| d.to_string()).collect()
    }
}

/// One data row of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRecord {
    /// 0-based data row: the header, comment rows and blank rows are not counted. This is the
    /// `recordIndex` of `validate --output json`.
    pub index: usize,
    /// 1-based file line where the row starts (a quoted cell may span lines).
    pub line: u64,
    pub outcome: Result<MappedIndicator, InvalidRow>,
}

/// The template file for `tiport template csv-other|csv-file` and `GET /templates/…`: a comment
/// row (one quoted cell starting with `#`, which the reader skips if it is left in), the header,
/// and one valid example row.
pub fn template_text(t: Template) -> &'static str {
    match t {
        Template::CsvOther => CSV_OTHER_TEMPLATE,
        Template::CsvFile => CSV_FILE_TEMPLATE,
    }
}

const CSV_OTHER_TEMPLATE: &str = concat!(
    "\"# tiport csv-other template (all indicator types except files). One indicator per row. ",
    "Required columns: validFrom, observableType, observableValue; the others may be left empty. ",
    "threatTypes and tags: comma-separated lists (quote the cell). name, description: free text. ",
    "confidence: integer 0-100. revoked: true or false. ",
    "validFrom, validUntil: RFC 3339 timestamps such as 2024-01-31T12:00:00.000Z; validUntil must be later than validFrom. ",
    "tlpLevel: white, clear, green, amber, amber+strict or red. severity: integer 0-10. ",
    "observableType: ipv4-addr, ipv6-addr, domain-name, url, email-addr, user-account or windows-registry-key. ",
    "observableValue: e.g. 203.0.113.7 or 198.51.100.0/24, 2001:db8::1, www.example.com, https://example.com/path, ",
    "user@example.com, an account login, HKEY_LOCAL_MACHINE\\Software\\Example. ",
    "Columns are found by name, in any order. This row may be deleted or left in.\"\n",
    "threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,observableType,observableValue\n",
    "Phishing,\"demo, csv\",MDTI article - Franken-Phish domainname,Entity appears in MDTI article Franken-phish,100,,2022-07-18T12:00:00.000Z,,white,5,domain-name,1776769042.tailspintoys.com\n",
);

const CSV_FILE_TEMPLATE: &str = concat!(
    "\"# tiport csv-file template (file indicators). One indicator per row; several hashes on a row make one indicator that matches any of them. ",
    "Required columns: validFrom and at least one of MD5, SHA-1, SHA-256, SHA-512; the others may be left empty. ",
    "threatTypes and tags: comma-separated lists (quote the cell). name, description: free text. ",
    "confidence: integer 0-100. revoked: true or false. ",
    "validFrom, validUntil: RFC 3339 timestamps such as 2024-01-31T12:00:00.000Z; validUntil must be later than validFrom. ",
    "tlpLevel: white, clear, green, amber, amber+strict or red. severity: integer 0-10. ",
    "fileName: the file's name (kept with the indicator, not matched). ",
    "MD5, SHA-1, SHA-256, SHA-512: hexadecimal hashes of 32, 40, 64 and 128 characters. ",
    "Columns are found by name, in any order. This row may be deleted or left in.\"\n",
    "threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,fileName,MD5,SHA-1,SHA-256,SHA-512\n",
    "Malware,\"demo, csv\",Invoice dropper,Attachment seen in an invoice-themed phishing campaign,80,,2024-01-15T09:30:00.000Z,2025-01-15T09:30:00.000Z,amber,7,invoice.pdf.exe,",
    "5f2b7c3e9a1d4e6f8b0c2d4e6f8a0b1c,,",
    "3b5d7f9e1c2a4b6d8f0e2c4a6b8d0f1e3c5a7b9d1f3e5c7a9b1d3f5e7c9a1b3d,\n",
);
