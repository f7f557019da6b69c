//! Queries over stored objects and imports: a filtered list of objects in pages, one object,
//! its versions in batches, the list of imports in pages, one import and its error file.
//!
//! Pages are in id order (or in the order of storing, or of names for a name search) and the
//! cursor is the position of the last object of a page (encoded, so that clients treat it as
//! opaque): a page is the same whatever was written meanwhile before the cursor, and no object
//! is returned twice.
//!
//! The lists of objects and their searches are `list.rs`'s; one object, its versions and
//! relationships, and the imports are here.
//!
//! Parameters arrive as the text the client sent (`Deserialize` structs of strings, so that
//! reading a query string never fails); each use case checks them after the caller was let
//! in, and says what is wrong in its own words.

use std::fs::File;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use stix::{StixId, Timestamp};
use store::{
    ImportFormat, ImportId, ImportRecord, ObservableKey, Store, StoreError, StoredObject,
    WorkspaceId,
};

use crate::error::{DomainError, ErrorKind};

mod list;
use crate::export::ObjectForm;
pub use list::{list, list_objects, list_within, search, ListParams, ObjectPage, Page};

/// The most objects one page holds.
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_LIMIT: usize = 100;
/// The most bytes of stored JSON one page holds (a page always holds at least one object, as
/// large as it may be): objects are up to 16 MiB each, and a page of a thousand of them
/// would be held whole while it is answered. A page cut short by it has a `next` cursor like
/// any other.
pub const MAX_PAGE_BYTES: usize = 4 << 20;

/// The most versions, and about the most bytes, read in one batch of [`Versions`].
pub const VERSION_BATCH: usize = 256;
pub const VERSION_BATCH_BYTES: usize = 4 << 20;

/// Why a query is refused.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    BadParameter(String),
    /// What was asked for does not exist (the message names it as the caller did).
    #[error("{0}")]
    NotFound(String),
    #[error("cannot read the error file: {0}")]
    ErrorFile(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for QueryError {
    fn kind(&self) -> ErrorKind {
        match self {
            QueryError::BadParameter(_) => ErrorKind::BadRequest,
            QueryError::NotFound(_) => ErrorKind::NotFound,
            QueryError::ErrorFile(_) => ErrorKind::Internal,
            QueryError::Store(e) => e.kind(),
        }
    }
}

/// The parameters of one object's answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ObjectParams {
    /// As [`ListParams::original`].
    pub original: Option<String>,
}

fn bad(m: String) -> QueryError {
    QueryError::BadParameter(m)
}

/// The page size the `limit` parameter asks for: `default` when it is absent or empty,
/// otherwise a whole number from 1 to `max`.
fn limit_of(limit: Option<&str>, default: usize, max: usize) -> Result<usize, QueryError> {
    match limit {
        None | Some("") => Ok(default),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(format!(
                "limit must be an integer from 1 to {max}, not {l:?}"
            ))),
        },
    }
}

/// The form the `original` parameter asks for.
fn form_of(original: Option<&str>) -> Result<ObjectForm, QueryError> {
    match original {
        None | Some("") | Some("false") => Ok(ObjectForm::Stix21),
        Some("true") => Ok(ObjectForm::Original),
        Some(v) => Err(bad(format!("original must be true or false, not {v:?}"))),
    }
}

/// A STIX id from a path, or a 400.
pub fn parse_id(id: &str) -> Result<StixId, QueryError> {
    StixId::parse(id).map_err(|e| bad(format!("{id:?} is not a STIX id: {e}")))
}

/// The current version of `object` (an id as the caller wrote it), in the form `params` asks
/// for.
pub fn object(
    store: &dyn Store,
    workspace: WorkspaceId,
    object: &str,
    params: &ObjectParams,
) -> Result<String, QueryError> {
    let form = form_of(params.original.as_deref())?;
    Ok(form.into_text(object_stored(store, workspace, object)?))
}

/// The current version of one object, as stored (the web UI lays its fields out itself).
pub fn object_stored(
    store: &dyn Store,
    workspace: WorkspaceId,
    object: &str,
) -> Result<StoredObject, QueryError> {
    let id = parse_id(object)?;
    store
        .current(workspace, &id)?
        .ok_or_else(|| QueryError::NotFound(format!("object {object} not found")))
}

/// One version of an object, as its history lists it.
#[derive(Debug, Clone)]
pub struct VersionSummary {
    pub modified: Timestamp,
    /// When it was stored.
    pub stored: Timestamp,
    pub revoked: bool,
    pub source: String,
    /// The import or upload request it came in by.
    pub origin: Option<store::Origin>,
    /// What changed from the version before (none for the first): the top-level members
    /// added, removed, and given another value, by name, `modified` left out.
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// The top-level members `after` adds to, removes from and changes in `before`, by name in
/// alphabetical order, leaving out `modified`, which every version changes.
fn changes(
    before: &serde_json::Map<String, serde_json::Value>,
    after: &serde_json::Map<String, serde_json::Value>,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut added, mut changed) = (Vec::new(), Vec::new());
    for (name, value) in after.iter().filter(|(k, _)| *k != "modified") {
        match before.get(name) {
            None => added.push(name.clone()),
            Some(old) if old != value => changed.push(name.clone()),
            Some(_) => {}
        }
    }
    let removed = before
        .keys()
        .filter(|k| *k != "modified" && !after.contains_key(*k))
        .cloned()
        .collect();
    (added, removed, changed)
}

/// The first `max` versions of `object`, oldest first, without their JSON; and whether there
/// are more.
pub fn version_history(
    store: &dyn Store,
    workspace: WorkspaceId,
    object: &str,
    max: usize,
) -> Result<(Vec<VersionSummary>, bool), QueryError> {
    let id = parse_id(object)?;
    let (mut versions, mut more) = (Vec::new(), false);
    let mut previous: Option<serde_json::Map<String, serde_json::Value>> = None;
    store.scan_versions(workspace, &id, None, &mut |o| {
        if versions.len() == max {
            more = true;
            return false;
        }
        let members: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&o.json).unwrap_or_default();
        let (added, removed, changed) = match &previous {
            Some(before) => changes(before, &members),
            None => Default::default(),
        };
        previous = Some(members);
        versions.push(VersionSummary {
            modified: o.modified,
            stored: o.stored,
            revoked: o.revoked,
            source: o.source,
            origin: o.origin,
            added,
            removed,
            changed,
        });
        true
    })?;
    Ok((versions, more))
}

/// A relationship of an object, seen from the object.
#[derive(Debug, Clone)]
pub struct Related {
    /// The relationship object's id.
    pub relationship: StixId,
    /// Its `relationship_type` (`indicates`, `uses`, …).
    pub relationship_type: String,
    /// The object at its other end.
    pub other: StixId,
    /// Whether the object is the relationship's source (else its target).
    pub outgoing: bool,
    pub revoked: bool,
}

/// The current relationships of `object` (an id as the caller wrote it) in both directions,
/// at most `max`, found through the index of the objects relationships refer to.
pub fn relationships(
    store: &dyn Store,
    workspace: WorkspaceId,
    object: &str,
    max: usize,
) -> Result<Vec<Related>, QueryError> {
    let id = parse_id(object)?;
    let found = store.find_observable(workspace, &ObservableKey::Reference(id.clone()), max)?;
    let mut related = Vec::with_capacity(found.len());
    for rid in found {
        let Some(r) = store.current(workspace, &rid)? else {
            continue;
        };
        let json: serde_json::Value = serde_json::from_str(&r.json).unwrap_or_default();
        let end = |k: &str| {
            json.get(k)
                .and_then(|v| v.as_str())
                .and_then(|v| StixId::parse(v).ok())
        };
        let (Some(source), Some(target)) = (end("source_ref"), end("target_ref")) else {
            continue;
        };
        let (outgoing, other) = if source == id {
            (true, target)
        } else if target == id {
            (false, source)
        } else {
            // An older version referred to the object; the current one does not.
            continue;
        };
        related.push(Related {
            relationship: rid,
            relationship_type: json
                .get("relationship_type")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned(),
            other,
            outgoing,
            revoked: r.revoked,
        });
    }
    Ok(related)
}

/// `json` laid out for reading, two spaces an indent, its members in their stored order (a
/// round trip through `serde_json::Value` would sort them). Stored texts are compact, so this
/// only adds line breaks and indents outside strings; whatever is not JSON comes back as it is.
pub fn readable_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or list stays on its line.
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.push(chars.next().expect("peeked"));
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod readable_tests {
    use super::readable_json;

    #[test]
    fn members_keep_their_order_and_strings_their_text() {
        let compact = r#"{"type":"indicator","b":[1,{"x":"a,b{}[]:\\\"q"}],"a":{},"c":[]}"#;
        assert_eq!(
            readable_json(compact),
            "{\n  \"type\": \"indicator\",\n  \"b\": [\n    1,\n    {\n      \"x\": \"a,b{}[]:\\\\\\\"q\"\n    }\n  ],\n  \"a\": {},\n  \"c\": []\n}"
        );
        // Read back, it is the same JSON.
        let back: serde_json::Value = serde_json::from_str(&readable_json(compact)).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(compact).unwrap()
        );
    }
}

#[cfg(test)]
mod change_tests {
    use super::changes;

    #[test]
    fn changes_name_the_members_added_removed_and_changed_but_not_modified() {
        let map = |v: serde_json::Value| v.as_object().unwrap().clone();
        let before = map(serde_json::json!({"id": "x", "modified": "1", "name": "a",
                                            "confidence": 50, "labels": ["p"]}));
        let after = map(serde_json::json!({"id": "x", "modified": "2", "name": "b",
                                           "confidence": 50, "revoked": true}));
        let (added, removed, changed) = changes(&before, &after);
        assert_eq!(added, ["revoked"]);
        assert_eq!(removed, ["labels"]);
        assert_eq!(changed, ["name"]);
    }
}

/// The versions of one object, oldest first, read a batch at a time: an object may have
/// thousands of versions of megabytes each. Between batches it holds only where the next one
/// begins, so the caller may read each batch on a thread of its choosing and give the thread
/// back while it sends the batch.
#[derive(Debug, Clone)]
pub struct Versions {
    workspace: WorkspaceId,
    id: StixId,
    /// The id as the caller wrote it, for the message when there is no such object.
    asked: String,
    /// The `modified` of the last version read, once a batch was read.
    after: Option<Timestamp>,
    /// Whether there may be versions after `after`.
    more: bool,
}

/// The versions of `object` (an id as the caller wrote it); nothing is read yet.
pub fn versions(workspace: WorkspaceId, object: &str) -> Result<Versions, QueryError> {
    Ok(Versions {
        workspace,
        id: parse_id(object)?,
        asked: object.to_owned(),
        after: None,
        more: true,
    })
}

impl Versions {
    /// The texts of the next batch of versions (at most [`VERSION_BATCH`], and about
    /// [`VERSION_BATCH_BYTES`]), or `None` once every version was read. An object without
    /// versions is [`QueryError::NotFound`] on the first batch.
    pub fn next_batch(&mut self, store: &dyn Store) -> Result<Option<Vec<String>>, QueryError> {
        if !self.more {
            return Ok(None);
        }
        let (mut batch, mut bytes, mut more) = (Vec::new(), 0, false);
        let mut last = None;
        store.scan_versions(self.workspace, &self.id, self.after.as_ref(), &mut |o| {
            if batch.len() >= VERSION_BATCH || bytes >= VERSION_BATCH_BYTES {
                more = true;
                return false;
            }
            bytes += o.json.len();
            last = Some(o.modified);
            batch.push(o.json);
            true
        })?;
        let first = self.after.is_none();
        self.more = more;
        self.after = last.or(self.after);
        match (batch.is_empty(), first) {
            (true, true) => Err(QueryError::NotFound(format!(
                "object {} not found",
                self.asked
            ))),
            // Nothing after the last version read any more (nothing deletes versions today,
            // but a batch found empty must still end the list).
            (true, false) => {
                self.more = false;
                Ok(None)
            }
            (false, _) => Ok(Some(batch)),
        }
    }
}

/// The record of import `id` (as the caller wrote it).
pub fn import(
    store: &dyn Store,
    workspace: WorkspaceId,
    id: &str,
) -> Result<ImportRecord, QueryError> {
    let not_found = || QueryError::NotFound(format!("import {id} not found"));
    let parsed = ImportId::parse(id).map_err(|_| not_found())?;
    store.import(workspace, parsed)?.ok_or_else(not_found)
}

/// The parameters of an error file's answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorsParams {
    /// The first N entries, as JSON, rather than the file.
    pub preview: Option<String>,
}

/// The most entries of an error file a preview gives.
pub const MAX_PREVIEW: usize = 10_000;

/// An import's error file, as asked for.
pub enum ImportErrors {
    /// Its first entries (see [`ingest::errorfile::preview`]).
    Preview(Vec<serde_json::Value>),
    /// The file itself, opened, in the import's format.
    File { file: File, format: ImportFormat },
}

/// The error file of import `id` (as the caller wrote it): the file, or with `preview` its
/// first entries.
pub fn import_errors(
    store: &dyn Store,
    workspace: WorkspaceId,
    id: &str,
    params: &ErrorsParams,
) -> Result<ImportErrors, QueryError> {
    let r = import(store, workspace, id)?;
    let Some(path) = r.error_path else {
        return Err(QueryError::NotFound(format!(
            "import {id} has no error file (no invalid records, not finished, or expired)"
        )));
    };
    if let Some(n) = &params.preview {
        let n: usize = n
            .parse()
            .ok()
            .filter(|n| *n <= MAX_PREVIEW)
            .ok_or_else(|| bad(format!("preview must be 0 to 10000, not {n:?}")))?;
        let entries = ingest::errorfile::preview(&path, n).map_err(QueryError::ErrorFile)?;
        return Ok(ImportErrors::Preview(entries));
    }
    match File::open(&path) {
        Ok(file) => Ok(ImportErrors::File {
            file,
            format: r.format,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(QueryError::NotFound(format!(
            "the error file of import {id} has expired"
        ))),
        Err(e) => Err(QueryError::ErrorFile(e)),
    }
}

/// How many imports the overview shows.
pub const OVERVIEW_IMPORTS: usize = 5;

/// The latest imports of `workspace`, newest first, as the overview shows them.
pub fn latest_imports(
    store: &dyn Store,
    workspace: WorkspaceId,
) -> Result<Vec<store::ImportRecord>, QueryError> {
    use store::{ImportPage, ImportSort, Order};
    Ok(store.imports(
        workspace,
        ImportSort::Created,
        Order::Desc,
        &ImportPage {
            after: None,
            limit: OVERVIEW_IMPORTS,
        },
    )?)
}

/// The most import records one page of the list holds, and how many by default.
pub const MAX_IMPORTS_LIMIT: usize = 1000;
pub const DEFAULT_IMPORTS_LIMIT: usize = 100;

/// A page of the list of imports, as its parameters arrive (others are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImportListParams {
    pub sort: Option<String>,
    pub order: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// One page of the list of imports.
pub struct ImportList {
    pub records: Vec<store::ImportRecord>,
    /// The cursor of the next page, if there may be one.
    pub next: Option<String>,
}

/// Lists the workspace's imports, a page at a time (Manage file imports): sorted by `source`,
/// `name`, `imported`, `total` or `created` (the default), `asc` or `desc` (the default). The
/// cursor carries the sort it was made for, and is refused with another.
pub fn imports(
    store: &dyn Store,
    workspace: WorkspaceId,
    params: &ImportListParams,
) -> Result<ImportList, QueryError> {
    use store::{ImportKey, ImportPage, ImportSort, Order};
    let sort = match params.sort.as_deref() {
        None | Some("") => ImportSort::Created,
        Some(s) => ImportSort::parse(s)
            .ok_or_else(|| bad(format!("sort must be {}, not {s:?}", ImportSort::words())))?,
    };
    let order = match params.order.as_deref() {
        None | Some("") => Order::Desc,
        Some(o) => Order::parse(o)
            .ok_or_else(|| bad(format!("order must be {}, not {o:?}", Order::words())))?,
    };
    let limit = limit_of(
        params.limit.as_deref(),
        DEFAULT_IMPORTS_LIMIT,
        MAX_IMPORTS_LIMIT,
    )?;
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode_import_cursor(c, sort, order).ok_or_else(|| {
            bad(format!(
                "cursor {c:?} is not one this service gave for sort={sort}&order={order}"
            ))
        })?),
    };
    // One more than the page: whether there is a next one.
    let mut records = store.imports(
        workspace,
        sort,
        order,
        &ImportPage {
            after,
            limit: limit + 1,
        },
    )?;
    let next = if records.len() > limit {
        records.truncate(limit);
        records
            .last()
            .map(|r| encode_import_cursor(&ImportKey::of(r, sort), sort, order))
    } else {
        None
    };
    Ok(ImportList { records, next })
}

/// `{sort} {order} {value} {created} {id}` as base64url; values are counts, timestamps, or
/// text (which goes last but one, so it may hold spaces: the id is the last field).
fn encode_import_cursor(
    k: &store::ImportKey,
    sort: store::ImportSort,
    order: store::Order,
) -> String {
    let value = match &k.value {
        store::SortValue::Text(t) => format!("t{t}"),
        store::SortValue::Count(n) => format!("n{n}"),
        store::SortValue::Time(t) => format!("c{t}"),
    };
    URL_SAFE_NO_PAD.encode(format!("{sort} {order} {} {} {value}", k.created, k.id))
}

fn decode_import_cursor(
    c: &str,
    sort: store::ImportSort,
    order: store::Order,
) -> Option<store::ImportKey> {
    let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let mut parts = text.splitn(5, ' ');
    let (s, o, created, id, value) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if s != sort.as_str() || o != order.as_str() {
        return None;
    }
    let value = match value.split_at_checked(1)? {
        ("t", t) => store::SortValue::Text(t.to_owned()),
        ("n", n) => store::SortValue::Count(n.parse().ok()?),
        ("c", t) => store::SortValue::Time(Timestamp::parse(t).ok()?),
        _ => return None,
    };
    Some(store::ImportKey {
        value,
        created: Timestamp::parse(created).ok()?,
        id: store::ImportId::parse(id).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{ImportId, ImportKey, ImportSort, Order, SortValue};

    #[test]
    fn import_cursors_round_trip_and_belong_to_their_sort() {
        let created = Timestamp::parse("2024-05-06T07:08:09.123456789Z").unwrap();
        for value in [
            SortValue::Text("a feed, with spaces".into()),
            SortValue::Count(42),
            SortValue::Time(created),
        ] {
            let k = ImportKey {
                value,
                created,
                id: ImportId::random(),
            };
            let c = encode_import_cursor(&k, ImportSort::Source, Order::Asc);
            assert_eq!(
                decode_import_cursor(&c, ImportSort::Source, Order::Asc),
                Some(k.clone())
            );
            assert_eq!(decode_import_cursor(&c, ImportSort::Name, Order::Asc), None);
            assert_eq!(
                decode_import_cursor(&c, ImportSort::Source, Order::Desc),
                None
            );
        }
        assert_eq!(
            decode_import_cursor("!!", ImportSort::Source, Order::Asc),
            None
        );
    }
}
