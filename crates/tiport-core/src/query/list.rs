//! Lists of current objects: a page walked in an order (ids, or the order of storing), or the
//! hits of a search by observable or by the start of a name, each page ending at its limit,
//! its bytes or its deadline, with an opaque cursor that names where it ended.

use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use stix::{StixId, Timestamp};
use store::{
    ObjectFilter, ObjectOrder, ObjectPosition, ObservableKey, Store, StoredObject, Walked,
    WorkspaceId,
};

use super::{bad, form_of, limit_of, QueryError, DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE_BYTES};

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
    if (observable.is_some() || name.is_some()) && given(&params.sort).is_some() {
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
            let ids = observable_ids(store, workspace, value)?;
            by_observable(store, workspace, &ids, &filter, past, &mut page)?
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

/// A page of the current indicators `ids` (an observable search's, sorted), the filter checked
/// on each, in id order past `past`.
fn by_observable(
    store: &dyn Store,
    workspace: WorkspaceId,
    ids: &[StixId],
    filter: &ObjectFilter,
    past: Option<StixId>,
    page: &mut Filling,
) -> Result<Option<Cursor>, QueryError> {
    let mut looked: Option<StixId> = None;
    for id in ids {
        if past.as_ref().is_some_and(|p| id.as_str() <= p.as_str()) {
            continue;
        }
        if !page.look() {
            // Resume past the last id looked at.
            return Ok(looked.or(past).map(Cursor::Id));
        }
        looked = Some(id.clone());
        if let Some(o) = store.current(workspace, id)? {
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
    // Where the page starts: among the observable matches (past an id, or at the first), or
    // among the names.
    let (in_observables, name_from) = match cursor {
        None => (Some(None), None),
        Some(Cursor::Id(id)) => (Some(Some(id)), None),
        Some(Cursor::Name(past)) if !by_value => (None, past),
        Some(_) => return Err(wrong_cursor()),
    };
    // The observable matches: listed first, and left out of the names.
    let ids = observable_ids(store, workspace, text)?;
    if let Some(past) = in_observables {
        let next = by_observable(store, workspace, &ids, &filter, past, &mut page)?;
        if next.is_some() || by_value {
            return Ok(page.into_page(next));
        }
        if page.objects.len() >= limit {
            // They filled the page exactly: the names start on the next one.
            return Ok(page.into_page(Some(Cursor::Name(None))));
        }
    }
    let next = by_name(store, workspace, text, &filter, name_from, &ids, &mut page)?;
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
