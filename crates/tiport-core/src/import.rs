//! File imports: queue a file (check its size and kind, keep a copy, record the import), then
//! run it (read, validate, store in one transaction, write the error file, record the end).
//!
//! The reading thread parses and validates while the store's writer writes the previous
//! batches; memory is bounded by the batch size and the store's channel, never by the file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use ingest::csvmap::{CsvReader, IdScope};
use ingest::errorfile::ErrorFile;
use ingest::{JsonRecords, Limits, ReadError};
use stix::{Diagnostic, Options, Timestamp};
use store::{
    ImportFinish, ImportFormat, ImportId, ImportMode, ImportRecord, ImportStatus, ImportWriter,
    NewImport, NewObject, Store, StoreError, WorkspaceId, WriteSummary,
};

use crate::error::{DomainError, ErrorKind};
use crate::files::ImportFiles;
use crate::record;
use crate::source::{SourceError, SourceName};

/// Objects per batch handed to the store's writer.
const BATCH: usize = 1024;

/// The largest files accepted, by format. The seed's limits: CSV 50 MB, JSON 250 MB (decimal
/// megabytes, as the seed and the corpus generator count them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimits {
    pub csv_bytes: u64,
    pub json_bytes: u64,
}

impl Default for FileLimits {
    fn default() -> Self {
        FileLimits {
            csv_bytes: 50_000_000,
            json_bytes: 250_000_000,
        }
    }
}

impl FileLimits {
    pub fn for_format(&self, f: ImportFormat) -> u64 {
        match f {
            ImportFormat::Csv => self.csv_bytes,
            ImportFormat::Json => self.json_bytes,
        }
    }

    /// The larger of the two: the most a file may be before its format is known.
    pub fn largest(&self) -> u64 {
        self.csv_bytes.max(self.json_bytes)
    }
}

/// Why a file was not even queued. Everything after queueing is told by the import record.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("workspace {0} not found")]
    UnknownWorkspace(WorkspaceId),
    #[error("{name} is {size} bytes; {format} imports are limited to {}", bytes_text(*limit))]
    TooLarge {
        name: String,
        size: u64,
        format: ImportFormat,
        limit: u64,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for QueueError {
    fn kind(&self) -> ErrorKind {
        match self {
            QueueError::UnknownWorkspace(_) => ErrorKind::NotFound,
            QueueError::TooLarge { .. } => ErrorKind::TooLarge,
            // The workspace was checked first: a failure of the store or the disk here is a
            // fault, whatever the store said.
            QueueError::Io { .. } | QueueError::Store(_) => ErrorKind::Internal,
        }
    }
}

/// `50000000` as "50 MB (50000000 bytes)", small limits as bytes.
fn bytes_text(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{} MB ({n} bytes)", n / 1_000_000)
    } else {
        format!("{n} bytes")
    }
}

/// A file to import, as the analyst asked for it.
#[derive(Debug, Clone)]
pub struct FileImport {
    pub workspace: WorkspaceId,
    pub source: SourceName,
    /// The name the analyst knows the file by (shown in the list of imports).
    pub file_name: String,
    /// `None`: decide from the content.
    pub format: Option<ImportFormat>,
    pub mode: ImportMode,
}

/// An import as a form asks for it (the service's import form): each field's text as sent,
/// `None` for a field not sent.
#[derive(Debug, Clone, Default)]
pub struct ImportForm {
    /// The name of the file sent, or `None` if the form had no file.
    pub file_name: Option<String>,
    pub source: Option<String>,
    /// `csv`, `json`, or `auto` (or empty, or none): decide from the content.
    pub format: Option<String>,
    /// `valid-only` (or empty, or none) or `all-or-nothing`.
    pub mode: Option<String>,
}

/// What is wrong with an import form's fields.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("the form has no file field")]
    NoFile,
    #[error("the form needs a non-empty source field")]
    NoSource,
    #[error("the source field {0}")]
    Source(SourceError),
    #[error("format must be auto, {words}, not {0:?}", words = ImportFormat::words())]
    Format(String),
    #[error("mode must be {words}, not {0:?}", words = ImportMode::words())]
    Mode(String),
}

impl DomainError for FormError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

/// The format an import asks for: one of [`ImportFormat`]'s words, or `auto` (or nothing),
/// which lets the file's first bytes decide. Read alike from the API's form and the command
/// line's `--format` (any case, surrounding spaces ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FormatChoice(pub Option<ImportFormat>);

impl std::str::FromStr for FormatChoice {
    type Err = FormError;

    fn from_str(text: &str) -> Result<FormatChoice, FormError> {
        let word = text.trim().to_ascii_lowercase();
        match word.as_str() {
            "" | "auto" => Ok(FormatChoice(None)),
            w => w
                .parse()
                .map(|f| FormatChoice(Some(f)))
                .map_err(|_| FormError::Format(word)),
        }
    }
}

impl ImportForm {
    /// The import the form asks for into `workspace`, or what is wrong with its fields.
    pub fn request(self, workspace: WorkspaceId) -> Result<FileImport, FormError> {
        let file_name = self.file_name.ok_or(FormError::NoFile)?;
        let source =
            SourceName::parse(self.source.as_deref().unwrap_or("")).map_err(|e| match e {
                SourceError::Empty => FormError::NoSource,
                e => FormError::Source(e),
            })?;
        let format = match self.format {
            Some(f) => f.parse::<FormatChoice>()?.0,
            None => None,
        };
        let mode = match self.mode.map(|m| m.trim().to_ascii_lowercase()) {
            None => ImportMode::ValidOnly,
            Some(m) if m.is_empty() => ImportMode::ValidOnly,
            Some(m) => m.parse().map_err(|_| FormError::Mode(m))?,
        };
        Ok(FileImport {
            workspace,
            source,
            file_name,
            format,
            mode,
        })
    }
}

/// A queued import, ready to run.
#[derive(Debug, Clone)]
pub struct ImportJob {
    pub id: ImportId,
    pub workspace: WorkspaceId,
    pub source: String,
    pub format: ImportFormat,
    pub mode: ImportMode,
    pub owner: String,
    /// The kept copy of the file.
    pub path: PathBuf,
    /// Where the error file goes, if there are errors.
    pub error_path: PathBuf,
    /// Set when the file cannot be imported at all (not CSV or JSON, or the wrong one of them);
    /// the import then fails at once with this message.
    pub refused: Option<String>,
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    Json,
    Csv,
    Empty,
    /// Neither CSV nor JSON, and why.
    Neither(String),
}

/// Looks at the start of a file.
pub fn sniff(head: &[u8]) -> Sniffed {
    if head.is_empty() {
        return Sniffed::Empty;
    }
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Sniffed::Neither(
            "the file is UTF-16 text; save it as UTF-8 (CSV UTF-8 in Excel) and import it again"
                .into(),
        );
    }
    let body = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    if let Some(at) = memchr_zero(body) {
        return Sniffed::Neither(format!(
            "the file is not text (a zero byte at offset {at}), so neither CSV nor JSON"
        ));
    }
    if let Err(e) = std::str::from_utf8(body) {
        // A sequence cut by the end of the sample is fine.
        if e.error_len().is_some() {
            return Sniffed::Neither(format!(
                "the file is not UTF-8 text (offset {}), so neither CSV nor JSON; save it as \
                 UTF-8 and import it again",
                e.valid_up_to()
            ));
        }
    }
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Sniffed::Empty,
        Some(b'[' | b'{') => Sniffed::Json,
        Some(_) => Sniffed::Csv,
    }
}

fn memchr_zero(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == 0)
}

/// Checks and records a file import: the workspace must exist and the file be within the
/// limit for its format; the file is copied under `files`, and the import recorded as `queued`.
pub fn queue(
    store: &dyn Store,
    files: &ImportFiles,
    request: &FileImport,
    src: &Path,
    limits: &FileLimits,
    owner: &str,
) -> Result<(ImportRecord, ImportJob), QueueError> {
    let io_err = |source| QueueError::Io {
        path: src.to_owned(),
        source,
    };
    if store.workspace(request.workspace)?.is_none() {
        return Err(QueueError::UnknownWorkspace(request.workspace));
    }
    let mut f = File::open(src).map_err(io_err)?;
    let size = f.metadata().map_err(io_err)?.len();
    let mut head = vec![0u8; 64 << 10];
    let n = read_up_to(&mut f, &mut head).map_err(io_err)?;
    head.truncate(n);
    let sniffed = sniff(&head);
    let by_extension = match Path::new(&request.file_name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") => Some(ImportFormat::Json),
        Some("csv") => Some(ImportFormat::Csv),
        _ => None,
    };
    let (format, refused) = match (request.format, &sniffed) {
        (_, Sniffed::Empty) => (
            request.format.or(by_extension).unwrap_or(ImportFormat::Csv),
            Some("the file is empty; there is nothing to import".to_owned()),
        ),
        (f, Sniffed::Neither(why)) => (
            f.or(by_extension).unwrap_or(ImportFormat::Csv),
            Some(why.clone()),
        ),
        (Some(ImportFormat::Csv), Sniffed::Json) => (
            ImportFormat::Csv,
            Some("the file holds JSON, but it is being imported as CSV; import it as JSON".into()),
        ),
        (Some(ImportFormat::Json), Sniffed::Csv) => (
            ImportFormat::Json,
            Some(
                "the file does not start with '[' or '{', so it is not JSON; if it is a CSV \
                 template, import it as CSV"
                    .into(),
            ),
        ),
        (Some(f), _) => (f, None),
        (None, Sniffed::Json) => (ImportFormat::Json, None),
        (None, Sniffed::Csv) => (ImportFormat::Csv, None),
    };
    let limit = limits.for_format(format);
    if size > limit {
        return Err(QueueError::TooLarge {
            name: request.file_name.clone(),
            size,
            format,
            limit,
        });
    }
    let id = ImportId::random();
    let path = files
        .keep_copy(id, src, &request.file_name)
        .map_err(io_err)?;
    let record = store.create_import(&NewImport {
        id,
        workspace: request.workspace,
        source: request.source.as_str().to_owned(),
        file_name: bounded_name(&request.file_name),
        format,
        mode: request.mode,
        file_path: Some(path.clone()),
        created: Timestamp::now(),
        owner: owner.to_owned(),
    })?;
    let job = ImportJob {
        id,
        workspace: request.workspace,
        source: request.source.as_str().to_owned(),
        format,
        mode: request.mode,
        owner: owner.to_owned(),
        path,
        error_path: files.error_path(id, format),
        refused,
    };
    Ok((record, job))
}

/// The file name as the import's record keeps it: at most 255 characters (what file systems
/// allow), as a browser or a script may send any length.
fn bounded_name(name: &str) -> String {
    name.chars().take(255).collect()
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// How an import ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// What the import record now says.
    pub finish: ImportFinish,
    /// The file could not be read as its format at all (not just some invalid records).
    pub unreadable: bool,
}

/// Runs a queued import, reading the kept file through `wrap` (for a progress bar), and
/// returns how it ended. Errors are faults of the store or the disk; everything wrong with the
/// file ends in the import record instead.
pub fn run(
    store: &dyn Store,
    job: &ImportJob,
    wrap: &mut dyn FnMut(File) -> Box<dyn Read>,
) -> Result<Ended, StoreError> {
    let writer = store.begin_import(job.id, &job.owner)?;
    let mut run = Run {
        job,
        writer: Some(writer),
        batch: Vec::with_capacity(BATCH),
        total: 0,
        invalid: 0,
        upgraded: Vec::new(),
        errors: None,
        header: Vec::new(),
        fault: None,
        merged: 0,
        merged_into: HashMap::new(),
        first_merge: None,
        lines: Vec::new(),
    };
    let fatal = match &job.refused {
        Some(why) => Some((None, why.clone())),
        None => match File::open(&job.path) {
            Err(e) => Some((None, format!("cannot read the kept file: {e}"))),
            Ok(f) => {
                let input = BufReader::with_capacity(256 << 10, wrap(f));
                match job.format {
                    ImportFormat::Json => run.json(input),
                    ImportFormat::Csv => run.csv(input),
                }
            }
        },
    };
    run.finish(fatal)
}

/// The state of one running import.
struct Run<'j> {
    job: &'j ImportJob,
    writer: Option<Box<dyn ImportWriter>>,
    batch: Vec<NewObject>,
    total: u64,
    invalid: u64,
    /// Record indexes of STIX 2.0 records handed to the store (the count is of those it
    /// accepted).
    upgraded: Vec<u64>,
    errors: Option<ErrorFile<BufWriter<File>>>,
    /// The CSV header, for the error file.
    header: Vec<String>,
    /// A store or disk fault met while reading; it ends the import.
    fault: Option<StoreError>,
    /// CSV rows whose observable an earlier row of the file already had, and the first such
    /// row's line with the line it repeats.
    merged: u64,
    /// How many later rows were merged into the row with this record index.
    merged_into: HashMap<u64, u64>,
    first_merge: Option<(u64, u64)>,
    /// `(record index, line)` of every record handed to the store, in order, so that a record
    /// the store refuses is reported with its line.
    lines: Vec<(u64, u64)>,
}

/// A file-level problem: the record index it is about, if any, and the message.
type Fatal = Option<(Option<(u64, Option<u64>)>, String)>;

impl Run<'_> {
    fn valid(&mut self, obj: NewObject, line: u64) {
        self.total += 1;
        // All-or-nothing: once a record is invalid nothing will be stored, so stop writing.
        if self.fault.is_some() || (self.job.mode == ImportMode::AllOrNothing && self.invalid > 0) {
            return;
        }
        self.lines.push((obj.record, line));
        self.batch.push(obj);
        if self.batch.len() >= BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        if self.batch.is_empty() || self.fault.is_some() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = w.push(batch) {
                self.fault = Some(e);
            }
        }
    }

    fn invalid(
        &mut self,
        index: u64,
        line: Option<u64>,
        cells: Option<&[String]>,
        msgs: &[String],
    ) {
        self.total += 1;
        self.invalid += 1;
        if self.job.mode == ImportMode::AllOrNothing {
            self.batch.clear();
        }
        self.error_entry(index, line, cells, msgs);
    }

    fn error_entry(
        &mut self,
        index: u64,
        line: Option<u64>,
        cells: Option<&[String]>,
        msgs: &[String],
    ) {
        if self.fault.is_some() {
            return;
        }
        if self.errors.is_none() {
            let file = match crate::files::create_private(&self.job.error_path) {
                Ok(f) => BufWriter::with_capacity(64 << 10, f),
                Err(e) => {
                    self.fault = Some(disk_fault(&self.job.error_path, e));
                    return;
                }
            };
            self.errors = Some(match self.job.format {
                ImportFormat::Csv => ErrorFile::csv(file, &self.header),
                ImportFormat::Json => ErrorFile::json(file),
            });
        }
        let ef = self.errors.as_mut().expect("created above");
        if let Err(e) = ef.record(index, line, cells, msgs) {
            self.fault = Some(disk_fault(&self.job.error_path, e));
        }
    }

    fn json(&mut self, input: impl Read) -> Fatal {
        let opts = Options {
            observables: true,
            ..Options::default()
        };
        let mut records = JsonRecords::new(input, Limits::default());
        let mut seen = 0u64;
        let result = records.for_each(|rec| -> Result<(), ReadError> {
            if self.fault.is_some() {
                // The store or the disk failed: reading on would only buffer what cannot be
                // written. `finish` reports the fault.
                return Err(ReadError::Io(io::Error::other(
                    "the import stopped on a fault",
                )));
            }
            seen = rec.index as u64 + 1;
            let index = rec.index as u64;
            let messages = match record::from_record(&rec, opts) {
                Ok((o, v20)) => {
                    if v20 {
                        self.upgraded.push(index);
                    }
                    self.valid(o, rec.line);
                    return Ok(());
                }
                Err(messages) => messages,
            };
            self.invalid(index, Some(rec.line), None, &messages);
            Ok(())
        });
        match result {
            Ok(()) if self.total == 0 => Some((
                None,
                "the file holds no records (an empty array or bundle); there is nothing to import"
                    .into(),
            )),
            Ok(()) => None,
            // The text of both is "line L, column C: what the reader found".
            Err(e @ ReadError::Syntax { line, .. }) => Some((
                Some((seen, Some(line))),
                format!(
                    "{e}; the file is not well-formed JSON (cut short?), so nothing of it was \
                     imported"
                ),
            )),
            Err(e @ ReadError::Ambiguous { line, .. }) => Some((
                Some((seen, Some(line))),
                format!("{e}; nothing of the file was imported"),
            )),
            Err(ReadError::Io(e)) => Some((None, format!("cannot read the file: {e}"))),
        }
    }

    fn csv(&mut self, input: impl Read) -> Fatal {
        let scope = IdScope {
            workspace: self.job.workspace.to_string(),
            source: self.job.source.clone(),
        };
        let reader = match CsvReader::new(input, None, scope, Timestamp::now()) {
            Ok(r) => r,
            Err(e) => return Some((None, e.to_string())),
        };
        self.header = reader.header().to_vec();
        let header_line = reader.header_line();
        // Two rows with the same observable map to the same indicator id. Feeds repeat
        // observables, and the rows are valid, so the later row is not an error: it is merged
        // into the first one's indicator (the first row's values are kept, as the store keeps
        // the first of two identical versions), counted as imported, and the import's message
        // says how many rows were merged and where the first one is.
        let mut first_line: HashMap<String, (u64, u64)> = HashMap::new();
        for row in reader {
            if self.fault.is_some() {
                break; // `finish` reports it
            }
            let row = match row {
                Ok(r) => r,
                Err(e) => return Some((None, format!("{e}; nothing of the file was imported"))),
            };
            let index = row.index as u64;
            match row.outcome {
                Err(bad) => self.invalid(index, Some(row.line), Some(&bad.cells), &bad.messages()),
                Ok(mapped) => {
                    if let Some(&(first, first_index)) = first_line.get(&mapped.id) {
                        self.total += 1;
                        self.merged += 1;
                        *self.merged_into.entry(first_index).or_default() += 1;
                        self.first_merge.get_or_insert((row.line, first));
                        continue;
                    }
                    let id = mapped.id.clone();
                    match csv_object(index, mapped) {
                        Ok(o) => {
                            first_line.insert(id, (row.line, index));
                            self.valid(o, row.line);
                        }
                        Err(m) => {
                            let d = Diagnostic::new("row", m, "(not shown)").to_string();
                            self.invalid(index, Some(row.line), None, &[d]);
                        }
                    }
                }
            }
        }
        if self.total == 0 {
            return Some((
                None,
                format!(
                    "line {header_line}: the file has a header but no data rows; there is \
                     nothing to import"
                ),
            ));
        }
        None
    }

    /// Ends the import: commits or rolls back, writes the error file, records the end.
    fn finish(mut self, fatal: Fatal) -> Result<Ended, StoreError> {
        self.send();
        let mut writer = self.writer.take().expect("writer present until finish");
        let flushed = match self.fault.take() {
            Some(e) => Err(e),
            None => writer.flush(),
        };
        let summary = match flushed {
            Ok(s) => s,
            Err(e) => return Err(self.abort(writer, e)),
        };
        let rejected = self.report_rejected(&summary);
        let fatal_message = fatal.map(|(at, message)| self.report_fatal(at, message));
        let error_path = match self.close_error_file() {
            Ok(path) => path,
            Err(e) => return Err(self.abort(writer, e)),
        };
        if let Some(e) = self.fault.take() {
            return Err(self.abort(writer, e));
        }
        let finish = self.end_record(&summary, rejected, error_path);
        self.settle(writer, finish, fatal_message)
    }

    /// Rolls back after `fault`, recording the import failed, and gives the fault back.
    fn abort(&self, writer: Box<dyn ImportWriter>, fault: StoreError) -> StoreError {
        let _ = writer.abort(&self.failed(format!("the import failed: {fault}")));
        fault
    }

    /// Writes the records the store refused (versioning rules) to the error file, after the
    /// validation errors, which were written as the file was read; each with its line. Rows
    /// merged into a refused row are refused with it. Returns how many records were refused.
    fn report_rejected(&mut self, summary: &WriteSummary) -> u64 {
        let mut rejected = summary.rejected.len() as u64;
        for (index, message) in &summary.rejected {
            let line = self
                .lines
                .binary_search_by_key(index, |(i, _)| *i)
                .ok()
                .map(|at| self.lines[at].1);
            let mut message = message.clone();
            if let Some(n) = self.merged_into.get(index) {
                self.merged -= n;
                rejected += n;
                message.push_str(&format!(
                    " ({n} later row(s) with the same observable were refused with it)"
                ));
            }
            self.error_entry(*index, line, None, std::slice::from_ref(&message));
        }
        rejected
    }

    /// Counts a file-level problem and returns its message. A problem of one record (a
    /// truncated last element) is an entry of the error file; a problem of the whole file (not
    /// JSON, no header) has no record to name and is told by the import record's message
    /// alone.
    fn report_fatal(&mut self, at: Option<(u64, Option<u64>)>, message: String) -> String {
        if let Some((index, line)) = at {
            self.total += 1;
            self.invalid += 1;
            self.error_entry(index, line, None, std::slice::from_ref(&message));
        }
        message
    }

    /// Finishes the error file, if there is one, and returns where it is. It is synced before
    /// the record that names it is committed, so the record never points at an error file a
    /// power cut emptied.
    fn close_error_file(&mut self) -> Result<Option<PathBuf>, StoreError> {
        let Some(ef) = self.errors.take() else {
            return Ok(None);
        };
        ef.finish()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .and_then(|f| f.sync_all())
            .map(|()| Some(self.job.error_path.clone()))
            .map_err(|e| disk_fault(&self.job.error_path, e))
    }

    /// The record of an import that read its whole file, as if it succeeded (`settle` decides).
    fn end_record(
        &self,
        summary: &WriteSummary,
        rejected: u64,
        error_path: Option<PathBuf>,
    ) -> ImportFinish {
        let merge_note = self
            .first_merge
            .filter(|_| self.merged > 0)
            .map(|(line, first)| {
                format!(
                    "{} row(s) repeat the observable of an earlier row and were merged into its \
                 indicator, keeping the earlier row's values (the first: line {line} repeats \
                 line {first})",
                    self.merged
                )
            });
        ImportFinish {
            status: ImportStatus::Succeeded,
            total: self.total,
            imported: summary.stored + summary.unchanged + self.merged,
            invalid: self.invalid + rejected,
            unchanged: summary.unchanged + self.merged,
            upgraded: self
                .upgraded
                .iter()
                .filter(|i| {
                    summary
                        .rejected
                        .binary_search_by_key(i, |(r, _)| r)
                        .is_err()
                })
                .count() as u64,
            message: merge_note,
            error_path,
            finished: Timestamp::now(),
        }
    }

    /// Commits or rolls back as `finish` and the mode say: a file that could not be read
    /// (`fatal_message`), or invalid records in all-or-nothing mode, or nothing valid at all,
    /// fail with nothing stored; some invalid records are a partial success.
    fn settle(
        &self,
        writer: Box<dyn ImportWriter>,
        mut finish: ImportFinish,
        fatal_message: Option<String>,
    ) -> Result<Ended, StoreError> {
        let (invalid, imported) = (finish.invalid, finish.imported);
        let failed = |finish: &mut ImportFinish, message: String| {
            finish.status = ImportStatus::Failed;
            finish.imported = 0;
            finish.unchanged = 0;
            finish.upgraded = 0;
            finish.message = Some(message);
        };
        if let Some(message) = fatal_message {
            failed(&mut finish, bounded_message(message));
            writer.abort(&finish)?;
            return Ok(Ended {
                finish,
                unreadable: true,
            });
        }
        if invalid > 0 && (self.job.mode == ImportMode::AllOrNothing || imported == 0) {
            let message = if self.job.mode == ImportMode::AllOrNothing {
                format!(
                    "{invalid} of {} records are invalid; in all-or-nothing mode nothing was \
                     imported (the error file lists them)",
                    self.total
                )
            } else {
                "every record is invalid (the error file lists them)".to_owned()
            };
            failed(&mut finish, message);
            writer.abort(&finish)?;
            return Ok(Ended {
                finish,
                unreadable: false,
            });
        }
        if invalid > 0 {
            finish.status = ImportStatus::PartiallySucceeded;
        }
        writer.commit(&finish)?;
        Ok(Ended {
            finish,
            unreadable: false,
        })
    }

    /// How an import that stopped on a fault ends. It names no error file: the file may be
    /// incomplete, and retention removes it with the import's directory.
    fn failed(&self, message: String) -> ImportFinish {
        ImportFinish {
            status: ImportStatus::Failed,
            total: self.total,
            imported: 0,
            invalid: self.invalid,
            unchanged: 0,
            upgraded: 0,
            message: Some(bounded_message(message)),
            error_path: None,
            finished: Timestamp::now(),
        }
    }
}

/// Ends an import that did not end by itself as failed, with `message`: one that was queued
/// and never ran (the service stopped first), or one stopped by a fault in tiport.
pub fn fail(store: &dyn Store, job: &ImportJob, message: &str) -> Result<(), StoreError> {
    store.finish_import(job.id, &ImportFinish::failed(message, Timestamp::now()))
}

/// The most bytes of an import's message that are kept (for 30 days, in every list of
/// imports): whatever made it longer, the start says what went wrong.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// `m`, cut to [`MAX_MESSAGE_BYTES`] with a note of how long it was.
pub fn bounded_message(mut m: String) -> String {
    if m.len() <= MAX_MESSAGE_BYTES {
        return m;
    }
    let len = m.len();
    m.truncate(m.floor_char_boundary(MAX_MESSAGE_BYTES));
    m.push_str(&format!("… (cut: the whole message was {len} bytes)"));
    m
}

fn disk_fault(path: &Path, e: io::Error) -> StoreError {
    StoreError::Backend(format!("cannot write {}: {e}", path.display()).into())
}

/// The object of a mapped CSV row, marked as derived so an unchanged row is not a new version.
/// Built from the typed fields the mapping already has: the JSON is compact and valid as it is.
pub(crate) fn csv_object(
    index: u64,
    mapped: ingest::csvmap::MappedIndicator,
) -> Result<NewObject, String> {
    let f = mapped.fields;
    let o = NewObject {
        record: index,
        id: stix::StixId::parse(&mapped.id).map_err(|e| format!("id: {e}"))?,
        modified: f.now,
        created: f.now,
        spec_version: "2.1",
        revoked: f.revoked,
        valid_from: Some(f.valid_from),
        valid_until: f.valid_until,
        confidence: f.confidence,
        tlp: f.tlp,
        labels: f.labels,
        observables: {
            let mut keys = record::pattern_observables(&mapped.pattern);
            if let Some(name) = &f.name {
                keys.extend(store::ObservableKey::name(name));
            }
            keys
        },
        json: mapped.json,
        derived: None,
    };
    record::derive(o, mapped.stamps)
}

/// An import record as the API and `tiport import-status` show it: the keys of DESIGN.md's
/// `GET …/imports/{id}` (`id`, `source`, `fileName`, `format`, `mode`, `status`, `total`,
/// `imported`, `invalid`, `created`, `finished`), then why it failed or what it merged, and the
/// counts behind `imported`. A struct, not `json!`, so the keys keep their order.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordView<'a> {
    pub id: String,
    pub source: &'a str,
    pub file_name: &'a str,
    pub format: &'a str,
    pub mode: &'a str,
    pub status: &'a str,
    pub total: u64,
    pub imported: u64,
    pub invalid: u64,
    pub created: String,
    pub finished: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
    pub unchanged: u64,
    pub upgraded: u64,
}

impl<'a> RecordView<'a> {
    pub fn of(r: &'a ImportRecord) -> Self {
        RecordView {
            id: r.id.to_string(),
            source: &r.source,
            file_name: &r.file_name,
            format: r.format.as_str(),
            mode: r.mode.as_str(),
            status: r.status.as_str(),
            total: r.total,
            imported: r.imported,
            invalid: r.invalid,
            created: r.created.to_string(),
            finished: r.finished.map(|t| t.to_string()),
            message: r.message.as_deref(),
            unchanged: r.unchanged,
            upgraded: r.upgraded,
        }
    }
}
