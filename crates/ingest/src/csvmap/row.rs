//! Mapping one data row to an indicator: one function per column rule, a short driver
//! ([`RowCtx::map`]) that runs them, and the JSON tree that `stix` then checks.
//!
//! Invariants:
//!
//! * Every rule reports every problem it finds into one list, and the rules run in a fixed
//!   order (cells, unnamed columns, validity dates, confidence, severity, revoked, TLP, the
//!   observable); the list is then sorted stably by the file's column order, so the messages of
//!   a row and their order depend only on the row.
//! * A cell that is not UTF-8 reads as empty but has been reported, so no rule reports it again
//!   as missing.
//! * A row with problems never reaches the JSON tree; a row without any always has a pattern.
//! * The indicator's members are written in one order (see [`tree`]): the stored text, and so
//!   the store's test for an unchanged row, depend on it.
//! * A row costs a handful of allocations: cells are borrowed, the id's name buffer is reused,
//!   timestamps already in canonical form are not formatted again.

use std::borrow::Cow;

use csv::ByteRecord;
use stix::json::Object;
use stix::{Diagnostic, Json, Timestamp, Tlp};
use uuid::Uuid;

use super::columns::{Col, HASH_COLUMNS, N_COLS};
use super::header::Layout;
use super::json_text::write_json;
use super::observable::ObsType;
use super::{IdScope, IndicatorFields, MappedIndicator, Template, ID_NAMESPACE, SEVERITY_RANGE};

/// What mapping one row needs besides the row.
pub(super) struct RowCtx<'c> {
    pub(super) layout: &'c Layout,
    pub(super) scope: &'c IdScope,
    pub(super) now: &'c str,
    pub(super) now_ts: Timestamp,
}

/// The cells of one row, read as text.
struct Cells<'r> {
    text: [&'r str; N_COLS],
    /// Cells that are not UTF-8. They read as empty, but have been reported: they must not also
    /// be reported as missing.
    unreadable: [bool; N_COLS],
}

impl<'r> Cells<'r> {
    fn get(&self, c: Col) -> &'r str {
        self.text[c as usize]
    }

    fn unreadable(&self, c: Col) -> bool {
        self.unreadable[c as usize]
    }
}

/// The values of a row that passed every rule, as the indicator holds them.
struct Checked {
    valid_from: Timestamp,
    valid_until: Option<Timestamp>,
    confidence: Option<i64>,
    severity: Option<i64>,
    revoked: Option<bool>,
    tlp: Option<Tlp>,
}

/// The pattern made from a row's observable, and the columns that a problem `stix` finds in
/// it is reported on.
struct Pattern {
    text: String,
    cols: Cow<'static, str>,
}

impl RowCtx<'_> {
    /// Checks and maps one row; `Err` holds every problem found.
    pub(super) fn map(
        &self,
        rec: &ByteRecord,
        id_name: &mut Vec<u8>,
    ) -> Result<MappedIndicator, Vec<Diagnostic>> {
        let layout = self.layout;
        if rec.len() != layout.width {
            // With the columns shifted, per-cell messages would only mislead.
            return Err(vec![wrong_width(rec.len(), layout.width)]);
        }
        let mut errors = Vec::new();
        let cells = read_cells(layout, rec, &mut errors);
        check_unnamed(layout, rec, &mut errors);
        let (valid_from, valid_until) = check_validity(&cells, &mut errors);
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
        let revoked = check_revoked(cells.get(Col::Revoked), &mut errors);
        let tlp = check_tlp(cells.get(Col::TlpLevel), &mut errors);
        let pattern = match layout.template {
            Template::CsvOther => check_observable(&cells, &mut errors),
            Template::CsvFile => check_hashes(&cells, layout, &mut errors),
        };
        if !errors.is_empty() {
            // In the order of the file's columns, as the analyst reads the row.
            errors.sort_by_key(|d| {
                Col::from_header(d.property())
                    .and_then(|c| layout.at(c))
                    .unwrap_or(usize::MAX)
            });
            return Err(errors);
        }
        let checked = Checked {
            valid_from: valid_from.expect("no errors, so validFrom was parsed"),
            valid_until,
            confidence,
            severity,
            revoked,
            tlp,
        };
        debug_assert!(!pattern.text.is_empty());
        let id = self.id(&pattern.text, id_name);
        let json = self.indicator_json(&cells, &checked, &id, &pattern, rec.as_slice().len())?;
        let stamps = stamps_in(&json, self.now);
        Ok(MappedIndicator {
            id,
            pattern: pattern.text,
            json,
            stamps,
            fields: self.fields(&cells, &checked),
        })
    }

    /// The id: UUIDv5 over workspace, source and pattern. `id_name` is a buffer kept across
    /// rows, so that the name costs no allocation.
    fn id(&self, pattern: &str, id_name: &mut Vec<u8>) -> String {
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
        id
    }

    /// The indicator's JSON text, once `stix` (the second line of defence) has found it valid;
    /// otherwise `stix`'s problems, renamed from properties to the columns they came from.
    fn indicator_json(
        &self,
        cells: &Cells<'_>,
        checked: &Checked,
        id: &str,
        pattern: &Pattern,
        row_len: usize,
    ) -> Result<String, Vec<Diagnostic>> {
        let valid_from = canonical_text(cells.get(Col::ValidFrom), &checked.valid_from);
        let valid_until = checked
            .valid_until
            .map(|t| canonical_text(cells.get(Col::ValidUntil), &t));
        let tree = tree(
            cells,
            checked,
            self.now,
            id,
            &pattern.text,
            &valid_from,
            valid_until.as_deref(),
        );
        let report = stix::validate(&tree, stix::Options::default(), None);
        if !report.errors.is_empty() {
            return Err(report
                .errors
                .iter()
                .map(|d| {
                    Diagnostic::new(
                        column_of(d.property(), &pattern.cols),
                        d.reason(),
                        d.actual(),
                    )
                })
                .collect());
        }
        // Room for the cells, the pattern, the fixed keys and the ids, so one allocation serves.
        let mut out = String::with_capacity(row_len + 2 * pattern.text.len() + 400);
        write_json(&tree, &mut out);
        Ok(out)
    }

    /// The values a store indexes, so that nobody parses the JSON text again.
    fn fields(&self, cells: &Cells<'_>, checked: &Checked) -> IndicatorFields {
        IndicatorFields {
            now: self.now_ts,
            valid_from: checked.valid_from,
            valid_until: checked.valid_until,
            confidence: checked.confidence.and_then(|c| u8::try_from(c).ok()),
            revoked: checked.revoked.unwrap_or(false),
            tlp: checked.tlp,
            labels: match split_list(cells.get(Col::Tags)) {
                Some(Json::Array(items)) => items
                    .iter()
                    .filter_map(|j| j.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
            name: Some(cells.get(Col::Name))
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
        }
    }
}

/// The one problem of a row whose number of fields is not the header's.
fn wrong_width(fields: usize, width: usize) -> Diagnostic {
    Diagnostic::new(
        "row",
        format!(
            "Has {fields} fields but the header has {width} columns; look for a missing or extra \
             comma, or an unclosed quote"
        ),
        fields.to_string(),
    )
}

/// The template's cells of the row, trimmed; a cell that is not UTF-8 is reported and reads as
/// empty.
fn read_cells<'r>(layout: &Layout, rec: &'r ByteRecord, errors: &mut Vec<Diagnostic>) -> Cells<'r> {
    let mut cells = Cells {
        text: [""; N_COLS],
        unreadable: [false; N_COLS],
    };
    for &c in layout.template.columns() {
        let Some(i) = layout.at(c) else { continue };
        let raw = &rec[i];
        match std::str::from_utf8(raw) {
            Ok(s) => cells.text[c as usize] = s.trim(),
            Err(_) => {
                cells.unreadable[c as usize] = true;
                errors.push(Diagnostic::new(
                    c.name(),
                    "Is not valid UTF-8 text; save the file as CSV UTF-8",
                    actual(&String::from_utf8_lossy(raw)),
                ));
            }
        }
    }
    cells
}

/// A column without a header name must be empty: its value would be dropped without a word.
fn check_unnamed(layout: &Layout, rec: &ByteRecord, errors: &mut Vec<Diagnostic>) {
    for &i in &layout.unnamed {
        if !rec[i].trim_ascii().is_empty() {
            errors.push(Diagnostic::new(
                format!("column {}", i + 1),
                "Has a value but the column has no header name",
                actual(&String::from_utf8_lossy(&rec[i])),
            ));
        }
    }
}

/// `validFrom` (required) and `validUntil` (optional): timestamps, the second later than the
/// first.
fn check_validity(
    cells: &Cells<'_>,
    errors: &mut Vec<Diagnostic>,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let valid_from = match cells.get(Col::ValidFrom) {
        "" if cells.unreadable(Col::ValidFrom) => None,
        "" => {
            errors.push(Diagnostic::missing("validFrom"));
            None
        }
        s => timestamp(Col::ValidFrom, s, errors),
    };
    let valid_until = match cells.get(Col::ValidUntil) {
        "" => None,
        s => timestamp(Col::ValidUntil, s, errors),
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
    (valid_from, valid_until)
}

/// `revoked`: empty, or `true` or `false` in any case.
fn check_revoked(s: &str, errors: &mut Vec<Diagnostic>) -> Option<bool> {
    match s {
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
    }
}

/// `tlpLevel`: empty, or a TLP 1.0 or 2.0 level.
fn check_tlp(s: &str, errors: &mut Vec<Diagnostic>) -> Option<Tlp> {
    if s.is_empty() {
        return None;
    }
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

/// The csv-other observable: `observableType` names a type and `observableValue` is a value of
/// it; together they make the pattern, which stays empty when either is wrong.
fn check_observable(cells: &Cells<'_>, errors: &mut Vec<Diagnostic>) -> Pattern {
    let mut pattern = String::new();
    let ty = check_observable_type(cells, errors);
    match cells.get(Col::ObservableValue) {
        "" if cells.unreadable(Col::ObservableValue) => {}
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
                    Err(reason) => {
                        errors.push(Diagnostic::new("observableValue", reason, actual(v)))
                    }
                }
            }
        }
    }
    Pattern {
        text: pattern,
        cols: Cow::Borrowed("observableValue"),
    }
}

/// `observableType`: required, one of the template's types in any case.
fn check_observable_type(cells: &Cells<'_>, errors: &mut Vec<Diagnostic>) -> Option<ObsType> {
    match cells.get(Col::ObservableType) {
        "" if cells.unreadable(Col::ObservableType) => None,
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
    }
}

/// The csv-file hashes: at least one, each of its algorithm's length in hexadecimal; the
/// pattern ORs them in the order of [`HASH_COLUMNS`], and stays empty if any is wrong.
fn check_hashes(cells: &Cells<'_>, layout: &Layout, errors: &mut Vec<Diagnostic>) -> Pattern {
    let mut pattern = String::new();
    let mut any = false;
    let mut all_ok = true;
    let mut cols = String::new();
    for (c, algo) in HASH_COLUMNS {
        let v = cells.get(c);
        if v.is_empty() {
            any |= cells.unreadable(c);
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
        push_hash_comparison(&mut pattern, algo, v);
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
    if all_ok && !pattern.is_empty() {
        pattern.push(']');
    } else {
        pattern.clear();
    }
    Pattern {
        text: pattern,
        cols: Cow::Owned(cols),
    }
}

/// Appends `file:hashes.<algo> = '<v>'` to a pattern being built, opening it with `[` or
/// joining it to the comparisons before with ` OR `.
fn push_hash_comparison(pattern: &mut String, algo: &str, v: &str) {
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
    push_quoted(pattern, v);
}

/// The indicator as a tree borrowing the row's cells and the texts made from them. The members
/// are inserted in the order the stored text has them; optional ones only when their cell has
/// a value.
fn tree<'t>(
    cells: &Cells<'t>,
    checked: &Checked,
    now: &'t str,
    id: &'t str,
    pattern: &'t str,
    valid_from: &'t str,
    valid_until: Option<&'t str>,
) -> Json<'t> {
    fn s(v: &str) -> Json<'_> {
        Json::String(Cow::Borrowed(v))
    }
    let mut o = Object::default();
    o.insert("type", s("indicator"));
    o.insert("spec_version", s("2.1"));
    o.insert("id", s(id));
    o.insert("created", s(now));
    o.insert("modified", s(now));
    if !cells.get(Col::Name).is_empty() {
        o.insert("name", s(cells.get(Col::Name)));
    }
    if !cells.get(Col::Description).is_empty() {
        o.insert("description", s(cells.get(Col::Description)));
    }
    if let Some(list) = split_list(cells.get(Col::ThreatTypes)) {
        o.insert("indicator_types", list);
    }
    o.insert("pattern", s(pattern));
    o.insert("pattern_type", s("stix"));
    o.insert("valid_from", s(valid_from));
    if let Some(t) = valid_until {
        o.insert("valid_until", s(t));
    }
    if let Some(list) = split_list(cells.get(Col::Tags)) {
        o.insert("labels", list);
    }
    if let Some(c) = checked.confidence {
        o.insert("confidence", Json::Number(c.into()));
    }
    if let Some(r) = checked.revoked {
        o.insert("revoked", Json::Bool(r));
    }
    if let Some(t) = checked.tlp {
        o.insert("object_marking_refs", Json::Array(vec![s(t.marking_id())]));
    }
    if let Some(v) = checked.severity {
        o.insert("x_tiport_severity", Json::Number(v.into()));
    }
    if !cells.get(Col::FileName).is_empty() {
        o.insert("x_tiport_file_name", s(cells.get(Col::FileName)));
    }
    Json::Object(o)
}

/// The "Actual value" of a message: the cell, cut to a readable length.
fn actual(s: &str) -> String {
    const MAX: usize = 256;
    if s.len() <= MAX {
        return s.to_owned();
    }
    format!("{}…", &s[..s.floor_char_boundary(MAX)])
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

#[cfg(test)]
mod tests {
    use super::*;

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
