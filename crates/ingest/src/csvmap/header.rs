//! The header row: where each column is, which template the file follows, or the one error that
//! says why no row of the file can be read.
//!
//! Invariants: a header is refused for the first problem found, in this order: a duplicate
//! column, no column name at all, the wrong or an undecidable template, unknown columns, missing
//! required columns (the order decides which message a header with several problems gets);
//! a list of cells in a message names at most ten of them and counts the rest,
//! so a header of a million columns gives a message of one line.

use super::columns::{Col, FILE_COLUMNS, HASH_COLUMNS, N_COLS, OTHER_COLUMNS};
use super::{CsvError, Template};

/// What the header says: where each column is, and which cells belong to no column.
pub(super) struct Layout {
    pub(super) template: Template,
    pub(super) at: [Option<usize>; N_COLS],
    /// Number of header cells; every row must have exactly this many fields.
    pub(super) width: usize,
    /// Positions of header cells left empty; their cells must be empty too.
    pub(super) unnamed: Vec<usize>,
}

/// The header's cells sorted by what they name, before the template is known.
struct Named<'h> {
    at: [Option<usize>; N_COLS],
    unnamed: Vec<usize>,
    /// Cells that name no column of either template.
    unknown: Vec<&'h str>,
    /// The columns found, with their positions, in the header's order.
    cols: Vec<(usize, Col)>,
}

impl Layout {
    pub(super) fn at(&self, c: Col) -> Option<usize> {
        self.at[c as usize]
    }

    pub(super) fn has(&self, c: Col) -> bool {
        self.at(c).is_some()
    }

    /// Reads the header row at file line `line`. `forced` is the template the caller insists
    /// on, if any; otherwise the header's columns decide.
    pub(super) fn from_header(
        header: &[String],
        line: u64,
        forced: Option<Template>,
    ) -> Result<Layout, CsvError> {
        let bad = |message: String| CsvError::BadHeader { line, message };
        let mut named = Named::read(header).map_err(bad)?;
        if named.cols.is_empty() {
            return Err(bad(not_a_header(header)));
        }
        let template = template_of(&named.cols, forced, header, line)?;
        // Columns of the other template count as unknown: their values would be dropped.
        for &(i, c) in &named.cols {
            if !template.columns().contains(&c) {
                named.unknown.push(&header[i]);
            }
        }
        if !named.unknown.is_empty() {
            return Err(bad(unknown_columns(&named.unknown, template)));
        }
        let missing = missing_columns(template, &named.at);
        if !missing.is_empty() {
            return Err(bad(missing_columns_message(&missing, template, header)));
        }
        Ok(Layout {
            template,
            at: named.at,
            width: header.len(),
            unnamed: named.unnamed,
        })
    }
}

impl<'h> Named<'h> {
    /// Sorts the header's cells; the error is the message for a column named twice, which is
    /// reported before anything else because every later check would count it wrong.
    fn read(header: &'h [String]) -> Result<Named<'h>, String> {
        let mut named = Named {
            at: [None; N_COLS],
            unnamed: Vec::new(),
            unknown: Vec::new(),
            cols: Vec::new(),
        };
        for (i, h) in header.iter().enumerate() {
            if h.is_empty() {
                named.unnamed.push(i);
                continue;
            }
            match Col::from_header(h) {
                Some(c) => {
                    if let Some(first) = named.at[c as usize] {
                        return Err(format!(
                            "column '{}' appears twice (columns {} and {}); keep one",
                            c.name(),
                            first + 1,
                            i + 1
                        ));
                    }
                    named.at[c as usize] = Some(i);
                    named.cols.push((i, c));
                }
                None => named.unknown.push(h),
            }
        }
        Ok(named)
    }
}

/// The message for a first row in which no cell is a column name. It says what the header
/// looks like rather than listing every cell as unknown, because the cause is usually the
/// separator or a missing header.
fn not_a_header(header: &[String]) -> String {
    if header.len() == 1 && (header[0].contains(';') || header[0].contains('\t')) {
        let sep = if header[0].contains(';') {
            "';'"
        } else {
            "tabs"
        };
        return format!(
            "the header is a single column: the file seems to use {sep} as its \
             separator; save it as comma-separated CSV (UTF-8)"
        );
    }
    format!(
        "the first row is not a template header: none of its cells is a column name \
         (found: {}); expected the csv-other header ({}) or the csv-file header ({})",
        found(header),
        names(&OTHER_COLUMNS),
        names(&FILE_COLUMNS)
    )
}

/// The template the file follows: the one its columns point to, which must be the one the
/// caller insists on, if any.
fn template_of(
    cols: &[(usize, Col)],
    forced: Option<Template>,
    header: &[String],
    line: u64,
) -> Result<Template, CsvError> {
    let bad = |message: String| CsvError::BadHeader { line, message };
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
    match (forced, looks_like) {
        (Some(t), Some(l)) if t != l => Err(CsvError::WrongTemplate {
            line,
            requested: t,
            looks_like: l,
        }),
        (Some(t), _) => Ok(t),
        (None, Some(l)) => Ok(l),
        (None, None) if !other.is_empty() => Err(bad(format!(
            "the header mixes columns of the csv-other template ({}) and of the csv-file \
             template ({}); use one template per file",
            names(&other),
            names(&file)
        ))),
        (None, None) => Err(bad(format!(
            "cannot tell the template: csv-other needs the columns observableType and \
             observableValue, csv-file needs at least one hash column (MD5, SHA-1, \
             SHA-256, SHA-512); found columns: {}",
            found(header)
        ))),
    }
}

/// The message for header cells that are no column of `template`.
fn unknown_columns(unknown: &[&str], template: Template) -> String {
    let list = listing(unknown.iter().copied(), "'");
    let s = if unknown.len() > 1 { "s" } else { "" };
    format!(
        "unknown column{s} {list} for the {template} template; its columns are: {}",
        names(template.columns())
    )
}

/// The required columns of `template` that the header lacks, in the order they are named.
fn missing_columns(template: Template, at: &[Option<usize>; N_COLS]) -> Vec<&'static str> {
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
    missing
}

fn missing_columns_message(missing: &[&str], template: Template, header: &[String]) -> String {
    let list = missing
        .iter()
        .map(|m| format!("'{m}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let s = if missing.len() > 1 { "s" } else { "" };
    format!(
        "missing required column{s} {list} for the {template} template; found columns: {}",
        found(header)
    )
}

/// The header's non-empty cells, as a message lists them.
fn found(header: &[String]) -> String {
    listing(
        header.iter().map(String::as_str).filter(|h| !h.is_empty()),
        "",
    )
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
