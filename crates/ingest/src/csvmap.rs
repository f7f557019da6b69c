//! The two CSV templates, `csv-other` and `csv-file`: a streaming reader that maps each data row
//! to a STIX 2.1 indicator, or explains, column by column, everything wrong with the row.
//!
//! Wiring (lib.rs): `pub mod csvmap;` and
//! `pub use csvmap::{neutralize_cell, template_text, CsvError, CsvReader, CsvRecord, IdScope,
//! InvalidRow, MappedIndicator, Template};`
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

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};

use csv::ByteRecord;
use stix::json::Object;
use stix::{Diagnostic, Json, Timestamp, Tlp};
use uuid::Uuid;

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

/// A column of either template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    ThreatTypes,
    Tags,
    Name,
    Description,
    Confidence,
    Revoked,
    ValidFrom,
    ValidUntil,
    TlpLevel,
    Severity,
    ObservableType,
    ObservableValue,
    FileName,
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

const N_COLS: usize = 17;

const ALL_COLUMNS: [Col; N_COLS] = [
    Col::ThreatTypes,
    Col::Tags,
    Col::Name,
    Col::Description,
    Col::Confidence,
    Col::Revoked,
    Col::ValidFrom,
    Col::ValidUntil,
    Col::TlpLevel,
    Col::Severity,
    Col::ObservableType,
    Col::ObservableValue,
    Col::FileName,
    Col::Md5,
    Col::Sha1,
    Col::Sha256,
    Col::Sha512,
];

const OTHER_COLUMNS: [Col; 12] = [
    Col::ThreatTypes,
    Col::Tags,
    Col::Name,
    Col::Description,
    Col::Confidence,
    Col::Revoked,
    Col::ValidFrom,
    Col::ValidUntil,
    Col::TlpLevel,
    Col::Severity,
    Col::ObservableType,
    Col::ObservableValue,
];

const FILE_COLUMNS: [Col; 15] = [
    Col::ThreatTypes,
    Col::Tags,
    Col::Name,
    Col::Description,
    Col::Confidence,
    Col::Revoked,
    Col::ValidFrom,
    Col::ValidUntil,
    Col::TlpLevel,
    Col::Severity,
    Col::FileName,
    Col::Md5,
    Col::Sha1,
    Col::Sha256,
    Col::Sha512,
];

/// The hash columns, in the order the pattern ORs them, with their STIX hash names.
const HASH_COLUMNS: [(Col, &str); 4] = [
    (Col::Md5, "MD5"),
    (Col::Sha1, "SHA-1"),
    (Col::Sha256, "SHA-256"),
    (Col::Sha512, "SHA-512"),
];

impl Col {
    fn name(self) -> &'static str {
        match self {
            Col::ThreatTypes => "threatTypes",
            Col::Tags => "tags",
            Col::Name => "name",
            Col::Description => "description",
            Col::Confidence => "confidence",
            Col::Revoked => "revoked",
            Col::ValidFrom => "validFrom",
            Col::ValidUntil => "validUntil",
            Col::TlpLevel => "tlpLevel",
            Col::Severity => "severity",
            Col::ObservableType => "observableType",
            Col::ObservableValue => "observableValue",
            Col::FileName => "fileName",
            Col::Md5 => "MD5",
            Col::Sha1 => "SHA-1",
            Col::Sha256 => "SHA-256",
            Col::Sha512 => "SHA-512",
        }
    }

    /// The column a header cell names: the template's spelling in any case, and for hashes
    /// also the spellings producers use (`sha256`, `SHA_256`).
    fn from_header(h: &str) -> Option<Col> {
        if let Some(c) = ALL_COLUMNS
            .iter()
            .find(|c| c.name().eq_ignore_ascii_case(h))
        {
            return Some(*c);
        }
        match stix::canonical_algorithm(h)?.0 {
            "MD5" => Some(Col::Md5),
            "SHA-1" => Some(Col::Sha1),
            "SHA-256" => Some(Col::Sha256),
            "SHA-512" => Some(Col::Sha512),
            _ => None,
        }
    }

    /// Columns that only the csv-other template has.
    fn only_other(self) -> bool {
        matches!(self, Col::ObservableType | Col::ObservableValue)
    }

    /// Columns that only the csv-file template has.
    fn only_file(self) -> bool {
        matches!(
            self,
            Col::FileName | Col::Md5 | Col::Sha1 | Col::Sha256 | Col::Sha512
        )
    }
}

/// The observable types of the csv-other template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObsType {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    Email,
    UserAccount,
    RegistryKey,
}

const OBS_TYPES: [(ObsType, &str); 7] = [
    (ObsType::Ipv4, "ipv4-addr"),
    (ObsType::Ipv6, "ipv6-addr"),
    (ObsType::Domain, "domain-name"),
    (ObsType::Url, "url"),
    (ObsType::Email, "email-addr"),
    (ObsType::UserAccount, "user-account"),
    (ObsType::RegistryKey, "windows-registry-key"),
];

impl ObsType {
    fn parse(s: &str) -> Option<ObsType> {
        OBS_TYPES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(t, _)| *t)
    }

    /// The object path the pattern compares. A user account is named by its login, the
    /// property an analyst's "user name" is; a registry key by its full `key` path.
    fn path(self) -> &'static str {
        match self {
            ObsType::Ipv4 => "ipv4-addr:value",
            ObsType::Ipv6 => "ipv6-addr:value",
            ObsType::Domain => "domain-name:value",
            ObsType::Url => "url:value",
            ObsType::Email => "email-addr:value",
            ObsType::UserAccount => "user-account:account_login",
            ObsType::RegistryKey => "windows-registry-key:key",
        }
    }

    /// Checks a value; the error is the reason for the message.
    fn check(self, v: &str) -> Result<(), &'static str> {
        let (ok, reason) = match self {
            ObsType::Ipv4 => (
                ipv4_or_cidr(v),
                "Must be an IPv4 address or CIDR block such as 203.0.113.7 or 198.51.100.0/24",
            ),
            ObsType::Ipv6 => (
                ipv6_or_cidr(v),
                "Must be an IPv6 address or CIDR block such as 2001:db8::1 or 2001:db8::/32",
            ),
            ObsType::Domain => (
                domain_ok(v),
                "Must be a domain name such as www.example.com: dot-separated labels of letters, \
                 digits, hyphens and underscores, without spaces",
            ),
            ObsType::Url => (
                url_ok(v),
                "Must be a URL with a scheme and a host, such as https://example.com/path, \
                 without spaces",
            ),
            ObsType::Email => (
                email_ok(v),
                "Must be an email address with one @ and a valid domain, such as \
                 user@example.com",
            ),
            ObsType::UserAccount => (
                !v.chars().any(char::is_control),
                "Must be an account login without control characters",
            ),
            ObsType::RegistryKey => (
                registry_key_ok(v),
                "Must be a registry key path starting with a hive such as \
                 HKEY_LOCAL_MACHINE\\ or HKLM\\",
            ),
        };
        if ok {
            Ok(())
        } else {
            Err(reason)
        }
    }
}

/// What the header says: where each column is, and which cells belong to no column.
struct Layout {
    template: Template,
    at: [Option<usize>; N_COLS],
    /// Number of header cells; every row must have exactly this many fields.
    width: usize,
    /// Positions of header cells left empty; their cells must be empty too.
    unnamed: Vec<usize>,
}

impl Layout {
    fn at(&self, c: Col) -> Option<usize> {
        self.at[c as usize]
    }

    fn has(&self, c: Col) -> bool {
        self.at(c).is_some()
    }

    fn from_header(
        header: &[String],
        line: u64,
        forced: Option<Template>,
    ) -> Result<Layout, CsvError> {
        let bad = |message: String| CsvError::BadHeader { line, message };
        let mut at = [None; N_COLS];
        let mut unnamed = Vec::new();
        let mut unknown: Vec<&str> = Vec::new();
        let mut cols: Vec<(usize, Col)> = Vec::new();
        for (i, h) in header.iter().enumerate() {
            if h.is_empty() {
                unnamed.push(i);
                continue;
            }
            match Col::from_header(h) {
                Some(c) => {
                    if let Some(first) = at[c as usize] {
                        return Err(bad(format!(
                            "column '{}' appears twice (columns {} and {}); keep one",
                            c.name(),
                            first + 1,
                            i + 1
                        )));
                    }
                    at[c as usize] = Some(i);
                    cols.push((i, c));
                }
                None => unknown.push(h),
            }
        }
        let found = || {
            listing(
                header.iter().map(String::as_str).filter(|h| !h.is_empty()),
                "",
            )
        };
        if cols.is_empty() {
            // Nothing recognisable: say what the header looks like rather than listing every
            // cell as unknown, because the cause is usually the separator or a missing header.
            if header.len() == 1 && (header[0].contains(';') || header[0].contains('\t')) {
                let sep = if header[0].contains(';') {
                    "';'"
                } else {
                    "tabs"
                };
                return Err(bad(format!(
                    "the header is a single column: the file seems to use {sep} as its \
                     separator; save it as comma-separated CSV (UTF-8)"
                )));
            }
            return Err(bad(format!(
                "the first row is not a template header: none of its cells is a column name \
                 (found: {}); expected the csv-other header ({}) or the csv-file header ({})",
                found(),
                names(&OTHER_COLUMNS),
                names(&FILE_COLUMNS)
            )));
        }
        let other: Vec<Col> = cols
            .iter()
            .map(|c| c.1)
            .filter(|c| c.only_other())
            .collect();
        let file: Vec<Col> = cols.iter().map(|c| c.1).filter(|c| c.only_file()).collect();
        let looks_like = match (other.is_empty(), file.is_empty()) {
            (false, true) => Some(Template::CsvOther),
            (true, false) => Some(Template::CsvFile),
            _ => None,
        };
        let template = match (forced, looks_like) {
            (Some(t), Some(l)) if t != l => {
                return Err(CsvError::WrongTemplate {
                    line,
                    requested: t,
                    looks_like: l,
                })
            }
            (Some(t), _) => t,
            (None, Some(l)) => l,
            (None, None) if !other.is_empty() => {
                return Err(bad(format!(
                    "the header mixes columns of the csv-other template ({}) and of the csv-file \
                     template ({}); use one template per file",
                    names(&other),
                    names(&file)
                )))
            }
            (None, None) => {
                return Err(bad(format!(
                    "cannot tell the template: csv-other needs the columns observableType and \
                     observableValue, csv-file needs at least one hash column (MD5, SHA-1, \
                     SHA-256, SHA-512); found columns: {}",
                    found()
                )))
            }
        };
        // Columns of the other template count as unknown: their values would be dropped.
        for &(i, c) in &cols {
            if !template.columns().contains(&c) {
                unknown.push(&header[i]);
            }
        }
        if !unknown.is_empty() {
            let list = listing(unknown.iter().copied(), "'");
            let s = if unknown.len() > 1 { "s" } else { "" };
            return Err(bad(format!(
                "unknown column{s} {list} for the {template} template; its columns are: {}",
                names(template.columns())
            )));
        }
        let mut missing: Vec<&str> = Vec::new();
        match template {
            Template::CsvOther => {
                for c in [Col::ValidFrom, Col::ObservableType, Col::ObservableValue] {
                    if at[c as usize].is_none() {
                        missing.push(c.name());
                    }
                }
            }
            Template::CsvFile => {
                if at[Col::ValidFrom as usize].is_none() {
                    missing.push(Col::ValidFrom.name());
                }
                if HASH_COLUMNS.iter().all(|(c, _)| at[*c as usize].is_none()) {
                    missing.push("MD5, SHA-1, SHA-256 or SHA-512 (at least one)");
                }
            }
        }
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", ");
            let s = if missing.len() > 1 { "s" } else { "" };
            return Err(bad(format!(
                "missing required column{s} {list} for the {template} template; found columns: {}",
                found()
            )));
        }
        Ok(Layout {
            template,
            at,
            width: header.len(),
            unnamed,
        })
    }
}

/// The first ten of `items`, each cut to 64 characters and quoted with `quote`, then how many
/// more: a header of a million unknown columns is named in a line, not a megabyte.
fn listing<'a>(items: impl Iterator<Item = &'a str>, quote: &str) -> String {
    const SHOWN: usize = 10;
    let mut out = Vec::new();
    let mut more = 0usize;
    for item in items {
        if out.len() < SHOWN {
            let mut cut: String = item.chars().take(64).collect();
            if cut.len() < item.len() {
                cut.push('…');
            }
            out.push(format!("{quote}{cut}{quote}"));
        } else {
            more += 1;
        }
    }
    let mut text = out.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

fn names(cols: &[Col]) -> String {
    cols.iter().map(|c| c.name()).collect::<Vec<_>>().join(",")
}

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

/// The "Actual value" of a message: the cell, cut to a readable length.
fn actual(s: &str) -> String {
    const MAX: usize = 256;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// What mapping one row needs besides the row.
struct RowCtx<'c> {
    layout: &'c Layout,
    scope: &'c IdScope,
    now: &'c str,
    now_ts: Timestamp,
}

/// The cells of one row, read as text.
struct Cells<'r> {
    text: [&'r str; N_COLS],
}

impl<'r> Cells<'r> {
    fn get(&self, c: Col) -> &'r str {
        self.text[c as usize]
    }
}

impl RowCtx<'_> {
    /// Checks and maps one row; `Err` holds every problem found.
    fn map(
        &self,
        rec: &ByteRecord,
        id_name: &mut Vec<u8>,
    ) -> Result<MappedIndicator, Vec<Diagnostic>> {
        let layout = self.layout;
        if rec.len() != layout.width {
            // With the columns shifted, per-cell messages would only mislead.
            return Err(vec![Diagnostic::new(
                "row",
                format!(
                    "Has {} fields but the header has {} columns; look for a missing or extra \
                     comma, or an unclosed quote",
                    rec.len(),
                    layout.width
                ),
                rec.len().to_string(),
            )]);
        }
        let mut errors = Vec::new();
        let mut cells = Cells { text: [""; N_COLS] };
        let mut unreadable = [false; N_COLS];
        for &c in layout.template.columns() {
            let Some(i) = layout.at(c) else { continue };
            let raw = &rec[i];
            match std::str::from_utf8(raw) {
                Ok(s) => cells.text[c as usize] = s.trim(),
                Err(_) => {
                    unreadable[c as usize] = true;
                    errors.push(Diagnostic::new(
                        c.name(),
                        "Is not valid UTF-8 text; save the file as CSV UTF-8",
                        actual(&String::from_utf8_lossy(raw)),
                    ));
                }
            }
        }
        for &i in &layout.unnamed {
            if !rec[i].trim_ascii().is_empty() {
                errors.push(Diagnostic::new(
                    format!("column {}", i + 1),
                    "Has a value but the column has no header name",
                    actual(&String::from_utf8_lossy(&rec[i])),
                ));
            }
        }
        // A cell that is not UTF-8 reads as empty below, but has been reported: it must not
        // also be reported as missing.
        let unreadable = |c: Col| unreadable[c as usize];

        // Timestamps.
        let valid_from = match cells.get(Col::ValidFrom) {
            "" if unreadable(Col::ValidFrom) => None,
            "" => {
                errors.push(Diagnostic::missing("validFrom"));
                None
            }
            s => timestamp(Col::ValidFrom, s, &mut errors),
        };
        let valid_until = match cells.get(Col::ValidUntil) {
            "" => None,
            s => timestamp(Col::ValidUntil, s, &mut errors),
        };
        if let (Some(from), Some(until)) = (valid_from, valid_until) {
            if until <= from {
                errors.push(Diagnostic::new(
                    "validUntil",
                    format!("Must be later than validFrom ({from})"),
                    actual(cells.get(Col::ValidUntil)),
                ));
            }
        }

        let confidence = integer(
            Col::Confidence,
            cells.get(Col::Confidence),
            0..=100,
            &mut errors,
        );
        let severity = integer(
            Col::Severity,
            cells.get(Col::Severity),
            SEVERITY_RANGE,
            &mut errors,
        );
        let revoked = match cells.get(Col::Revoked) {
            "" => None,
            s if s.eq_ignore_ascii_case("true") => Some(true),
            s if s.eq_ignore_ascii_case("false") => Some(false),
            s => {
                errors.push(Diagnostic::new(
                    "revoked",
                    "Must be true or false",
                    actual(s),
                ));
                None
            }
        };
        let tlp = match cells.get(Col::TlpLevel) {
            "" => None,
            s => {
                let t = Tlp::parse_level(s);
                if t.is_none() {
                    errors.push(Diagnostic::new(
                        "tlpLevel",
                        "Must be one of white, clear, green, amber, amber+strict, red",
                        actual(s),
                    ));
                }
                t
            }
        };

        // The observable, and from it the pattern.
        let mut pattern = String::new();
        // The columns a pattern problem found by the second line of defence is reported on.
        let mut pattern_cols: Cow<'static, str> = Cow::Borrowed("observableValue");
        match layout.template {
            Template::CsvOther => {
                let ty = match cells.get(Col::ObservableType) {
                    "" if unreadable(Col::ObservableType) => None,
                    "" => {
                        errors.push(Diagnostic::missing("observableType"));
                        None
                    }
                    s => {
                        let t = ObsType::parse(s);
                        if t.is_none() {
                            let hint = if s.eq_ignore_ascii_case("file") {
                                "; file hashes go in the csv-file template"
                            } else {
                                ""
                            };
                            errors.push(Diagnostic::new(
                                "observableType",
                                format!(
                                    "Must be one of ipv4-addr, ipv6-addr, domain-name, url, \
                                     email-addr, user-account, windows-registry-key{hint}"
                                ),
                                actual(s),
                            ));
                        }
                        t
                    }
                };
                match cells.get(Col::ObservableValue) {
                    "" if unreadable(Col::ObservableValue) => {}
                    "" => errors.push(Diagnostic::missing("observableValue")),
                    v => {
                        if let Some(t) = ty {
                            match t.check(v) {
                                Ok(()) => {
                                    pattern.reserve(v.len() + 32);
                                    pattern.push('[');
                                    pattern.push_str(t.path());
                                    pattern.push_str(" = ");
                                    push_quoted(&mut pattern, v);
                                    pattern.push(']');
                                }
                                Err(reason) => errors.push(Diagnostic::new(
                                    "observableValue",
                                    reason,
                                    actual(v),
                                )),
                            }
                        }
                    }
                }
            }
            Template::CsvFile => {
                let mut any = false;
                let mut all_ok = true;
                let mut cols = String::new();
                for (c, algo) in HASH_COLUMNS {
                    let v = cells.get(c);
                    if v.is_empty() {
                        any |= unreadable(c);
                        continue;
                    }
                    any = true;
                    if !stix::hash_value_ok(algo, v) {
                        all_ok = false;
                        let len = stix::canonical_algorithm(algo)
                            .and_then(|a| a.1)
                            .unwrap_or(0);
                        errors.push(Diagnostic::new(
                            c.name(),
                            format!("Must be an {algo} hash: {len} hexadecimal characters"),
                            actual(v),
                        ));
                        continue;
                    }
                    pattern.push_str(if pattern.is_empty() { "[" } else { " OR " });
                    pattern.push_str("file:hashes.");
                    // Hash names with a hyphen are not plain identifiers in a path: quote them.
                    if algo.contains('-') {
                        pattern.push('\'');
                        pattern.push_str(algo);
                        pattern.push('\'');
                    } else {
                        pattern.push_str(algo);
                    }
                    pattern.push_str(" = ");
                    push_quoted(&mut pattern, v);
                    if !cols.is_empty() {
                        cols.push('/');
                    }
                    cols.push_str(c.name());
                }
                if !any {
                    let cols: Vec<&str> = HASH_COLUMNS
                        .iter()
                        .filter(|(c, _)| layout.has(*c))
                        .map(|(c, _)| c.name())
                        .collect();
                    errors.push(Diagnostic::new(
                        cols.join("/"),
                        "At least one hash is required",
                        "NULL",
                    ));
                }
                pattern_cols = Cow::Owned(cols);
                if all_ok && !pattern.is_empty() {
                    pattern.push(']');
                } else {
                    pattern.clear();
                }
            }
        }
        if !errors.is_empty() {
            // In the order of the file's columns, as the analyst reads the row.
            errors.sort_by_key(|d| {
                Col::from_header(d.property())
                    .and_then(|c| layout.at(c))
                    .unwrap_or(usize::MAX)
            });
            return Err(errors);
        }
        let valid_from = valid_from.expect("no errors, so validFrom was parsed");
        debug_assert!(!pattern.is_empty());

        // The id: UUIDv5 over workspace, source and pattern.
        id_name.clear();
        id_name.extend_from_slice(self.scope.workspace.as_bytes());
        id_name.push(b'\n');
        id_name.extend_from_slice(self.scope.source.as_bytes());
        id_name.push(b'\n');
        id_name.extend_from_slice(pattern.as_bytes());
        let uuid = Uuid::new_v5(&ID_NAMESPACE, id_name);
        let mut id = String::with_capacity(47);
        id.push_str("indicator--");
        id.push_str(uuid.hyphenated().encode_lower(&mut Uuid::encode_buffer()));

        let valid_from_text = canonical_text(cells.get(Col::ValidFrom), &valid_from);
        let valid_until_text = valid_until.map(|t| canonical_text(cells.get(Col::ValidUntil), &t));
        let json = {
            let mut o = Object::default();
            fn s(v: &str) -> Json<'_> {
                Json::String(Cow::Borrowed(v))
            }
            o.insert("type", s("indicator"));
            o.insert("spec_version", s("2.1"));
            o.insert("id", s(&id));
            o.insert("created", s(self.now));
            o.insert("modified", s(self.now));
            if !cells.get(Col::Name).is_empty() {
                o.insert("name", s(cells.get(Col::Name)));
            }
            if !cells.get(Col::Description).is_empty() {
                o.insert("description", s(cells.get(Col::Description)));
            }
            if let Some(list) = split_list(cells.get(Col::ThreatTypes)) {
                o.insert("indicator_types", list);
            }
            o.insert("pattern", s(&pattern));
            o.insert("pattern_type", s("stix"));
            o.insert("valid_from", s(&valid_from_text));
            if let Some(t) = &valid_until_text {
                o.insert("valid_until", s(t));
            }
            if let Some(list) = split_list(cells.get(Col::Tags)) {
                o.insert("labels", list);
            }
            if let Some(c) = confidence {
                o.insert("confidence", Json::Number(c.into()));
            }
            if let Some(r) = revoked {
                o.insert("revoked", Json::Bool(r));
            }
            if let Some(t) = tlp {
                o.insert("object_marking_refs", Json::Array(vec![s(t.marking_id())]));
            }
            if let Some(v) = severity {
                o.insert("x_tiport_severity", Json::Number(v.into()));
            }
            if !cells.get(Col::FileName).is_empty() {
                o.insert("x_tiport_file_name", s(cells.get(Col::FileName)));
            }
            let tree = Json::Object(o);
            let report = stix::validate(&tree, stix::Options::default(), None);
            if !report.errors.is_empty() {
                return Err(report
                    .errors
                    .iter()
                    .map(|d| {
                        Diagnostic::new(
                            column_of(d.property(), &pattern_cols),
                            d.reason(),
                            d.actual(),
                        )
                    })
                    .collect());
            }
            // Room for the cells, the pattern, the fixed keys and the ids, so one allocation serves.
            let mut out = String::with_capacity(rec.as_slice().len() + 2 * pattern.len() + 400);
            write_json(&tree, &mut out);
            out
        };
        let stamps = stamps_in(&json, self.now);
        let fields = IndicatorFields {
            now: self.now_ts,
            valid_from,
            valid_until,
            confidence: confidence.and_then(|c| u8::try_from(c).ok()),
            revoked: revoked.unwrap_or(false),
            tlp,
            labels: match split_list(cells.get(Col::Tags)) {
                Some(Json::Array(items)) => items
                    .iter()
                    .filter_map(|j| j.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
        };
        Ok(MappedIndicator {
            id,
            pattern,
            json,
            stamps,
            fields,
        })
    }
}

/// Where `"created":"<now>","modified":"<now>",` lies in a mapped indicator's JSON.
///
/// The members before it (`type`, `spec_version`, `id`) are fixed text and a UUID, so the first
/// `"created":` is the member; the text is checked in full, because a range that missed would
/// make the store take changed rows for unchanged ones.
fn stamps_in(json: &str, now: &str) -> std::ops::Range<usize> {
    const CREATED: &str = "\"created\":\"";
    const MODIFIED: &str = "\",\"modified\":\"";
    let start = json.find(CREATED).expect("a mapped indicator has created");
    let end = start + CREATED.len() + now.len() + MODIFIED.len() + now.len() + 2;
    assert!(
        json.get(start..end).is_some_and(|t| {
            t.strip_prefix(CREATED)
                .and_then(|t| t.strip_prefix(now))
                .and_then(|t| t.strip_prefix(MODIFIED))
                .and_then(|t| t.strip_prefix(now))
                == Some("\",")
        }),
        "created and modified follow each other in {json}"
    );
    start..end
}

/// Parses a timestamp cell, reporting it in the wording `stix` uses for timestamps.
fn timestamp(c: Col, s: &str, errors: &mut Vec<Diagnostic>) -> Option<Timestamp> {
    match Timestamp::parse_lenient(s) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(Diagnostic::new(
                c.name(),
                format!("Timestamp {e}"),
                actual(s),
            ));
            None
        }
    }
}

/// An optional integer cell within `range`.
fn integer(
    c: Col,
    s: &str,
    range: std::ops::RangeInclusive<i64>,
    errors: &mut Vec<Diagnostic>,
) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    match s.parse::<i64>() {
        Ok(v) if range.contains(&v) => Some(v),
        _ => {
            errors.push(Diagnostic::new(
                c.name(),
                format!(
                    "Must be an integer from {} to {}",
                    range.start(),
                    range.end()
                ),
                actual(s),
            ));
            None
        }
    }
}

/// A comma-separated cell as a JSON list: trimmed items, empty ones dropped; `None` if nothing
/// is left (STIX forbids empty lists).
fn split_list(s: &str) -> Option<Json<'_>> {
    let items: Vec<Json<'_>> = s
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| Json::String(Cow::Borrowed(t)))
        .collect();
    (!items.is_empty()).then_some(Json::Array(items))
}

/// The column a STIX property of the mapped indicator came from.
fn column_of<'a>(property: &'a str, pattern_cols: &'a str) -> &'a str {
    let root = property.split(['.', '[']).next().unwrap_or(property);
    match root {
        "pattern" => pattern_cols,
        "valid_from" => "validFrom",
        "valid_until" => "validUntil",
        "indicator_types" => "threatTypes",
        "labels" => "tags",
        "object_marking_refs" => "tlpLevel",
        "x_tiport_severity" => "severity",
        "x_tiport_file_name" => "fileName",
        _ => property,
    }
}

/// Appends `v` as a STIX pattern string literal: in quotes, with `\` and `'` escaped.
fn push_quoted(out: &mut String, v: &str) {
    out.push('\'');
    if v.contains(['\\', '\'']) {
        for ch in v.chars() {
            if ch == '\\' || ch == '\'' {
                out.push('\\');
            }
            out.push(ch);
        }
    } else {
        out.push_str(v);
    }
    out.push('\'');
}

/// Writes compact JSON. Ours rather than `Json`'s `Display`, which allocates per string.
fn write_json(v: &Json<'_>, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            use fmt::Write;
            let _ = write!(out, "{n}");
        }
        Json::String(s) => write_json_str(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(o) => {
            out.push('{');
            for (i, (k, v)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Keys are this module's own property names, which need no escaping.
                debug_assert!(find_escape(k.as_bytes()).is_none());
                out.push('"');
                out.push_str(k);
                out.push_str("\":");
                write_json(v, out);
            }
            out.push('}');
        }
    }
}

fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    let mut rest = s;
    while let Some(p) = find_escape(rest.as_bytes()) {
        out.push_str(&rest[..p]);
        match rest.as_bytes()[p] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b => {
                use fmt::Write;
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        // The byte at `p` is ASCII, so `p + 1` is a character boundary.
        rest = &rest[p + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

/// The position of the first byte JSON must escape (`"`, `\`, a control character). Looks at
/// eight bytes at a time, because the indicator's text is most of what a row costs to write.
fn find_escape(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Exact as a yes/no answer: some byte of `x` is zero / less than `n` (n <= 128).
    let has_zero = |x: u64| x.wrapping_sub(LO) & !x & HI != 0;
    let has_less = |x: u64, n: u64| x.wrapping_sub(LO * n) & !x & HI != 0;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if has_less(x, 0x20)
            || has_zero(x ^ (LO * u64::from(b'"')))
            || has_zero(x ^ (LO * u64::from(b'\\')))
        {
            break;
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
        .map(|p| p + i)
}

/// The canonical text of a parsed timestamp cell. Most cells are already canonical (UTC, `Z`,
/// three to nine fraction digits), and then the cell itself is used, which saves formatting
/// two timestamps per row.
fn canonical_text<'a>(cell: &'a str, t: &Timestamp) -> Cow<'a, str> {
    let b = cell.as_bytes();
    let canonical = b.len() >= 24
        && b[b.len() - 1] == b'Z'
        && b[19] == b'.'
        && b[20..b.len() - 1].iter().all(u8::is_ascii_digit)
        // A leap second is parsed as the next minute's first second.
        && &b[17..19] != b"60";
    if canonical {
        debug_assert_eq!(cell, t.to_string());
        Cow::Borrowed(cell)
    } else {
        Cow::Owned(t.to_string())
    }
}

fn ipv4_or_cidr(v: &str) -> bool {
    let (addr, prefix) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    addr.parse::<Ipv4Addr>().is_ok() && prefix.is_none_or(|p| prefix_ok(p, 32))
}

fn ipv6_or_cidr(v: &str) -> bool {
    let (addr, prefix) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    addr.parse::<Ipv6Addr>().is_ok() && prefix.is_none_or(|p| prefix_ok(p, 128))
}

fn prefix_ok(p: &str, max: u32) -> bool {
    (1..=3).contains(&p.len())
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u32>().is_ok_and(|n| n <= max)
}

/// A host name label: letters (any script, for internationalised names), digits, hyphens and
/// underscores (`_dmarc`), 1–63 bytes, no hyphen at either end.
fn label_ok(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && !l.starts_with('-')
        && !l.ends_with('-')
        && l.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// A domain name as an indicator: at least two labels, at most 253 bytes, and a top-level label
/// that is not all digits (that would be an IP address typed as a domain).
fn domain_ok(v: &str) -> bool {
    if v.len() > 253 || !v.contains('.') {
        return false;
    }
    let tld = v.rsplit('.').next().unwrap_or_default();
    v.split('.').all(label_ok) && !tld.bytes().all(|b| b.is_ascii_digit())
}

/// `scheme://host[:port][/path][?query][#fragment]` without whitespace; the host is a name
/// (one label is enough: intranet hosts), an IPv4 address or a bracketed IPv6 address.
fn url_ok(v: &str) -> bool {
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = v.split_once("://") else {
        return false;
    };
    let mut sb = scheme.bytes();
    if !sb.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let Some((h, after)) = inner.split_once(']') else {
            return false;
        };
        if h.parse::<Ipv6Addr>().is_err() {
            return false;
        }
        (None, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(hostport), None),
        }
    };
    if let Some(h) = host {
        let h = h.strip_suffix('.').unwrap_or(h);
        if h.is_empty() || !(h.parse::<Ipv4Addr>().is_ok() || h.split('.').all(label_ok)) {
            return false;
        }
    }
    port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    })
}

fn email_ok(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && domain_ok(domain)
}

/// The registry's root keys, long and short forms.
const HIVES: [&str; 13] = [
    "HKEY_LOCAL_MACHINE",
    "HKLM",
    "HKEY_CURRENT_USER",
    "HKCU",
    "HKEY_CLASSES_ROOT",
    "HKCR",
    "HKEY_USERS",
    "HKU",
    "HKEY_CURRENT_CONFIG",
    "HKCC",
    "HKEY_PERFORMANCE_DATA",
    "HKEY_DYN_DATA",
    "HKEY_CURRENT_USER_LOCAL_SETTINGS",
];

fn registry_key_ok(v: &str) -> bool {
    if v.chars().any(char::is_control) {
        return false;
    }
    let hive = v.split('\\').next().unwrap_or_default();
    HIVES.iter().any(|h| h.eq_ignore_ascii_case(hive))
}

/// Makes a cell safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`, `@`, a tab
/// or a carriage return (OWASP's list), or a NUL (which OWASP ASVS 1.2.10 adds), can be read as
/// a formula (CSV injection), so it gets a leading `'`, which spreadsheets take as "this is
/// text". So does a cell in which a separator (`,`, `;`, a tab, `|`, a line break) is followed
/// by one of those characters (after spaces or a quote, if any): a spreadsheet that splits
/// cells on another separator than ours (`;` in much of Europe) would start a new cell there,
/// a formula (OWASP: "attackers could use this to start a new cell"). The writers also quote
/// every cell ([`spreadsheet_safe_writer`]), so no separator inside a cell splits it. A cell
/// that already starts with `'` is left alone: it is already text to a spreadsheet.
pub fn neutralize_cell(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let starts = matches!(
        b.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\0')
    );
    if starts || (b.first() != Some(&b'\'') && formula_after_separator(b)) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Whether a separator in `b` is followed, after spaces and quotes, by a formula character.
fn formula_after_separator(b: &[u8]) -> bool {
    b.iter().enumerate().any(|(i, c)| {
        matches!(c, b',' | b';' | b'\t' | b'|' | b'\r' | b'\n')
            && b[i + 1..]
                .iter()
                .find(|c| !matches!(c, b' ' | b'"' | b'\''))
                .is_some_and(|c| matches!(c, b'=' | b'+' | b'-' | b'@'))
    })
}

/// A CSV writer for files meant to be opened in a spreadsheet (error files, exports): every
/// cell quoted, so that a spreadsheet splitting on another separator still sees our cells.
pub fn spreadsheet_safe_writer<W: std::io::Write>(w: W, flexible: bool) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .flexible(flexible)
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(w)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_rules() {
        for ok in [
            "1.2.3.4",
            "203.0.113.7",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "1.2.3.4/32",
        ] {
            assert!(ipv4_or_cidr(ok), "{ok}");
        }
        for bad in [
            "300.1.1.1",
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/+1",
            "a.b.c.d",
            " 1.2.3.4",
        ] {
            assert!(!ipv4_or_cidr(bad), "{bad}");
        }
    }

    #[test]
    fn ipv6_rules() {
        for ok in ["2001:db8::1", "::1", "2001:db8::/32", "::ffff:1.2.3.4"] {
            assert!(ipv6_or_cidr(ok), "{ok}");
        }
        for bad in ["2001:db8:::zz", "2001:db8::/129", "1.2.3.4", "fe80::1%eth0"] {
            assert!(!ipv6_or_cidr(bad), "{bad}");
        }
    }

    #[test]
    fn domain_rules() {
        for ok in [
            "example.com",
            "1776769042.tailspintoys.com",
            "_dmarc.example.co.uk",
            "bücher.de",
            "xn--bcher-kva.de",
        ] {
            assert!(domain_ok(ok), "{ok}");
        }
        for bad in [
            "bad domain with spaces.com",
            "localhost",
            "example..com",
            ".example.com",
            "example.com.",
            "-bad.com",
            "1.2.3.4",
            "a*.example.com",
        ] {
            assert!(!domain_ok(bad), "{bad}");
        }
    }

    #[test]
    fn url_rules() {
        for ok in [
            "http://example.com",
            "https://1.2.3.4/a/b.php?id=1&ref=x",
            "https://user:pw@example.com:8443/x#frag",
            "http://[2001:db8::1]:80/",
            "hxxp://intranet/path",
        ] {
            assert!(url_ok(ok), "{ok}");
        }
        for bad in [
            "not a url",
            "example.com/path",
            "http://",
            "http:///path",
            "http://exa mple.com",
            "http://example.com:99999/",
            "1http://x.com",
            "http://[zz]/",
        ] {
            assert!(!url_ok(bad), "{bad}");
        }
    }

    #[test]
    fn email_rules() {
        assert!(email_ok("secure.login12@portal.example.com"));
        for bad in [
            "no-at-sign.example.com",
            "a@b@example.com",
            "@example.com",
            "a@localhost",
            "a b@example.com",
            "a@bad domain.com",
        ] {
            assert!(!email_ok(bad), "{bad}");
        }
    }

    #[test]
    fn registry_rules() {
        assert!(registry_key_ok(
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run"
        ));
        assert!(registry_key_ok("hklm\\Software"));
        assert!(registry_key_ok("HKEY_USERS"));
        assert!(!registry_key_ok("SOFTWARE\\Microsoft"));
        assert!(!registry_key_ok("HKEY_LOCAL_MACHINEX\\a"));
    }

    #[test]
    fn neutralizes_formulas() {
        assert_eq!(neutralize_cell("=1+2"), "'=1+2");
        assert_eq!(neutralize_cell("+1"), "'+1");
        assert_eq!(neutralize_cell("-1"), "'-1");
        assert_eq!(neutralize_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralize_cell("\tx"), "'\tx");
        assert_eq!(neutralize_cell("\rx"), "'\rx");
        assert_eq!(neutralize_cell("\0x"), "'\0x");
        assert!(matches!(neutralize_cell("'=x"), Cow::Borrowed("'=x")));
        assert!(matches!(neutralize_cell(" =x"), Cow::Borrowed(" =x")));
        assert!(matches!(neutralize_cell("plain"), Cow::Borrowed("plain")));
        // A separator followed by a formula starts a cell in a spreadsheet that splits there.
        for tricky in [
            "a;=1+1",
            "a,=1+1",
            "a\t@SUM(1)",
            "x| -2+3",
            "a;\"=cmd",
            "1\n=2",
            "b; '+1",
        ] {
            assert_eq!(neutralize_cell(tricky), format!("'{tricky}"), "{tricky:?}");
        }
        for fine in [
            "a;b",
            "a, b",
            "1-2",
            "a=1",
            "x;y=2",
            "e-mail@example.com",
            "a;1",
        ] {
            assert!(
                matches!(neutralize_cell(fine), Cow::Borrowed(_)),
                "{fine:?}"
            );
        }
        assert!(matches!(neutralize_cell(""), Cow::Borrowed("")));
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        write_json_str("a\"b\\c\nd\u{1}é", &mut out);
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn find_escape_agrees_with_a_byte_scan() {
        let naive = |b: &[u8]| b.iter().position(|&c| c < 0x20 || c == b'"' || c == b'\\');
        let mut cases: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 0..20 {
            for special in [
                b'"', b'\\', 0, 0x1f, b'\n', 0x20, 0x7f, 0x80, 0xa2, 0xdc, b'!', b'#',
            ] {
                for at in 0..len {
                    let mut v = vec![b'a'; len];
                    v[at] = special;
                    cases.push(v);
                }
            }
        }
        for c in &cases {
            assert_eq!(find_escape(c), naive(c), "{c:?}");
        }
    }

    #[test]
    fn canonical_timestamps_are_kept_as_written() {
        for (cell, borrowed) in [
            ("2022-07-18T12:00:00.000Z", true),
            ("2022-07-18T12:00:00.123456Z", true),
            ("2022-07-18T12:00:00Z", false),
            ("2022-07-18T12:00:00.5Z", false),
            ("2022-07-18T14:00:00.000+02:00", false),
            ("2016-12-31T23:59:60.000Z", false),
        ] {
            let t = Timestamp::parse_lenient(cell).unwrap();
            let text = canonical_text(cell, &t);
            assert_eq!(matches!(text, Cow::Borrowed(_)), borrowed, "{cell}");
            assert_eq!(text, t.to_string());
        }
    }

    #[test]
    fn renames_properties_to_columns() {
        assert_eq!(column_of("pattern", "observableValue"), "observableValue");
        assert_eq!(column_of("labels[0]", "x"), "tags");
        assert_eq!(column_of("object_marking_refs[0]", "x"), "tlpLevel");
        assert_eq!(column_of("valid_until", "x"), "validUntil");
        assert_eq!(column_of("confidence", "x"), "confidence");
    }
}
