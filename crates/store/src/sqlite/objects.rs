//! Writing object versions (the versioning rules applied to rows) and reading them back.

use std::collections::HashSet;
use std::hash::BuildHasher;

use rusqlite::{params, Connection, OptionalExtension, Row, Statement};
use stix::{StixId, Timestamp, Tlp};

use super::log::{LogReader, LogWriter, Space};
use crate::model::{NewObject, ObservableKey, Origin, Outcome, Provenance, StoredObject};

/// The row id of an origin's text in `origins`, adding it if new.
pub fn origin_id(conn: &Connection, origin: &Origin) -> Result<i64, StoreError> {
    let text = origin.to_string();
    conn.execute("INSERT OR IGNORE INTO origins (text) VALUES (?1)", [&text])?;
    Ok(
        conn.query_row("SELECT id FROM origins WHERE text = ?1", [&text], |r| {
            r.get(0)
        })?,
    )
}
use crate::versioning::{self, Decision, Head, History};
use crate::StoreError;

/// Timestamps of import records and workspaces are stored as UTC text with exactly nine
/// fraction digits, so that comparing the text compares the instants (STIX years have four
/// digits) and a person reading the database can read them.
pub fn ts(t: &Timestamp) -> String {
    let s = t.to_string();
    format!("{}.{:09}Z", &s[..19], t.subsec_nanos())
}

/// Reads a timestamp [`ts`] wrote, with the fewest fraction digits (3, 6 or 9) that hold it:
/// an instant of whole milliseconds, the form of [`Timestamp::now`] and of most feeds, reads
/// back as it was written.
pub fn parse_ts(s: &str) -> Result<Timestamp, StoreError> {
    let t =
        Timestamp::parse(s).map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))?;
    Ok(Timestamp::from_unix(t.unix_seconds(), t.subsec_nanos()))
}

/// Object timestamps are stored as integers, the row cost that matters at tens of millions of
/// versions: microseconds since the epoch (any STIX year fits an i64), and for `modified`,
/// which identifies a version, also the nanoseconds below the microsecond, so that no two
/// distinct versions collide.
pub use crate::rows::{content_hash, decode_keys, encode_keys, from_micros, micros, sub_micro};

fn opt_micros(us: Option<i64>) -> Option<Timestamp> {
    us.map(|us| from_micros(us, 0))
}

/// An observable key held back for sorted insertion: workspace, key, and the version (`vid`) it
/// belongs to.
struct DeferredKey(i64, Vec<u8>, i64);

/// The most observable keys an import holds back before writing them (a few megabytes). Bigger
/// runs sort better but leave more to write after the last record is read: with keys that name
/// versions by number (`vid`), runs of 32 Ki keys measured a little faster than runs of 256 Ki.
const MAX_DEFERRED_KEYS: usize = 32 * 1024;

/// A set of integers hashed by foldhash: the writer's sets are probed once per version written,
/// where SipHash's cost showed.
type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// The questions [`History`] asks, with `(ws, stix_id, modified, modified_ns)` as parameters.
pub const HAS_VERSION: &str = "SELECT 1 FROM objects WHERE ws = ?1 AND stix_id = ?2
    AND modified = ?3 AND modified_ns = ?4";
pub const UNREVOKED_AFTER: &str = "SELECT modified, modified_ns FROM objects WHERE ws = ?1
    AND stix_id = ?2 AND (modified, modified_ns) > (?3, ?4) AND revoked = 0
    ORDER BY modified, modified_ns LIMIT 1";
pub const REVOKED_BEFORE: &str = "SELECT modified, modified_ns FROM objects WHERE ws = ?1
    AND stix_id = ?2 AND (modified, modified_ns) < (?3, ?4) AND revoked = 1
    ORDER BY modified, modified_ns LIMIT 1";

/// Runs [`HAS_VERSION`] (prepared by the caller, from a transaction's statements or the
/// connection's cache): both [`History`] implementations ask the store through these two.
pub fn has_version_in(
    st: &mut Statement<'_>,
    ws: i64,
    id: &str,
    modified: &Timestamp,
) -> Result<bool, StoreError> {
    Ok(st
        .query_row(
            params![ws, id, micros(modified), sub_micro(modified)],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Runs [`UNREVOKED_AFTER`] or [`REVOKED_BEFORE`]: the `modified` of the version they find.
pub fn version_time_in(
    st: &mut Statement<'_>,
    ws: i64,
    id: &str,
    modified: &Timestamp,
) -> Result<Option<Timestamp>, StoreError> {
    let t: Option<(i64, i64)> = st
        .query_row(
            params![ws, id, micros(modified), sub_micro(modified)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(t.map(|(us, ns)| from_micros(us, ns)))
}

/// The prepared statements of one transaction's object writes.
pub struct ObjectWriter<'c> {
    log: &'c mut LogWriter,
    /// Where the log reserves this transaction's extents.
    space: &'c dyn Space,
    head: Statement<'c>,
    has_version: Statement<'c>,
    unrevoked_after: Statement<'c>,
    revoked_before: Statement<'c>,
    insert: Statement<'c>,
    retire: Statement<'c>,
    add_key: Statement<'c>,
    drop_key: Statement<'c>,
    stored_at: i64,
    key_buf: Vec<u8>,
    /// Set when this transaction began on a workspace with no objects: the hashes of the ids
    /// written since. An id whose hash is not in the set has no stored version, so its head
    /// query is skipped (a hash collision only costs the query). On a first import into a
    /// workspace that query is a fifth of the writer's time, for nothing.
    fresh: Option<(i64, FastSet<u64>)>,
    /// In bulk mode, observable keys are collected here and inserted in key order at the
    /// end ([`ObjectWriter::finish_bulk`]): inserted as they come, in random order,
    /// they cost a 250 MB import about two seconds of index page churn.
    deferred: Option<Vec<DeferredKey>>,
    /// Versions that stopped being current during this transaction: their deferred keys are
    /// not written.
    retired: FastSet<i64>,
}

struct HeadRow {
    vid: i64,
    head: Head,
    observables: Option<Vec<u8>>,
}

struct Hist<'a, 'c> {
    w: &'a mut ObjectWriter<'c>,
    ws: i64,
    id: &'a str,
}

impl History for Hist<'_, '_> {
    fn has_version(&mut self, modified: &Timestamp) -> Result<bool, StoreError> {
        has_version_in(&mut self.w.has_version, self.ws, self.id, modified)
    }

    fn unrevoked_after(&mut self, modified: &Timestamp) -> Result<Option<Timestamp>, StoreError> {
        version_time_in(&mut self.w.unrevoked_after, self.ws, self.id, modified)
    }

    fn revoked_before(&mut self, modified: &Timestamp) -> Result<Option<Timestamp>, StoreError> {
        version_time_in(&mut self.w.revoked_before, self.ws, self.id, modified)
    }
}

impl<'c> ObjectWriter<'c> {
    /// Prepares the writes of a transaction; `log` must have begun it ([`LogWriter::begin`]).
    pub fn new(
        conn: &'c Connection,
        log: &'c mut LogWriter,
        space: &'c dyn Space,
    ) -> Result<Self, StoreError> {
        Ok(ObjectWriter {
            log,
            space,
            head: conn.prepare(
                "SELECT vid, modified, modified_ns, created, revoked, content_hash, observables
                 FROM objects WHERE ws = ?1 AND stix_id = ?2
                 ORDER BY modified DESC, modified_ns DESC LIMIT 1",
            )?,
            has_version: conn.prepare(HAS_VERSION)?,
            unrevoked_after: conn.prepare(UNREVOKED_AFTER)?,
            revoked_before: conn.prepare(REVOKED_BEFORE)?,
            insert: conn.prepare(
                "INSERT INTO objects (ws, stix_id, modified, modified_ns, type, spec_version,
                   created, revoked, valid_from, valid_until, confidence, tlp, labels, source,
                   origin, stored, is_current, content_hash, observables, json_at, json_len)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                   ?17, ?18, ?19, ?20, ?21)",
            )?,
            retire: conn.prepare("UPDATE objects SET is_current = 0 WHERE vid = ?1")?,
            add_key: conn
                .prepare("INSERT OR IGNORE INTO observables (ws, key, vid) VALUES (?1, ?2, ?3)")?,
            drop_key: conn
                .prepare("DELETE FROM observables WHERE ws = ?1 AND key = ?2 AND vid = ?3")?,
            stored_at: micros(&Timestamp::now()),
            key_buf: Vec::with_capacity(64),
            fresh: None,
            deferred: None,
            retired: FastSet::default(),
        })
    }

    /// Bulk mode, for a file import: first versions of new ids in a fresh workspace (see
    /// `fresh`) and observable keys are held back and inserted sorted, in bounded runs, and at
    /// the latest by [`ObjectWriter::finish_bulk`], which must be called before the transaction
    /// commits.
    pub fn begin_bulk(&mut self) {
        self.deferred = Some(Vec::new());
    }

    /// Writes everything bulk mode held back.
    pub fn finish_bulk(&mut self) -> Result<(), StoreError> {
        self.write_deferred_keys()
    }

    /// Inserts the collected keys, sorted, skipping those of versions retired since.
    fn write_deferred_keys(&mut self) -> Result<(), StoreError> {
        let Some(mut keys) = self.deferred.take() else {
            return Ok(());
        };
        keys.sort_unstable_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
        keys.dedup_by(|a, b| (a.0, &a.1, a.2) == (b.0, &b.1, b.2));
        for DeferredKey(ws, key, vid) in &keys {
            if !self.retired.contains(vid) {
                self.add_key.execute(params![ws, &key[..], vid])?;
            }
        }
        Ok(())
    }

    /// Notes whether workspace `ws` has no objects yet (see `fresh`); call it inside the
    /// transaction, before the first write to `ws`.
    pub fn check_fresh(&mut self, conn: &Connection, ws: i64) -> Result<(), StoreError> {
        let any: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM objects WHERE ws = ?1)",
            [ws],
            |r| r.get(0),
        )?;
        self.fresh = (!any).then(|| (ws, FastSet::default()));
        Ok(())
    }

    fn head(&mut self, ws: i64, id: &str) -> Result<Option<HeadRow>, StoreError> {
        let row = self
            .head
            .query_row(params![ws, id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    from_micros(r.get(1)?, r.get(2)?),
                    from_micros(r.get(3)?, 0),
                    r.get::<_, bool>(4)?,
                    r.get::<_, Option<Vec<u8>>>(5)?,
                    r.get::<_, Option<Vec<u8>>>(6)?,
                ))
            })
            .optional()?;
        let Some((vid, modified, created, revoked, hash, observables)) = row else {
            return Ok(None);
        };
        let content_hash = content_hash(hash)?;
        Ok(Some(HeadRow {
            vid,
            head: Head {
                modified,
                created,
                revoked,
                content_hash,
            },
            observables,
        }))
    }

    /// Applies the versioning rules to `o` and writes what they decide.
    pub fn apply(
        &mut self,
        ws: i64,
        provenance: &Provenance,
        origin: i64,
        mut o: NewObject,
    ) -> Result<Outcome, StoreError> {
        let known = match &mut self.fresh {
            Some((fresh_ws, seen)) if *fresh_ws == ws => {
                !seen.insert(foldhash::fast::FixedState::with_seed(0).hash_one(o.id.as_str()))
            }
            _ => true,
        };
        let id = o.id.as_str();
        let head = if known { self.head(ws, id)? } else { None };
        let decision = {
            let mut hist = Hist { w: self, ws, id };
            versioning::decide(head.as_ref().map(|h| &h.head), &o, &mut hist)?
        };
        let current = match decision {
            Decision::Unchanged => return Ok(Outcome::Unchanged),
            Decision::Reject(m) => return Ok(Outcome::Rejected(m)),
            Decision::Insert { current } => current,
        };
        // A derived object that changed keeps its first version's `created`.
        let (json, created) = match (&o.derived, &head) {
            (Some(d), Some(h)) => {
                let json = versioning::with_created(&o.json, &d.created_at, &h.head.created)
                    .ok_or_else(|| {
                        StoreError::State("derived object without a created timestamp".into())
                    })?;
                (json, h.head.created)
            }
            _ => (std::mem::take(&mut o.json), o.created),
        };
        let keys = (current && !o.observables.is_empty()).then(|| encode_keys(&o.observables));
        let (json_at, json_len) = self.log.append(self.space, json)?;
        let vid = self.insert.insert(params![
            ws,
            id,
            micros(&o.modified),
            sub_micro(&o.modified),
            o.id.object_type(),
            o.spec_version,
            micros(&created),
            o.revoked,
            o.valid_from.as_ref().map(micros),
            o.valid_until.as_ref().map(micros),
            o.confidence,
            o.tlp.map(tlp_name),
            labels_json(&o.labels),
            provenance.source,
            origin,
            self.stored_at,
            current,
            o.derived.as_ref().map(|d| &d.content_hash[..]),
            keys,
            json_at,
            json_len,
        ])?;
        if current {
            if let Some(h) = &head {
                self.retire.execute(params![h.vid])?;
                if self.deferred.is_some() {
                    self.retired.insert(h.vid);
                }
                if let Some(old) = &h.observables {
                    for key in decode_keys(old) {
                        self.drop_key.execute(params![ws, key, h.vid])?;
                    }
                }
            }
            self.add_keys(ws, &o.observables, vid)?;
        }
        Ok(Outcome::Stored { current })
    }

    fn add_keys(&mut self, ws: i64, keys: &[ObservableKey], vid: i64) -> Result<(), StoreError> {
        for k in keys {
            if let Some(deferred) = &mut self.deferred {
                deferred.push(DeferredKey(ws, k.to_bytes(), vid));
                if deferred.len() >= MAX_DEFERRED_KEYS {
                    // Bounded memory whatever the file: write this run, sorted, and go on.
                    self.write_deferred_keys()?;
                    self.deferred = Some(Vec::new());
                }
                continue;
            }
            self.key_buf.clear();
            k.encode(&mut self.key_buf);
            self.add_key.execute(params![ws, &self.key_buf[..], vid])?;
        }
        Ok(())
    }
}

/// Labels as a JSON array, so that any label text (commas, control characters) reads back as it
/// was written; `None` when there are none.
pub fn labels_json(labels: &[String]) -> Option<String> {
    (!labels.is_empty()).then(|| serde_json::to_string(labels).expect("strings serialize"))
}

pub fn tlp_name(t: Tlp) -> &'static str {
    t.name()
}

/// The columns [`read_object`] expects, in order; `o` is `objects`, `g` its `origins` row.
pub const COLUMNS: &str = "o.stix_id, o.type, o.modified, o.modified_ns, o.created,
    o.spec_version, o.revoked, o.valid_from, o.valid_until, o.confidence, o.tlp, o.labels,
    o.source, g.text, o.stored, o.is_current, o.json_at, o.json_len, o.vid";

/// The tables [`COLUMNS`] come from.
pub const FROM: &str = "objects o JOIN origins g ON g.id = o.origin";

pub fn read_object(r: &Row<'_>, log: &LogReader) -> Result<StoredObject, StoreError> {
    let mut o = read_object_row(r)?;
    o.json = read_json(r, log)?;
    Ok(o)
}

/// The JSON of the version of a row of [`COLUMNS`], from the version log.
pub fn read_json(r: &Row<'_>, log: &LogReader) -> Result<String, StoreError> {
    log.read(r.get(16)?, r.get(17)?)
}

/// A row of [`COLUMNS`] without its JSON (left empty), which is read from the version log
/// apart ([`read_json`]): a scan checks its filters on the row first.
pub fn read_object_row(r: &Row<'_>) -> Result<StoredObject, StoreError> {
    let id: String = r.get(0)?;
    let tlp: Option<String> = r.get(10)?;
    let labels: Option<String> = r.get(11)?;
    let origin: String = r.get(13)?;
    Ok(StoredObject {
        id: StixId::parse(&id).map_err(|e| StoreError::Corrupt(format!("id {id:?}: {e}")))?,
        object_type: r.get(1)?,
        modified: from_micros(r.get(2)?, r.get(3)?),
        created: from_micros(r.get(4)?, 0),
        spec_version: r.get(5)?,
        revoked: r.get(6)?,
        valid_from: opt_micros(r.get(7)?),
        valid_until: opt_micros(r.get(8)?),
        confidence: r.get(9)?,
        tlp: match tlp {
            Some(t) => Some(
                Tlp::parse_level(&t).ok_or_else(|| StoreError::Corrupt(format!("TLP {t:?}")))?,
            ),
            None => None,
        },
        labels: match labels {
            Some(l) => serde_json::from_str(&l)
                .map_err(|e| StoreError::Corrupt(format!("labels {l:?}: {e}")))?,
            None => Vec::new(),
        },
        source: r.get(12)?,
        origin: Origin::parse(&origin),
        stored: from_micros(r.get(14)?, 0),
        seq: r.get(18)?,
        current: r.get(15)?,
        json: String::new(),
    })
}
