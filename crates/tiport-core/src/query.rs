//! Queries over stored objects: a filtered list in pages, one object, its versions.
//!
//! Pages are in id order and the cursor is the last id of a page (encoded, so that clients
//! treat it as opaque): a page is the same whatever was written meanwhile before the cursor,
//! and no object is returned twice.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use stix::{StixId, Timestamp};
use store::{ObjectFilter, ObservableKey, Store, StoreError, StoredObject, WorkspaceId};

/// The most objects one page holds.
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_LIMIT: usize = 100;
/// The most bytes of stored JSON one page holds (a page always holds at least one object, as
/// large as it may be): objects are up to 16 MiB each, and a page of a thousand of them
/// would be held whole while it is answered. A page cut short by it has a `next` cursor like
/// any other.
pub const MAX_PAGE_BYTES: usize = 4 << 20;

/// Why a query is refused (a 400 at the HTTP edge, except `Store`).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    BadParameter(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A list query, as its parameters arrive (all optional).
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub object_type: Option<String>,
    pub source: Option<String>,
    /// An observable value: indicators whose pattern mentions it (IP addresses also by the
    /// blocks that contain them).
    pub observable: Option<String>,
    pub label: Option<String>,
    pub valid_at: Option<String>,
    pub revoked: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// One page of a list.
pub struct Page {
    pub objects: Vec<StoredObject>,
    /// The cursor of the next page, if there may be one.
    pub next: Option<String>,
}

fn bad(m: String) -> QueryError {
    QueryError::BadParameter(m)
}

/// Lists current objects matching `params`, one page.
pub fn list(
    store: &dyn Store,
    workspace: WorkspaceId,
    params: &ListParams,
) -> Result<Page, QueryError> {
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(bad(format!(
                    "limit must be an integer from 1 to {MAX_LIMIT}, not {l:?}"
                )))
            }
        },
    };
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            decode_cursor(c)
                .ok_or_else(|| bad(format!("cursor {c:?} is not one this service gave")))?,
        ),
    };
    let filter = ObjectFilter {
        object_type: params.object_type.clone().filter(|s| !s.is_empty()),
        source: params.source.clone().filter(|s| !s.is_empty()),
        label: params.label.clone().filter(|s| !s.is_empty()),
        revoked: match params.revoked.as_deref() {
            None | Some("") => None,
            Some(r) if r.eq_ignore_ascii_case("true") => Some(true),
            Some(r) if r.eq_ignore_ascii_case("false") => Some(false),
            Some(r) => return Err(bad(format!("revoked must be true or false, not {r:?}"))),
        },
        valid_at: match params.valid_at.as_deref() {
            None | Some("") => None,
            Some(t) => Some(
                Timestamp::parse_lenient(t)
                    .map_err(|e| bad(format!("valid_at must be an RFC 3339 timestamp: {e}")))?,
            ),
        },
        after,
    };
    let mut objects: Vec<StoredObject> = Vec::with_capacity(limit.min(64));
    let mut bytes = 0usize;
    // Whether an object past the page was seen: then there is a next page.
    let mut more = false;
    let mut take = |o: StoredObject| -> bool {
        if !objects.is_empty() && (objects.len() == limit || bytes + o.json.len() > MAX_PAGE_BYTES)
        {
            more = true;
            return false;
        }
        bytes += o.json.len();
        objects.push(o);
        true
    };
    match params
        .observable
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        None => {
            store.scan_current(workspace, &filter, &mut take)?;
        }
        Some(value) => {
            let key = crate::record::ip_key(value).unwrap_or_else(|| ObservableKey::text(value));
            // Every matching id (the index is of current indicators), then the filter on each.
            let ids = store.find_observable(workspace, &key, usize::MAX)?;
            for id in ids {
                if filter
                    .after
                    .as_ref()
                    .is_some_and(|a| id.as_str() <= a.as_str())
                {
                    continue;
                }
                if let Some(o) = store.current(workspace, &id)? {
                    if matches(&filter, &o) && !take(o) {
                        break;
                    }
                }
            }
        }
    }
    let next = if more {
        objects.last().map(|o| encode_cursor(&o.id))
    } else {
        None
    };
    Ok(Page { objects, next })
}

/// The filter applied to one object (the observable path reads objects one by one).
fn matches(f: &ObjectFilter, o: &StoredObject) -> bool {
    f.object_type.as_ref().is_none_or(|t| *t == o.object_type)
        && f.source.as_ref().is_none_or(|s| *s == o.source)
        && f.label.as_ref().is_none_or(|l| o.labels.contains(l))
        && f.revoked.is_none_or(|r| r == o.revoked)
        && f.valid_at.as_ref().is_none_or(|t| {
            o.valid_from.as_ref().is_some_and(|from| from <= t)
                && o.valid_until.as_ref().is_none_or(|until| until > t)
        })
}

fn encode_cursor(id: &StixId) -> String {
    URL_SAFE_NO_PAD.encode(id.as_str())
}

fn decode_cursor(c: &str) -> Option<StixId> {
    let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
    StixId::parse(std::str::from_utf8(&bytes).ok()?).ok()
}

/// A STIX id from a path, or a 400.
pub fn parse_id(id: &str) -> Result<StixId, QueryError> {
    StixId::parse(id).map_err(|e| bad(format!("{id:?} is not a STIX id: {e}")))
}

/// The most import records one page of the list holds, and how many by default.
pub const MAX_IMPORTS_LIMIT: usize = 1000;
pub const DEFAULT_IMPORTS_LIMIT: usize = 100;

/// A page of the list of imports, as its parameters arrive.
#[derive(Debug, Clone, Default)]
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
        Some(s) => ImportSort::parse(s).ok_or_else(|| {
            bad(format!(
                "sort must be source, name, imported, total or created, not {s:?}"
            ))
        })?,
    };
    let order = match params.order.as_deref() {
        None | Some("") => Order::Desc,
        Some(o) => {
            Order::parse(o).ok_or_else(|| bad(format!("order must be asc or desc, not {o:?}")))?
        }
    };
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_IMPORTS_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_IMPORTS_LIMIT).contains(&n) => n,
            _ => {
                return Err(bad(format!(
                    "limit must be an integer from 1 to {MAX_IMPORTS_LIMIT}, not {l:?}"
                )))
            }
        },
    };
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
