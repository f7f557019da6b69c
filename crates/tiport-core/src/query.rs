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
    let mut objects = Vec::with_capacity(limit.min(64) + 1);
    match params
        .observable
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        None => {
            store.scan_current(workspace, &filter, &mut |o| {
                objects.push(o);
                objects.len() <= limit
            })?;
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
                    if matches(&filter, &o) {
                        objects.push(o);
                        if objects.len() > limit {
                            break;
                        }
                    }
                }
            }
        }
    }
    // One more than the page was read: whether there is a next page.
    let next = if objects.len() > limit {
        objects.truncate(limit);
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
