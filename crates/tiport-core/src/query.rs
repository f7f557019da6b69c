//! Queries over stored objects and imports: a filtered list of objects in pages, one object,
//! its versions in batches, the list of imports in pages, one import and its error file.
//!
//! Pages are in id order (or in the order of storing, or of names for a name search) and the
//! cursor is the position of the last object of a page (encoded, so that clients treat it as
//! opaque): a page is the same whatever was written meanwhile before the cursor, and no object
//! is returned twice.
//!
//! Parameters arrive as the text the client sent (`Deserialize` structs of strings, so that
//! reading a query string never fails); each use case checks them after the caller was let
//! in, and says what is wrong in its own words.

use std::fs::File;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use stix::{StixId, Timestamp};
use store::{
    ImportFormat, ImportId, ImportRecord, ObjectFilter, ObjectOrder, ObjectPosition, ObservableKey,
    Store, StoreError, StoredObject, Walked, WorkspaceId,
};

use crate::error::{DomainError, ErrorKind};
use crate::export::ObjectForm;

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

/// A list query, as its parameters arrive (all optional; others are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListParams {
    #[serde(rename = "type")]
    pub object_type: Option<String>,
    pub source: Option<String>,
    /// An observable value: indicators whose pattern mentions it (IP addresses also by the
    /// blocks that contain them).
    pub observable: Option<String>,
    pub label: Option<String>,
    pub valid_at: Option<String>,
    /// RFC 3339: objects whose `valid_until` is at or before it.
    pub expired_at: Option<String>,
    /// A TLP name (`clear` or `white`, `green`, `amber`, `amber+strict`, `red`).
    pub tlp: Option<String>,
    pub revoked: Option<String>,
    /// Objects whose name begins with this text (case-blind, white space as one space), in
    /// name order.
    pub name: Option<String>,
    /// `id` (the default; so by type first) or `stored` (when the current version was
    /// stored).
    pub sort: Option<String>,
    /// `asc` or `desc`: ascending ids and newest first unless told.
    pub order: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// `true`: objects as stored, not upgraded to valid STIX 2.1 (see [`ObjectForm`]).
    pub original: Option<String>,
}

/// The parameters of one object's answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ObjectParams {
    /// As [`ListParams::original`].
    pub original: Option<String>,
}

/// One page of a list.
pub struct Page {
    pub objects: Vec<StoredObject>,
    /// The cursor of the next page, if there may be one.
    pub next: Option<String>,
    /// Whether the page ended because its time to look ran out (see [`list_within`]): it may
    /// hold fewer than its limit, none even, with more to come.
    pub out_of_time: bool,
}

/// One page of a list as it is answered: each object's text in the form asked for.
pub struct ObjectPage {
    pub objects: Vec<String>,
    /// The cursor of the next page, if there may be one.
    pub next: Option<String>,
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

/// A page of current objects matching `params`, each in the form `original` asks for (valid
/// STIX 2.1 unless the stored text is asked for).
pub fn list_objects(
    store: &dyn Store,
    workspace: WorkspaceId,
    params: &ListParams,
) -> Result<ObjectPage, QueryError> {
    let form = form_of(params.original.as_deref())?;
    let page = list(store, workspace, params)?;
    Ok(ObjectPage {
        objects: page
            .objects
            .into_iter()
            .map(|o| form.into_text(o))
            .collect(),
        next: page.next,
    })
}

/// Where a page of a list ended, as its opaque cursor says: the last id (id order, the
/// historical form: the id itself), the last `seq` (order of storing: `s:<seq>`), or the last
/// name hit (`n:<seq>:<key in hex>`; `n:` alone is the start of a search's names, after its
/// observable matches).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cursor {
    Id(StixId),
    Seq(i64),
    Name(Option<(Vec<u8>, i64)>),
}

impl Cursor {
    fn encode(&self) -> String {
        let text = match self {
            Cursor::Id(id) => id.as_str().to_owned(),
            Cursor::Seq(seq) => format!("s:{seq}"),
            Cursor::Name(None) => "n:".to_owned(),
            Cursor::Name(Some((key, seq))) => {
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                format!("n:{seq}:{hex}")
            }
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    fn decode(c: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        if let Some(seq) = text.strip_prefix("s:") {
            return seq.parse().ok().map(Cursor::Seq);
        }
        if let Some(rest) = text.strip_prefix("n:") {
            if rest.is_empty() {
                return Some(Cursor::Name(None));
            }
            let (seq, hex) = rest.split_once(':')?;
            if hex.len() % 2 != 0 || !hex.is_ascii() {
                return None;
            }
            let key = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            return Some(Cursor::Name(Some((key, seq.parse().ok()?))));
        }
        StixId::parse(text).ok().map(Cursor::Id)
    }
}

/// The `sort` and `order` parameters of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    /// By id, so by type first; ascending unless `order=desc`.
    Id { descending: bool },
    /// By when each object's current version was stored; newest first unless `order=asc`.
    Stored { newest_first: bool },
}

fn sort_of(params: &ListParams) -> Result<Sort, QueryError> {
    let descending = match params.order.as_deref() {
        None | Some("") => None,
        Some("asc") => Some(false),
        Some("desc") => Some(true),
        Some(o) => return Err(bad(format!("order must be asc or desc, not {o:?}"))),
    };
    match params.sort.as_deref() {
        None | Some("") | Some("id") => Ok(Sort::Id {
            descending: descending.unwrap_or(false),
        }),
        Some("stored") => Ok(Sort::Stored {
            newest_first: descending.unwrap_or(true),
        }),
        Some(s) => Err(bad(format!("sort must be id or stored, not {s:?}"))),
    }
}

/// The cursor parameter, if any.
fn cursor_of(params: &ListParams) -> Result<Option<Cursor>, QueryError> {
    match params.cursor.as_deref() {
        None | Some("") => Ok(None),
        Some(c) => Cursor::decode(c)
            .map(Some)
            .ok_or_else(|| bad(format!("cursor {c:?} is not one this service gave"))),
    }
}

fn wrong_cursor() -> QueryError {
    bad("cursor is not one this service gave for this list (its sort or search differs)".into())
}

/// A page being filled: at most `limit` objects and, past the first, [`MAX_PAGE_BYTES`];
/// with a deadline, objects are looked at (passing the filters or not) until it passes, and
/// at least one.
struct Filling {
    objects: Vec<StoredObject>,
    bytes: usize,
    limit: usize,
    deadline: Option<Instant>,
    looked: bool,
    out_of_time: bool,
}

impl Filling {
    fn new(limit: usize, deadline: Option<Instant>) -> Filling {
        Filling {
            objects: Vec::with_capacity(limit.min(64)),
            bytes: 0,
            limit,
            deadline,
            looked: false,
            out_of_time: false,
        }
    }

    /// Whether one more object may be looked at: always the first (so that every page moves
    /// on), then until the deadline.
    fn look(&mut self) -> bool {
        if self.looked && self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.out_of_time = true;
            return false;
        }
        self.looked = true;
        true
    }

    fn into_page(self, next: Option<Cursor>) -> Page {
        Page {
            objects: self.objects,
            next: next.map(|c| c.encode()),
            out_of_time: self.out_of_time,
        }
    }

    /// Whether `o` would not fit: then the page is full and there is a next one.
    fn full_before(&self, o: &StoredObject) -> bool {
        !self.objects.is_empty()
            && (self.objects.len() >= self.limit || self.bytes + o.json.len() > MAX_PAGE_BYTES)
    }

    fn push(&mut self, o: StoredObject) {
        self.bytes += o.json.len();
        self.objects.push(o);
    }
}

/// Lists current objects matching `params`, one page, as stored. `observable` and `name`
/// search (each in its own order; neither takes `sort`), else the workspace is walked in the
/// order `sort` asks for.
pub fn list(
    store: &dyn Store,
    workspace: WorkspaceId,
    params: &ListParams,
) -> Result<Page, QueryError> {
    list_within(store, workspace, params, None)
}

/// [`list`], looking at objects (passing the filters or not) until `deadline` when one is
/// given: a page of filters few objects pass ends then, with a cursor past the last object
/// looked at, so that no page reads a whole workspace of millions.
pub fn list_within(
    store: &dyn Store,
    workspace: WorkspaceId,
    params: &ListParams,
    deadline: Option<Instant>,
) -> Result<Page, QueryError> {
    let limit = limit_of(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let filter = filter_of(params)?;
    let sort = sort_of(params)?;
    let cursor = cursor_of(params)?;
    let (observable, name) = (given(&params.observable), given(&params.name));
    if (observable.is_some() || name.is_some())
        && params.sort.as_deref().is_some_and(|s| !s.is_empty())
    {
        return Err(bad(
            "sort applies to lists, not to observable or name searches (they have their own order)"
                .into(),
        ));
    }
    let mut page = Filling::new(limit, deadline);
    let next = match (observable, name) {
        (Some(_), Some(_)) => {
            return Err(bad("give observable or name, not both".into()));
        }
        (Some(value), None) => {
            let past = match cursor {
                None => None,
                Some(Cursor::Id(id)) => Some(id),
                Some(_) => return Err(wrong_cursor()),
            };
            by_observable(store, workspace, value, &filter, past, &mut page)?
        }
        (None, Some(text)) => {
            let past = match cursor {
                None => None,
                Some(Cursor::Name(p)) => p,
                Some(_) => return Err(wrong_cursor()),
            };
            by_name(store, workspace, text, &filter, past, &[], &mut page)?
        }
        (None, None) => scan(store, workspace, filter, sort, cursor, &mut page)?,
    };
    Ok(page.into_page(next))
}

/// A parameter that says something: given and not blank.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

/// A page of the workspace walked in the order of `sort`.
fn scan(
    store: &dyn Store,
    workspace: WorkspaceId,
    mut filter: ObjectFilter,
    sort: Sort,
    cursor: Option<Cursor>,
    page: &mut Filling,
) -> Result<Option<Cursor>, QueryError> {
    filter.order = match (sort, cursor) {
        (Sort::Id { descending }, None) => ObjectOrder::Id {
            descending,
            past: None,
        },
        (Sort::Id { descending }, Some(Cursor::Id(id))) => ObjectOrder::Id {
            descending,
            past: Some(id),
        },
        (Sort::Stored { newest_first }, None) => ObjectOrder::Stored {
            newest_first,
            past: None,
        },
        (Sort::Stored { newest_first }, Some(Cursor::Seq(seq))) => ObjectOrder::Stored {
            newest_first,
            past: Some(seq),
        },
        _ => return Err(wrong_cursor()),
    };
    filter.deadline = page.deadline;
    let mut more = false;
    let walked = store.scan_current(workspace, &filter, &mut |o| {
        if page.full_before(&o) {
            more = true;
            return false;
        }
        page.push(o);
        true
    })?;
    if let Walked::OutOfTime(at) = walked {
        page.out_of_time = true;
        return Ok(Some(match at {
            ObjectPosition::Id(id) => Cursor::Id(id),
            ObjectPosition::Seq(seq) => Cursor::Seq(seq),
        }));
    }
    Ok(match (more, page.objects.last(), sort) {
        (true, Some(o), Sort::Id { .. }) => Some(Cursor::Id(o.id.clone())),
        (true, Some(o), Sort::Stored { .. }) => Some(Cursor::Seq(o.seq)),
        _ => None,
    })
}

/// A page of the current indicators one of whose observables is `value` (for an address, also
/// the blocks that contain it), in id order past `past`.
fn by_observable(
    store: &dyn Store,
    workspace: WorkspaceId,
    value: &str,
    filter: &ObjectFilter,
    past: Option<StixId>,
    page: &mut Filling,
) -> Result<Option<Cursor>, QueryError> {
    // Every matching id (the index is of current objects), then the filter on each.
    let mut looked: Option<StixId> = None;
    for id in observable_ids(store, workspace, value)? {
        if past.as_ref().is_some_and(|p| id.as_str() <= p.as_str()) {
            continue;
        }
        if !page.look() {
            // Resume past the last id looked at.
            return Ok(looked.or(past).map(Cursor::Id));
        }
        looked = Some(id.clone());
        if let Some(o) = store.current(workspace, &id)? {
            if filter.matches(&o) {
                if page.full_before(&o) {
                    return Ok(page.objects.last().map(|o| Cursor::Id(o.id.clone())));
                }
                page.push(o);
            }
        }
    }
    Ok(None)
}

/// The ids of the current indicators an observable search for `value` finds, sorted.
fn observable_ids(
    store: &dyn Store,
    workspace: WorkspaceId,
    value: &str,
) -> Result<Vec<StixId>, QueryError> {
    let key = crate::record::ip_key(value).unwrap_or_else(|| ObservableKey::text(value));
    Ok(store.find_observable(workspace, &key, usize::MAX)?)
}

/// A page of the current objects whose name begins with `text`, in the order of their names,
/// past `past`; objects in `skip` (found another way already; sorted) are left out.
fn by_name(
    store: &dyn Store,
    workspace: WorkspaceId,
    text: &str,
    filter: &ObjectFilter,
    mut past: Option<(Vec<u8>, i64)>,
    skip: &[StixId],
    page: &mut Filling,
) -> Result<Option<Cursor>, QueryError> {
    // Hits come in batches; most pass the filter, so a batch a little larger than the page
    // usually fills it.
    let batch = page.limit + 16;
    // The position of the last object put on the page: where the next page resumes.
    let mut last: Option<(Vec<u8>, i64)> = None;
    loop {
        let hits = store.find_names(
            workspace,
            text,
            past.as_ref().map(|(k, s)| (k.as_slice(), *s)),
            batch,
        )?;
        let done = hits.len() < batch;
        for hit in hits {
            if !page.look() {
                // Resume past the last hit looked at.
                return Ok(Some(Cursor::Name(past)));
            }
            past = Some((hit.key.clone(), hit.seq));
            if skip.binary_search(&hit.id).is_ok() {
                continue;
            }
            let Some(o) = store.current(workspace, &hit.id)? else {
                continue;
            };
            if !filter.matches(&o) {
                continue;
            }
            if page.full_before(&o) {
                return Ok(Some(Cursor::Name(last)));
            }
            page.push(o);
            last = Some((hit.key, hit.seq));
        }
        if done {
            return Ok(None);
        }
    }
}

/// The analyst's search (`/intel?q=`): the current indicators with `text` as an observable
/// (CIDR containment as the API's `observable` does), then the current objects whose name
/// begins with it. An address or block is searched as an observable only.
pub fn search(
    store: &dyn Store,
    workspace: WorkspaceId,
    text: &str,
    params: &ListParams,
    deadline: Option<Instant>,
) -> Result<Page, QueryError> {
    let limit = limit_of(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let filter = filter_of(params)?;
    let cursor = cursor_of(params)?;
    let text = text.trim();
    let mut page = Filling::new(limit, deadline);
    let by_value = crate::record::ip_key(text).is_some();
    let name_from = match cursor {
        None | Some(Cursor::Id(_)) => {
            let past = match cursor {
                Some(Cursor::Id(id)) => Some(id),
                _ => None,
            };
            let next = by_observable(store, workspace, text, &filter, past, &mut page)?;
            if next.is_some() || by_value {
                return Ok(page.into_page(next));
            }
            None
        }
        Some(Cursor::Name(past)) if !by_value => past,
        Some(_) => return Err(wrong_cursor()),
    };
    if page.objects.len() >= limit {
        // The observable matches filled the page exactly: the names start on the next one.
        return Ok(page.into_page(Some(Cursor::Name(None))));
    }
    let skip = observable_ids(store, workspace, text)?;
    let next = by_name(store, workspace, text, &filter, name_from, &skip, &mut page)?;
    Ok(page.into_page(next))
}

/// The store's filter for `params` (all but the searches, the order and the limit).
fn filter_of(params: &ListParams) -> Result<ObjectFilter, QueryError> {
    Ok(ObjectFilter {
        object_type: params.object_type.clone().filter(|s| !s.is_empty()),
        source: params.source.clone().filter(|s| !s.is_empty()),
        label: params.label.clone().filter(|s| !s.is_empty()),
        revoked: match params.revoked.as_deref() {
            None | Some("") => None,
            Some(r) if r.eq_ignore_ascii_case("true") => Some(true),
            Some(r) if r.eq_ignore_ascii_case("false") => Some(false),
            Some(r) => return Err(bad(format!("revoked must be true or false, not {r:?}"))),
        },
        valid_at: instant_of("valid_at", params.valid_at.as_deref())?,
        expired_at: instant_of("expired_at", params.expired_at.as_deref())?,
        tlp: match params.tlp.as_deref() {
            None | Some("") => None,
            Some(t) => Some(
                stix::Tlp::parse_level(t)
                    .ok_or_else(|| {
                        bad(format!(
                            "tlp must be clear, white, green, amber, amber+strict or red, not {t:?}"
                        ))
                    })?
                    .name()
                    .to_owned(),
            ),
        },
        order: ObjectOrder::default(),
        deadline: None,
    })
}

/// The instant parameter `name` gives, if any.
fn instant_of(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, QueryError> {
    match value {
        None | Some("") => Ok(None),
        Some(t) => Timestamp::parse_lenient(t)
            .map(Some)
            .map_err(|e| bad(format!("{name} must be an RFC 3339 timestamp: {e}"))),
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
