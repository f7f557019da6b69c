//! The versioning rules, as one pure function every engine calls, so that engines differ only
//! in how they read and write rows, never in what they decide.
//!
//! An object is identified by its `id`; each distinct `modified` is a version; the newest
//! `modified` is current. An older version arriving later is kept as history and never
//! replaces the current one; the same `id` and `modified` again is a no-op (the first stored
//! wins), so client retries are idempotent. `revoked: true` is final: a version that would make
//! a revoked object un-revoked is refused, whichever of the two arrives first.
//!
//! Because the current version is simply the newest stored, and the refusals depend only on
//! what is stored, any set of versions that does not contradict itself ends in the same state
//! whatever the order of the writes (`tests/store.rs` checks this as a property).

use stix::Timestamp;

use crate::model::{ContentHash, NewObject};

/// The current version of an id, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub modified: Timestamp,
    pub created: Timestamp,
    pub revoked: bool,
    pub content_hash: Option<ContentHash>,
}

/// What to do with an incoming version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Store it; `current` when it is newer than every stored version.
    Insert {
        current: bool,
    },
    Unchanged,
    Reject(String),
}

/// Questions about stored versions other than the head, asked only when the answer matters.
pub trait History {
    /// Is a version with exactly this `modified` stored?
    fn has_version(&mut self, modified: &Timestamp) -> Result<bool, crate::StoreError>;
    /// The `modified` of the oldest stored version newer than `modified` that is not revoked.
    fn unrevoked_after(
        &mut self,
        modified: &Timestamp,
    ) -> Result<Option<Timestamp>, crate::StoreError>;
    /// The `modified` of the oldest stored version older than `modified` that is revoked.
    fn revoked_before(
        &mut self,
        modified: &Timestamp,
    ) -> Result<Option<Timestamp>, crate::StoreError>;
}

/// Decides what becomes of `new`, given the current version `head` of its id (if any).
pub fn decide(
    head: Option<&Head>,
    new: &NewObject,
    history: &mut dyn History,
) -> Result<Decision, crate::StoreError> {
    let Some(head) = head else {
        return Ok(Decision::Insert { current: true });
    };
    if let (Some(d), Some(h)) = (&new.derived, &head.content_hash) {
        if d.content_hash == *h {
            return Ok(Decision::Unchanged);
        }
    }
    if new.modified == head.modified {
        return Ok(Decision::Unchanged);
    }
    let unrevokes = |revoked_at: &Timestamp| {
        Decision::Reject(format!(
            "Error for Property=revoked: {} was revoked by its version of {revoked_at}; \
             revocation is final, so a later version cannot un-revoke it. Actual value: {}.",
            new.id, new.modified
        ))
    };
    if new.modified > head.modified {
        if head.revoked && !new.revoked {
            return Ok(unrevokes(&head.modified));
        }
        return Ok(Decision::Insert { current: true });
    }
    // An older version: history, unless it is already stored or contradicts another one.
    if history.has_version(&new.modified)? {
        return Ok(Decision::Unchanged);
    }
    // An unrevoked version between a revoked one and the (then revoked) head would un-revoke.
    // While the stored versions keep the rule, a revoked version exists only if the head is
    // revoked, so only then is it worth asking.
    if !new.revoked && head.revoked {
        if let Some(revoked_at) = history.revoked_before(&new.modified)? {
            return Ok(unrevokes(&revoked_at));
        }
    }
    if new.revoked {
        if let Some(later) = history.unrevoked_after(&new.modified)? {
            return Ok(Decision::Reject(format!(
                "Error for Property=revoked: {} has a later version ({later}) that is not \
                 revoked; revocation is final, so this earlier version cannot be revoked. \
                 Actual value: true.",
                new.id
            )));
        }
    }
    Ok(Decision::Insert { current: false })
}

/// `json` with its `created` value (the bytes at `at`, quotes included) replaced by `created`.
/// Returns `None` if `at` does not hold a quoted timestamp, which is the caller's bug.
pub fn with_created(
    json: &str,
    at: &std::ops::Range<usize>,
    created: &Timestamp,
) -> Option<String> {
    let old = json.get(at.clone())?;
    if old.len() < 2 || !old.starts_with('"') || !old.ends_with('"') {
        return None;
    }
    Timestamp::parse(&old[1..old.len() - 1]).ok()?;
    let mut out = String::with_capacity(json.len() + 8);
    out.push_str(&json[..at.start]);
    out.push('"');
    out.push_str(&created.to_string());
    out.push('"');
    out.push_str(&json[at.end..]);
    Some(out)
}
