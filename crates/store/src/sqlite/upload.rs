//! Uploads through redo frames: how the decider decides a group ([`Decider`], [`Overlay`]),
//! how the applier inserts a frame's rows ([`apply_entry`]), and how whoever takes the log's
//! lease applies the frames it finds past the committed length ([`recover`]).
//!
//! The decider (`pipeline/decider.rs`) calls [`Decider::decide`] for each group: the
//! versioning rules are applied against one read snapshot of what SQLite has committed plus
//! what the decider decided since ([`Overlay`]), and each write becomes one frame
//! (`redo.rs`) holding its rows and their JSON. The syncer, not the decider, writes the frames
//! and makes them durable (one `fdatasync` for every group waiting) before it answers; the
//! applier then inserts the rows with [`apply_entry`], pointing at the JSON inside the frames,
//! and commits about once a second.
//!
//! Invariants kept:
//! - the overlay holds exactly the versions decided in groups the snapshot does not include:
//!   a group's additions are forgotten once a snapshot includes its commit, and taken back if
//!   the group (or one write of it) fails;
//! - a frame holds rows only for the versions stored; unchanged and refused objects have none;
//! - [`apply_entry`] is the only way a frame's rows reach the database, the first time and at
//!   recovery alike, so both insert the same rows;
//! - [`recover`] applies every intact frame past the committed length once, steps over
//!   extents, moves the committed length past them, and cuts only what follows the first
//!   place without an intact record, never below `json_log.keep_at`.
//!
//! Relied on: the caller of [`recover`] holds the log's lease (`lease.rs`); groups are decided
//! in the order of their numbers, and `committed` (the last group SQLite committed) is read
//! before the snapshot is. Why the frames past the committed length are exactly what was
//! acknowledged and not yet committed, and why cutting after the first hole loses nothing
//! acknowledged: ARCHITECTURE.md, `crates/store`, "Durability of the embedded store".

use std::collections::{HashMap, VecDeque};
use std::fs::File;

use rusqlite::{params, Connection, OptionalExtension};
use stix::Timestamp;

use super::objects::{
    content_hash, decode_keys, encode_keys, from_micros, has_version_in, labels_json, micros,
    sub_micro, tlp_name, version_time_in, HAS_VERSION, REVOKED_BEFORE, UNREVOKED_AFTER,
};
use super::redo::{self, Entry, FrameBuilder, Row};
use crate::model::{ContentHash, NewObject, Outcome, Provenance};
use crate::versioning::{self, Decision, Head, History};
use crate::StoreError;

/// A version decided but perhaps not yet visible to the decider's reads.
#[derive(Debug, Clone)]
struct Seen {
    seq: u64,
    modified: Timestamp,
    created: Timestamp,
    revoked: bool,
    content_hash: Option<ContentHash>,
}

type Key = (i64, Box<str>);

/// The versions decided since the last commit the decider's snapshot includes, by id.
#[derive(Default)]
pub struct Overlay {
    by_id: HashMap<Key, Vec<Seen>, foldhash::fast::RandomState>,
    /// The ids each group added to, oldest group first, for pruning.
    groups: VecDeque<(u64, Vec<Key>)>,
}

impl Overlay {
    fn add(&mut self, seq: u64, key: Key, seen: Seen) {
        match self.groups.back_mut() {
            Some((s, keys)) if *s == seq => keys.push(key.clone()),
            _ => self.groups.push_back((seq, vec![key.clone()])),
        }
        self.by_id.entry(key).or_default().push(seen);
    }

    /// How many additions group `seq` has made so far (a mark for [`Overlay::undo_since`]).
    fn mark(&self, seq: u64) -> usize {
        match self.groups.back() {
            Some((s, keys)) if *s == seq => keys.len(),
            _ => 0,
        }
    }

    /// Forgets the additions group `seq` made since `mark` (0: all of them): one of its writes
    /// failed, or its frames were not written. Only the newest group is ever undone, so its
    /// versions are the last of each id's list.
    fn undo_since(&mut self, seq: u64, mark: usize) {
        let Some((s, keys)) = self.groups.back_mut() else {
            return;
        };
        if *s != seq {
            return;
        }
        for key in keys.drain(mark..).rev() {
            if let Some(v) = self.by_id.get_mut(&key) {
                v.pop();
                if v.is_empty() {
                    self.by_id.remove(&key);
                }
            }
        }
        if keys.is_empty() {
            self.groups.pop_back();
        }
    }

    /// Forgets the versions of groups up to `up_to`, which the next snapshot includes.
    fn forget(&mut self, up_to: u64) {
        while self.groups.front().is_some_and(|(s, _)| *s <= up_to) {
            let (s, keys) = self.groups.pop_front().expect("checked");
            for key in keys {
                if let Some(v) = self.by_id.get_mut(&key) {
                    v.retain(|x| x.seq != s);
                    if v.is_empty() {
                        self.by_id.remove(&key);
                    }
                }
            }
        }
    }
}

/// The outcome of deciding one group: the frames to append, in order, and each write's
/// outcomes.
pub struct Decided {
    /// The frames, one after another, as they are to be written.
    pub bytes: Vec<u8>,
    /// Each frame's offset in `bytes`, its length, and its rows.
    pub frames: Vec<(u64, u64, Entry)>,
    pub outcomes: Vec<Result<Vec<Outcome>, StoreError>>,
}

/// The decider's state: a read connection and the overlay.
pub struct Decider {
    conn: Connection,
    overlay: Overlay,
}

const HEAD: &str = "SELECT modified, modified_ns, created, revoked, content_hash FROM objects
    WHERE ws = ?1 AND stix_id = ?2 ORDER BY modified DESC, modified_ns DESC LIMIT 1";

struct Hist<'a> {
    conn: &'a Connection,
    seen: &'a [Seen],
    ws: i64,
    id: &'a str,
}

impl Hist<'_> {
    fn sql_ts(&self, sql: &str, m: &Timestamp) -> Result<Option<Timestamp>, StoreError> {
        version_time_in(&mut *self.conn.prepare_cached(sql)?, self.ws, self.id, m)
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl History for Hist<'_> {
    fn has_version(&mut self, modified: &Timestamp) -> Result<bool, StoreError> {
        if self.seen.iter().any(|s| s.modified == *modified) {
            return Ok(true);
        }
        has_version_in(
            &mut *self.conn.prepare_cached(HAS_VERSION)?,
            self.ws,
            self.id,
            modified,
        )
    }

    fn unrevoked_after(&mut self, modified: &Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let mine = self
            .seen
            .iter()
            .filter(|s| s.modified > *modified && !s.revoked)
            .map(|s| s.modified)
            .min();
        Ok(earliest(mine, self.sql_ts(UNREVOKED_AFTER, modified)?))
    }

    fn revoked_before(&mut self, modified: &Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let mine = self
            .seen
            .iter()
            .filter(|s| s.modified < *modified && s.revoked)
            .map(|s| s.modified)
            .min();
        Ok(earliest(mine, self.sql_ts(REVOKED_BEFORE, modified)?))
    }
}

impl Decider {
    pub fn new(conn: Connection) -> Decider {
        Decider {
            conn,
            overlay: Overlay::default(),
        }
    }

    /// Decides group `seq`. `committed` is the last group SQLite has committed, read before
    /// this call: the snapshot this call reads includes it, so the overlay forgets it first.
    pub fn decide(
        &mut self,
        seq: u64,
        committed: u64,
        stored_at: i64,
        writes: Vec<(i64, Provenance, Vec<NewObject>)>,
    ) -> Result<Decided, StoreError> {
        self.overlay.forget(committed);
        // One read transaction for the group: one snapshot, taken after `committed` was read.
        self.conn.execute_batch("BEGIN")?;
        let result = self.decide_in_snapshot(seq, stored_at, writes);
        let _ = self.conn.execute_batch("COMMIT");
        if result.is_err() {
            self.overlay.undo_since(seq, 0);
        }
        result
    }

    /// Forgets what group `seq` decided: its frames were not written.
    pub fn undo(&mut self, seq: u64) {
        self.overlay.undo_since(seq, 0);
    }

    fn decide_in_snapshot(
        &mut self,
        seq: u64,
        stored_at: i64,
        writes: Vec<(i64, Provenance, Vec<NewObject>)>,
    ) -> Result<Decided, StoreError> {
        let mut out = Decided {
            bytes: Vec::new(),
            frames: Vec::new(),
            outcomes: Vec::with_capacity(writes.len()),
        };
        for (ws, provenance, objects) in writes {
            let origin = provenance.origin.to_string();
            let mut frame =
                FrameBuilder::new(ws, stored_at, &provenance.source, &origin, objects.len());
            // A write that fails (a caller's bug, or a failing read) fails alone: what it
            // added to the overlay is taken back, and the group's other writes go on.
            let mark = self.overlay.mark(seq);
            let decided = (|| {
                let mut rows = Vec::new();
                let mut outcomes = Vec::with_capacity(objects.len());
                for o in objects {
                    let (outcome, row) = self.decide_one(seq, ws, o, &mut frame)?;
                    outcomes.push(outcome);
                    rows.extend(row);
                }
                if rows.is_empty() {
                    return Ok((outcomes, rows, Vec::new()));
                }
                let bytes = frame.finish().ok_or_else(|| {
                    StoreError::State(format!(
                        "one upload's stored versions exceed {} bytes",
                        redo::MAX_PAYLOAD
                    ))
                })?;
                Ok((outcomes, rows, bytes))
            })();
            let (outcomes, rows, bytes) = match decided {
                Ok(d) => d,
                Err(e) => {
                    self.overlay.undo_since(seq, mark);
                    out.outcomes.push(Err(e));
                    continue;
                }
            };
            out.outcomes.push(Ok(outcomes));
            if rows.is_empty() {
                continue;
            }
            out.frames.push((
                out.bytes.len() as u64,
                bytes.len() as u64,
                Entry {
                    ws,
                    stored_at,
                    source: provenance.source,
                    origin,
                    rows,
                },
            ));
            out.bytes.extend_from_slice(&bytes);
        }
        Ok(out)
    }

    fn sql_head(&self, ws: i64, id: &str) -> Result<Option<Head>, StoreError> {
        let row = self
            .conn
            .prepare_cached(HEAD)?
            .query_row(params![ws, id], |r| {
                Ok((
                    from_micros(r.get(0)?, r.get(1)?),
                    from_micros(r.get(2)?, 0),
                    r.get::<_, bool>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                ))
            })
            .optional()?;
        let Some((modified, created, revoked, hash)) = row else {
            return Ok(None);
        };
        Ok(Some(Head {
            modified,
            created,
            revoked,
            content_hash: content_hash(hash)?,
        }))
    }

    fn decide_one(
        &mut self,
        seq: u64,
        ws: i64,
        o: NewObject,
        frame: &mut FrameBuilder,
    ) -> Result<(Outcome, Option<Row>), StoreError> {
        let key: Key = (ws, o.id.as_str().into());
        let seen: &[Seen] = self.overlay.by_id.get(&key).map_or(&[], Vec::as_slice);
        // The head is the newest version stored or decided.
        let mut head = self.sql_head(ws, &key.1)?;
        for s in seen {
            if head.as_ref().is_none_or(|h| s.modified > h.modified) {
                head = Some(Head {
                    modified: s.modified,
                    created: s.created,
                    revoked: s.revoked,
                    content_hash: s.content_hash,
                });
            }
        }
        let decision = {
            let mut hist = Hist {
                conn: &self.conn,
                seen,
                ws,
                id: &key.1,
            };
            versioning::decide(head.as_ref(), &o, &mut hist)?
        };
        let current = match decision {
            Decision::Unchanged => return Ok((Outcome::Unchanged, None)),
            Decision::Reject(m) => return Ok((Outcome::Rejected(m), None)),
            Decision::Insert { current } => current,
        };
        // A derived object that changed keeps its first version's `created`.
        let (json, created) = match (&o.derived, &head) {
            (Some(d), Some(h)) => {
                let json = versioning::with_created(&o.json, &d.created_at, &h.created)
                    .ok_or_else(|| {
                        StoreError::State("derived object without a created timestamp".into())
                    })?;
                (json, h.created)
            }
            _ => (o.json, o.created),
        };
        let mut row = Row {
            stix_id: key.1.to_string(),
            object_type: o.id.object_type().to_owned(),
            modified: micros(&o.modified),
            modified_ns: sub_micro(&o.modified),
            spec_version: o.spec_version.to_owned(),
            created: micros(&created),
            revoked: o.revoked,
            valid_from: o.valid_from.as_ref().map(micros),
            valid_until: o.valid_until.as_ref().map(micros),
            confidence: o.confidence.map(i64::from),
            tlp: o.tlp.map(|t| tlp_name(t).to_owned()),
            labels: labels_json(&o.labels),
            content_hash: o.derived.as_ref().map(|d| d.content_hash.to_vec()),
            observables: (current && !o.observables.is_empty())
                .then(|| encode_keys(&o.observables)),
            current,
            had_head: head.is_some(),
            json_off: 0,
            json_len: 0,
        };
        frame.push(&mut row, &json);
        self.overlay.add(
            seq,
            key,
            Seen {
                seq,
                modified: o.modified,
                created,
                revoked: o.revoked,
                content_hash: o.derived.as_ref().map(|d| d.content_hash),
            },
        );
        Ok((Outcome::Stored { current }, Some(row)))
    }
}

/// Inserts the rows of the frame at `frame_at`, inside the caller's transaction.
pub fn apply_entry(conn: &Connection, frame_at: u64, entry: &Entry) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR IGNORE INTO origins (text) VALUES (?1)")?
        .execute([&entry.origin])?;
    let origin: i64 = conn
        .prepare_cached("SELECT id FROM origins WHERE text = ?1")?
        .query_row([&entry.origin], |r| r.get(0))?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO objects (ws, stix_id, modified, modified_ns, type, spec_version,
           created, revoked, valid_from, valid_until, confidence, tlp, labels, source,
           origin, stored, is_current, content_hash, observables, json_at, json_len)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
           ?17, ?18, ?19, ?20, ?21)",
    )?;
    for row in &entry.rows {
        if row.current && row.had_head {
            // The version this one replaces as current.
            let old: Option<(i64, Option<Vec<u8>>)> = conn
                .prepare_cached(
                    "SELECT vid, observables FROM objects
                     WHERE ws = ?1 AND stix_id = ?2 AND is_current = 1",
                )?
                .query_row(params![entry.ws, row.stix_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            if let Some((vid, keys)) = old {
                conn.prepare_cached("UPDATE objects SET is_current = 0 WHERE vid = ?1")?
                    .execute([vid])?;
                if let Some(keys) = keys {
                    let mut drop = conn.prepare_cached(
                        "DELETE FROM observables WHERE ws = ?1 AND key = ?2 AND vid = ?3",
                    )?;
                    for key in decode_keys(&keys) {
                        drop.execute(params![entry.ws, key, vid])?;
                    }
                }
            }
        }
        let json_at = i64::try_from(frame_at + row.json_off)
            .map_err(|_| StoreError::Corrupt("version log position".into()))?;
        let vid = insert.insert(params![
            entry.ws,
            row.stix_id,
            row.modified,
            row.modified_ns,
            row.object_type,
            row.spec_version,
            row.created,
            row.revoked,
            row.valid_from,
            row.valid_until,
            row.confidence,
            row.tlp,
            row.labels,
            entry.source,
            origin,
            entry.stored_at,
            row.current,
            row.content_hash,
            row.observables,
            json_at,
            row.json_len as i64,
        ])?;
        if let (true, Some(keys)) = (row.current, &row.observables) {
            let mut add = conn.prepare_cached(
                "INSERT OR IGNORE INTO observables (ws, key, vid) VALUES (?1, ?2, ?3)",
            )?;
            for key in decode_keys(keys) {
                add.execute(params![entry.ws, key, vid])?;
            }
        }
    }
    Ok(())
}

/// Applies, in one transaction, every intact frame past the committed length (stepping over
/// extents) up to the first place where no intact record is, moves the committed length past
/// them, and cuts what follows; returns where the next record goes. The caller holds the log's
/// file lock.
///
/// Nothing after the first place without an intact record was acknowledged: frames are made
/// durable, and answered, in the order their space was reserved, and an extent's header is
/// written when it is reserved, so a later frame's `fdatasync` made every record before it
/// durable. What may lie after it is the extents of an import that committed while a frame
/// reserved before them was still to be written: `json_log.keep_at` marks the end of those
/// bytes, and nothing below it is cut.
pub fn recover(conn: &mut Connection, file: &File) -> Result<u64, StoreError> {
    let io = |what: &str, e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            StoreError::Corrupt(format!("version log: {e}"))
        } else {
            StoreError::Backend(format!("cannot {what} the version log: {e}").into())
        }
    };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (start, keep): (i64, i64) =
        tx.query_row("SELECT end_at, keep_at FROM json_log", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let start =
        u64::try_from(start).map_err(|_| StoreError::Corrupt(format!("log length {start}")))?;
    let keep = u64::try_from(keep).unwrap_or(0);
    let len = file
        .metadata()
        .map_err(|e| io("read the length of", e))?
        .len();
    if len < start {
        return Err(StoreError::Corrupt(format!(
            "the version log is {len} bytes, shorter than the {start} the database has committed"
        )));
    }
    // Frames are applied, extents stepped over (an import's JSON, committed or not: whatever
    // points into them is already in the database, or will never be).
    let mut at = start;
    let mut applied = false;
    while let Some(record) = redo::record_at(file, at).map_err(|e| io("read", e))? {
        match record {
            redo::Record::Frame(entry, frame_len) => {
                apply_entry(&tx, at, &entry)?;
                applied = true;
                at += frame_len;
            }
            redo::Record::Extent(extent_len) => at += extent_len,
        }
    }
    // The committed length goes past the last intact record, and past a committed import's
    // bytes; not past the file's end, which an extent's reserved space may (its import filled
    // part of it). The next record goes there: an extent header below the committed length is
    // never read again, so the space it reserved and did not fill may be used.
    let next = at.max(keep);
    let committed = next.min(len);
    if applied || committed > start {
        if applied {
            // A crashed process may have written frames it never made durable.
            file.sync_data().map_err(|e| io("sync", e))?;
        }
        tx.execute("UPDATE json_log SET end_at = ?1", [committed as i64])?;
        tx.commit()?;
    } else {
        drop(tx);
    }
    if len > next {
        // So that no old frame can ever follow a new one.
        file.set_len(next).map_err(|e| io("truncate", e))?;
    }
    Ok(committed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// A fresh database with its schema, the log file beside it, and one workspace (row 1).
    fn db() -> (tempfile::TempDir, Connection, File) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO workspaces (ws, id, name, created) VALUES (1, 'w', 'w', 't')",
            [],
        )
        .unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("t.db-json"))
            .unwrap();
        (dir, conn, file)
    }

    /// A frame of one row for workspace 1.
    fn frame(id: &str) -> Vec<u8> {
        let mut f = FrameBuilder::new(1, 0, "s", "request:r", 1);
        let mut row = redo::Row {
            stix_id: id.into(),
            object_type: "indicator".into(),
            modified: 1,
            modified_ns: 0,
            spec_version: "2.1".into(),
            created: 1,
            revoked: false,
            valid_from: None,
            valid_until: None,
            confidence: None,
            tlp: None,
            labels: None,
            content_hash: None,
            observables: None,
            current: true,
            had_head: false,
            json_off: 0,
            json_len: 0,
        };
        f.push(&mut row, r#"{"id":"x"}"#);
        f.finish().unwrap()
    }

    fn committed(conn: &Connection) -> u64 {
        conn.query_row("SELECT end_at FROM json_log", [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    }

    fn rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM objects", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_hole_before_a_committed_imports_extents_does_not_cut_them() {
        // A frame reserved at 0 was never written (its syncer was behind); an import's extent
        // after it committed (keep_at past it); then the process died.
        let (_dir, mut conn, file) = db();
        let hole = frame("indicator--a").len() as u64;
        let payload = br#"{"type":"indicator","id":"indicator--b"}"#;
        let at = hole;
        file.write_all_at(&redo::extent_header(payload.len() as u32), at)
            .unwrap();
        file.write_all_at(payload, at + redo::HEADER as u64)
            .unwrap();
        let keep = at + redo::HEADER as u64 + payload.len() as u64;
        conn.execute("UPDATE json_log SET keep_at = ?1", [keep as i64])
            .unwrap();
        let next = recover(&mut conn, &file).unwrap();
        assert_eq!(next, keep);
        assert_eq!(committed(&conn), keep);
        assert_eq!(
            file.metadata().unwrap().len(),
            keep,
            "the import's bytes stay"
        );
        let mut back = vec![0; payload.len()];
        file.read_exact_at(&mut back, at + redo::HEADER as u64)
            .unwrap();
        assert_eq!(&back[..], payload);
        assert_eq!(rows(&conn), 0, "the unwritten frame was never answered");
    }

    #[test]
    fn a_partly_filled_last_extent_leaves_the_committed_length_inside_the_file() {
        // An answered frame, then the last extent of an import that filled part of what it
        // reserved: the file ends inside the extent.
        let (_dir, mut conn, file) = db();
        let f = frame("indicator--a");
        file.write_all_at(&f, 0).unwrap();
        let at = f.len() as u64;
        file.write_all_at(&redo::extent_header(1 << 20), at)
            .unwrap();
        file.write_all_at(b"{\"partly\":1}", at + redo::HEADER as u64)
            .unwrap();
        let len = file.metadata().unwrap().len();
        let next = recover(&mut conn, &file).unwrap();
        assert_eq!(rows(&conn), 1, "the frame was applied");
        assert_eq!(
            committed(&conn),
            len,
            "the committed length is not past the file's end"
        );
        // The extent's header is below it now, never read again: what follows goes there.
        assert_eq!(next, len);
        // And the next recovery (nothing new) finds the same.
        assert_eq!(recover(&mut conn, &file).unwrap(), next);
        assert_eq!(rows(&conn), 1);
    }

    fn seen(seq: u64) -> Seen {
        Seen {
            seq,
            modified: Timestamp::from_unix(seq as i64, 0),
            created: Timestamp::from_unix(0, 0),
            revoked: false,
            content_hash: None,
        }
    }

    #[test]
    fn the_overlay_forgets_committed_groups_and_undone_ones() {
        let mut o = Overlay::default();
        let a: Key = (1, "a".into());
        let b: Key = (1, "b".into());
        o.add(1, a.clone(), seen(1));
        o.add(2, a.clone(), seen(2));
        o.add(2, b.clone(), seen(2));
        o.add(3, b.clone(), seen(3));
        o.undo_since(3, 0);
        assert_eq!(o.by_id[&b].len(), 1);
        o.forget(1);
        assert_eq!(o.by_id[&a].len(), 1);
        assert_eq!(o.by_id[&a][0].seq, 2);
        o.forget(2);
        assert!(o.by_id.is_empty());
        assert!(o.groups.is_empty());
    }
}
