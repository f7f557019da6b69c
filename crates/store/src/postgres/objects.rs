//! Object versions on PostgreSQL: writing them under the versioning rules, and reading them.
//!
//! A write is one transaction. It first takes a transaction-scoped advisory lock on each of
//! its objects' ids, in one statement and in a fixed order, so that writers on several nodes
//! decide one id's versions one at a time (two first versions of one id arriving together
//! would otherwise both see no head and both become current), and never deadlock. Then it
//! writes in rounds, each holding one version per id: the heads in one query, the decisions
//! here, the new versions in one `INSERT … SELECT FROM unnest(…)`, the retired heads, their
//! keys and the new keys one statement each. (Object by object, a batch of 100 took some 400
//! round trips, and wrote 1.6 times slower: BENCHMARKS.md.)

use std::future::Future;

use stix::{StixId, Timestamp};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use super::PostgresStore;
use crate::model::*;
use crate::rows::{content_hash, decode_keys, encode_keys, from_micros, micros, sub_micro};
use crate::versioning::{self, Decision, Head, History};
use crate::{Breakdown, Counts, StoreError};

/// Waits for `f` on this thread (see the module doc of `postgres`).
fn run<F: Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

/// The columns [`read_object`] expects, in order.
pub(super) const COLUMNS: &str = "stix_id, type, modified, modified_ns, created, spec_version,
    revoked, valid_from, valid_until, confidence, tlp, labels, source, origin, stored,
    is_current, json, seq";

pub(super) fn read_object(r: &Row) -> Result<StoredObject, StoreError> {
    let id: String = r.try_get(0)?;
    let tlp: Option<String> = r.try_get(10)?;
    let origin: String = r.try_get(13)?;
    let confidence: Option<i16> = r.try_get(9)?;
    let micros_opt = |i: usize| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.try_get::<_, Option<i64>>(i)?.map(|us| from_micros(us, 0)))
    };
    Ok(StoredObject {
        id: StixId::parse(&id).map_err(|e| StoreError::Corrupt(format!("id {id:?}: {e}")))?,
        object_type: r.try_get(1)?,
        modified: from_micros(r.try_get(2)?, i64::from(r.try_get::<_, i32>(3)?)),
        created: from_micros(r.try_get(4)?, 0),
        spec_version: r.try_get(5)?,
        revoked: r.try_get(6)?,
        valid_from: micros_opt(7)?,
        valid_until: micros_opt(8)?,
        confidence: confidence.and_then(|c| u8::try_from(c).ok()),
        tlp: match tlp {
            Some(t) => Some(
                stix::Tlp::parse_level(&t)
                    .ok_or_else(|| StoreError::Corrupt(format!("TLP {t:?}")))?,
            ),
            None => None,
        },
        labels: r.try_get::<_, Option<Vec<String>>>(11)?.unwrap_or_default(),
        source: r.try_get(12)?,
        origin: Origin::parse(&origin),
        stored: from_micros(r.try_get(14)?, 0),
        current: r.try_get(15)?,
        json: r.try_get(16)?,
        seq: r.try_get(17)?,
    })
}

/// The current version of an id as the versioning rules and the writer need it.
struct HeadRow {
    head: Head,
    modified_us: i64,
    modified_ns: i32,
    seq: i64,
    observables: Option<Vec<u8>>,
}

/// The stored versions of one id other than its head, asked by the rules when they matter.
struct PgHistory<'a> {
    client: &'a Client,
    workspace: uuid::Uuid,
    id: &'a str,
}

impl PgHistory<'_> {
    fn one_time(&self, sql: &str, t: &Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let row = run(self.client.query_opt(
            sql,
            &[
                &self.workspace,
                &self.id,
                &micros(t),
                &(sub_micro(t) as i32),
            ],
        ))?;
        Ok(row.map(|r| from_micros(r.get(0), i64::from(r.get::<_, i32>(1)))))
    }
}

impl History for PgHistory<'_> {
    fn has_version(&mut self, modified: &Timestamp) -> Result<bool, StoreError> {
        Ok(self
            .one_time(
                "SELECT modified, modified_ns FROM objects WHERE workspace_id = $1
                 AND stix_id = $2 AND modified = $3 AND modified_ns = $4",
                modified,
            )?
            .is_some())
    }

    fn unrevoked_after(&mut self, modified: &Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.one_time(
            "SELECT modified, modified_ns FROM objects WHERE workspace_id = $1
             AND stix_id = $2 AND (modified, modified_ns) > ($3, $4) AND NOT revoked
             ORDER BY modified, modified_ns LIMIT 1",
            modified,
        )
    }

    fn revoked_before(&mut self, modified: &Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.one_time(
            "SELECT modified, modified_ns FROM objects WHERE workspace_id = $1
             AND stix_id = $2 AND (modified, modified_ns) < ($3, $4) AND revoked
             ORDER BY modified, modified_ns LIMIT 1",
            modified,
        )
    }
}

impl PostgresStore {
    /// Writes `objects` in one transaction, each decided by the versioning rules.
    pub(super) fn write_objects(
        &self,
        workspace: WorkspaceId,
        provenance: &Provenance,
        objects: Vec<NewObject>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let ws = self.known_workspace(workspace)?;
        let mut conn = self.pool.get()?;
        let c = conn.client();
        run(c.batch_execute("BEGIN"))?;
        let written = write_in(c, ws, provenance, objects);
        match written {
            Ok(out) => {
                run(c.batch_execute("COMMIT"))?;
                Ok(out)
            }
            Err(e) => {
                // A failed rollback leaves a broken connection, which the pool drops.
                let _ = run(c.batch_execute("ROLLBACK"));
                Err(e)
            }
        }
    }
}

fn write_in(
    c: &Client,
    ws: uuid::Uuid,
    provenance: &Provenance,
    objects: Vec<NewObject>,
) -> Result<Vec<Outcome>, StoreError> {
    let n = objects.len();
    {
        let ids: Vec<&str> = objects.iter().map(|o| o.id.as_str()).collect();
        run(c.execute(
            "SELECT pg_advisory_xact_lock(h) FROM (
                 SELECT DISTINCT hashtextextended($1::text || ' ' || id, 0) AS h
                 FROM unnest($2::text[]) AS id ORDER BY h
             ) AS locks",
            &[&ws.to_string(), &ids],
        ))?;
    }
    // Rounds: the k-th version of an id in this write goes in round k, so that a round holds
    // one version per id and is decided against the rounds before it. Most writes are one round.
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    let mut rounds: Vec<Vec<(usize, NewObject)>> = Vec::new();
    for (i, o) in objects.into_iter().enumerate() {
        let k = seen.entry(o.id.as_str().to_owned()).or_insert(0);
        if rounds.len() <= *k {
            rounds.push(Vec::new());
        }
        rounds[*k].push((i, o));
        *k += 1;
    }
    let mut out: Vec<Option<Outcome>> = vec![None; n];
    let round_st = RoundStatements::prepare(c)?;
    let stored_at = micros(&Timestamp::now());
    let origin = provenance.origin.to_string();
    for round in rounds {
        write_round(
            c, &round_st, ws, provenance, &origin, stored_at, round, &mut out,
        )?;
    }
    Ok(out
        .into_iter()
        .map(|o| o.expect("every object decided"))
        .collect())
}

/// The statements of a write, prepared once for all its rounds.
struct RoundStatements {
    heads: tokio_postgres::Statement,
    insert: tokio_postgres::Statement,
    retire: tokio_postgres::Statement,
    drop_keys: tokio_postgres::Statement,
    add_keys: tokio_postgres::Statement,
}

impl RoundStatements {
    fn prepare(c: &Client) -> Result<RoundStatements, StoreError> {
        Ok(RoundStatements {
            heads: run(c.prepare(
                "SELECT stix_id, modified, modified_ns, created, revoked, content_hash,
                   observables, seq
                 FROM objects WHERE workspace_id = $1 AND stix_id = ANY($2) AND is_current",
            ))?,
            // One statement for the round's versions, column by column. Labels come as JSON
            // arrays: an array of arrays must be rectangular.
            insert: run(c.prepare(
                "INSERT INTO objects (workspace_id, stix_id, modified, modified_ns, type,
                   spec_version, created, revoked, valid_from, valid_until, confidence, tlp,
                   labels, source, origin, stored, is_current, content_hash, observables, json)
                 SELECT $1, v.id, v.m, v.n, v.t, v.sv, v.c, v.r, v.vf, v.vu, v.conf, v.tlp,
                   CASE WHEN v.l IS NULL THEN NULL
                        ELSE ARRAY(SELECT jsonb_array_elements_text(v.l::jsonb)) END,
                   $2, $3, $4, v.cur, v.h, v.o, v.j
                 FROM unnest($5::text[], $6::bigint[], $7::int[], $8::text[], $9::text[],
                   $10::bigint[], $11::bool[], $12::bigint[], $13::bigint[], $14::int2[],
                   $15::text[], $16::text[], $17::bool[], $18::bytea[], $19::bytea[],
                   $20::text[])
                   AS v(id, m, n, t, sv, c, r, vf, vu, conf, tlp, l, cur, h, o, j)
                 RETURNING stix_id, seq",
            ))?,
            retire: run(c.prepare(
                "UPDATE objects o SET is_current = false
                 FROM unnest($2::text[], $3::bigint[], $4::int[]) AS h(id, m, n)
                 WHERE o.workspace_id = $1 AND o.stix_id = h.id AND o.modified = h.m
                   AND o.modified_ns = h.n",
            ))?,
            drop_keys: run(c.prepare(
                "DELETE FROM observables o USING unnest($2::bytea[], $3::bigint[]) AS d(k, s)
                 WHERE o.workspace_id = $1 AND o.key = d.k AND o.seq = d.s",
            ))?,
            add_keys: run(c.prepare(
                "INSERT INTO observables (workspace_id, key, seq, stix_id)
                 SELECT $1, a.k, a.s, a.i FROM unnest($2::bytea[], $3::bigint[], $4::text[])
                   AS a(k, s, i)
                 ON CONFLICT DO NOTHING",
            ))?,
        })
    }
}

/// A version a round stores, as its columns.
#[derive(Default)]
struct Columns {
    id: Vec<String>,
    modified: Vec<i64>,
    modified_ns: Vec<i32>,
    object_type: Vec<String>,
    spec_version: Vec<String>,
    created: Vec<i64>,
    revoked: Vec<bool>,
    valid_from: Vec<Option<i64>>,
    valid_until: Vec<Option<i64>>,
    confidence: Vec<Option<i16>>,
    tlp: Vec<Option<String>>,
    labels: Vec<Option<String>>,
    current: Vec<bool>,
    content_hash: Vec<Option<Vec<u8>>>,
    observables: Vec<Option<Vec<u8>>>,
    json: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn write_round(
    c: &Client,
    st: &RoundStatements,
    ws: uuid::Uuid,
    provenance: &Provenance,
    origin: &str,
    stored_at: i64,
    round: Vec<(usize, NewObject)>,
    out: &mut [Option<Outcome>],
) -> Result<(), StoreError> {
    let ids: Vec<&str> = round.iter().map(|(_, o)| o.id.as_str()).collect();
    let mut heads: std::collections::HashMap<String, HeadRow> = Default::default();
    for r in run(c.query(&st.heads, &[&ws, &ids]))? {
        let (us, ns): (i64, i32) = (r.try_get(1)?, r.try_get(2)?);
        heads.insert(
            r.try_get(0)?,
            HeadRow {
                head: Head {
                    modified: from_micros(us, i64::from(ns)),
                    created: from_micros(r.try_get(3)?, 0),
                    revoked: r.try_get(4)?,
                    content_hash: content_hash(r.try_get(5)?)?,
                },
                modified_us: us,
                modified_ns: ns,
                observables: r.try_get(6)?,
                seq: r.try_get(7)?,
            },
        );
    }
    let mut cols = Columns::default();
    // The keys of each version that becomes current, by id, added once its seq is known.
    let mut new_keys: std::collections::HashMap<String, Vec<Vec<u8>>> = Default::default();
    let (mut retire_id, mut retire_m, mut retire_n) = (Vec::new(), Vec::new(), Vec::new());
    let (mut drop_k, mut drop_s) = (Vec::new(), Vec::new());
    for (i, o) in round {
        let id = o.id.as_str();
        let head = heads.get(id);
        let decision = {
            let mut history = PgHistory {
                client: c,
                workspace: ws,
                id,
            };
            versioning::decide(head.map(|h| &h.head), &o, &mut history)?
        };
        let current = match decision {
            Decision::Unchanged => {
                out[i] = Some(Outcome::Unchanged);
                continue;
            }
            Decision::Reject(m) => {
                out[i] = Some(Outcome::Rejected(m));
                continue;
            }
            Decision::Insert { current } => current,
        };
        out[i] = Some(Outcome::Stored { current });
        // A derived object that changed keeps its first version's `created`.
        let (json, created) = match (&o.derived, head) {
            (Some(d), Some(h)) => (
                versioning::with_created(&o.json, &d.created_at, &h.head.created).ok_or_else(
                    || StoreError::State("derived object without a created timestamp".into()),
                )?,
                h.head.created,
            ),
            _ => (o.json, o.created),
        };
        let keys = current && !o.observables.is_empty();
        if current {
            if let Some(h) = head {
                retire_id.push(id.to_owned());
                retire_m.push(h.modified_us);
                retire_n.push(h.modified_ns);
                for k in h
                    .observables
                    .as_deref()
                    .map(decode_keys)
                    .into_iter()
                    .flatten()
                {
                    drop_k.push(k.to_vec());
                    drop_s.push(h.seq);
                }
            }
            if keys {
                new_keys.insert(
                    id.to_owned(),
                    o.observables.iter().map(ObservableKey::to_bytes).collect(),
                );
            }
        }
        cols.id.push(id.to_owned());
        cols.modified.push(micros(&o.modified));
        cols.modified_ns.push(sub_micro(&o.modified) as i32);
        cols.object_type.push(o.id.object_type().to_owned());
        cols.spec_version.push(o.spec_version.to_owned());
        cols.created.push(micros(&created));
        cols.revoked.push(o.revoked);
        cols.valid_from.push(o.valid_from.as_ref().map(micros));
        cols.valid_until.push(o.valid_until.as_ref().map(micros));
        cols.confidence.push(o.confidence.map(i16::from));
        cols.tlp.push(o.tlp.map(|t| t.name().to_owned()));
        cols.labels.push(
            (!o.labels.is_empty())
                .then(|| serde_json::to_string(&o.labels).expect("strings serialize")),
        );
        cols.current.push(current);
        cols.content_hash
            .push(o.derived.as_ref().map(|d| d.content_hash.to_vec()));
        cols.observables
            .push(keys.then(|| encode_keys(&o.observables)));
        cols.json.push(json);
    }
    if cols.id.is_empty() {
        return Ok(());
    }
    let params: [&(dyn ToSql + Sync); 20] = [
        &ws,
        &provenance.source,
        &origin,
        &stored_at,
        &cols.id,
        &cols.modified,
        &cols.modified_ns,
        &cols.object_type,
        &cols.spec_version,
        &cols.created,
        &cols.revoked,
        &cols.valid_from,
        &cols.valid_until,
        &cols.confidence,
        &cols.tlp,
        &cols.labels,
        &cols.current,
        &cols.content_hash,
        &cols.observables,
        &cols.json,
    ];
    let inserted = run(c.query(&st.insert, &params))?;
    if !retire_id.is_empty() {
        run(c.execute(&st.retire, &[&ws, &retire_id, &retire_m, &retire_n]))?;
    }
    if !drop_k.is_empty() {
        run(c.execute(&st.drop_keys, &[&ws, &drop_k, &drop_s]))?;
    }
    let (mut add_k, mut add_s, mut add_i) = (Vec::new(), Vec::new(), Vec::new());
    for r in &inserted {
        let id: String = r.try_get(0)?;
        let seq: i64 = r.try_get(1)?;
        for k in new_keys.remove(&id).into_iter().flatten() {
            add_k.push(k);
            add_s.push(seq);
            add_i.push(id.clone());
        }
    }
    if !add_k.is_empty() {
        run(c.execute(&st.add_keys, &[&ws, &add_k, &add_s, &add_i]))?;
    }
    Ok(())
}

impl PostgresStore {
    pub(super) fn current_object(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
    ) -> Result<Option<StoredObject>, StoreError> {
        let ws = self.known_workspace(workspace)?;
        let row = self.with(async |c| {
            Ok(c.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM objects WHERE workspace_id = $1 AND stix_id = $2
                     AND is_current"
                ),
                &[&ws, &id.as_str()],
            )
            .await?)
        })?;
        row.as_ref().map(read_object).transpose()
    }

    pub(super) fn scan_object_versions(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
        after: Option<&Timestamp>,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<(), StoreError> {
        let ws = self.known_workspace(workspace)?;
        let (us, ns) = after.map_or((i64::MIN, -1), |t| (micros(t), sub_micro(t) as i32));
        let sql = format!(
            "SELECT {COLUMNS} FROM objects WHERE workspace_id = $1 AND stix_id = $2
             AND (modified, modified_ns) > ($3, $4) ORDER BY modified, modified_ns"
        );
        self.stream(&sql, &[&ws, &id.as_str(), &us, &ns], &mut |r| {
            Ok(each(read_object(r)?))
        })
    }

    /// Runs `sql` in a read-only transaction and calls `each` with its rows a batch at a time
    /// (a portal), until it returns `false`: a scan that stops early does not make the
    /// server send the rest.
    pub(super) fn stream(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        each: &mut dyn FnMut(&Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let c = conn.client();
        let tx = run(c.build_transaction().read_only(true).start())?;
        let st = run(tx.prepare(sql))?;
        let portal = run(tx.bind(&st, params))?;
        loop {
            let rows = run(tx.query_portal(&portal, 256))?;
            let last = rows.len() < 256;
            for r in &rows {
                if !each(r)? {
                    run(tx.commit())?;
                    return Ok(());
                }
            }
            if last {
                run(tx.commit())?;
                return Ok(());
            }
        }
    }

    pub(super) fn count_objects(&self, workspace: WorkspaceId) -> Result<Counts, StoreError> {
        let ws = self.known_workspace(workspace)?;
        self.with(async |c| {
            let r = c
                .query_one(
                    "SELECT count(*), count(*) FILTER (WHERE is_current) FROM objects
                     WHERE workspace_id = $1",
                    &[&ws],
                )
                .await?;
            Ok(Counts {
                versions: r.get::<_, i64>(0) as u64,
                objects: r.get::<_, i64>(1) as u64,
            })
        })
    }

    pub(super) fn object_breakdown(
        &self,
        workspace: WorkspaceId,
        since: Timestamp,
    ) -> Result<Breakdown, StoreError> {
        let ws = self.known_workspace(workspace)?;
        self.with(async |c| {
            let counted = async |column: &str| -> Result<Vec<(Option<String>, u64)>, StoreError> {
                Ok(c.query(
                    &format!(
                        "SELECT {column}, count(*) FROM objects WHERE workspace_id = $1
                         AND is_current GROUP BY 1 ORDER BY 2 DESC, {column} COLLATE \"C\" NULLS FIRST"
                    ),
                    &[&ws],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
                .collect())
            };
            let named = |v: Vec<(Option<String>, u64)>| {
                v.into_iter()
                    .map(|(k, n)| (k.unwrap_or_default(), n))
                    .collect()
            };
            let per_day = c
                .query(
                    "SELECT stored / 86400000000, count(*) FROM objects
                     WHERE workspace_id = $1 AND stored >= $2 GROUP BY 1 ORDER BY 1",
                    &[&ws, &micros(&since)],
                )
                .await?
                .iter()
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1) as u64))
                .collect();
            Ok(Breakdown {
                by_type: named(counted("type").await?),
                by_source: named(counted("source").await?),
                by_tlp: counted("tlp").await?,
                stored_per_day: per_day,
            })
        })
    }

    pub(super) fn find_observable_ids(
        &self,
        workspace: WorkspaceId,
        key: &ObservableKey,
        limit: usize,
    ) -> Result<Vec<StixId>, StoreError> {
        let ws = self.known_workspace(workspace)?;
        let keys = key.probes();
        let rows = self.with(async |c| {
            Ok(c.query(
                "SELECT DISTINCT stix_id FROM observables WHERE workspace_id = $1
                 AND key = ANY($2) ORDER BY stix_id",
                &[&ws, &keys],
            )
            .await?)
        })?;
        rows.iter()
            .take(limit)
            .map(|r| {
                let id: String = r.try_get(0)?;
                StixId::parse(&id).map_err(|e| StoreError::Corrupt(format!("id {id:?}: {e}")))
            })
            .collect()
    }

    pub(super) fn find_name_hits(
        &self,
        workspace: WorkspaceId,
        text: &str,
        past: Option<(&[u8], i64)>,
        limit: usize,
    ) -> Result<Vec<NameHit>, StoreError> {
        let ws = self.known_workspace(workspace)?;
        let Some(walk) = ObservableKey::name_walk(text, past) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.with(async |c| {
            Ok(c.query(
                "SELECT key, seq, stix_id FROM observables WHERE workspace_id = $1
                 AND (key, seq) > ($2, $3) AND key < $4 ORDER BY key, seq LIMIT $5",
                &[&ws, &walk.after_key, &walk.after_seq, &walk.end, &limit],
            )
            .await?)
        })?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(2)?;
                Ok(NameHit {
                    id: StixId::parse(&id)
                        .map_err(|e| StoreError::Corrupt(format!("id {id:?}: {e}")))?,
                    key: r.try_get(0)?,
                    seq: r.try_get(1)?,
                })
            })
            .collect()
    }

    pub(super) fn scan_current_objects(
        &self,
        workspace: WorkspaceId,
        filter: &ObjectFilter,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<Walked, StoreError> {
        let ws = self.known_workspace(workspace)?;
        // The walk is a range of an index past the cursor (as in the embedded engine); the
        // filters are checked on each row, so the deadline counts every row walked.
        let (walk, low, high): (String, Box<dyn ToSql + Sync>, Box<dyn ToSql + Sync>) =
            match &filter.order {
                ObjectOrder::Id { descending, past } => {
                    let (low, high) = ObjectOrder::id_range(
                        filter.object_type.as_deref(),
                        *descending,
                        past.as_ref(),
                    );
                    let dir = if *descending { "DESC" } else { "" };
                    (
                        format!("stix_id > $2 AND stix_id < $3 ORDER BY stix_id {dir}"),
                        Box::new(low),
                        Box::new(high),
                    )
                }
                ObjectOrder::Stored { newest_first, past } => {
                    let (low, high, dir) = match (newest_first, past) {
                        (false, p) => (p.unwrap_or(0), i64::MAX, ""),
                        (true, p) => (0, p.unwrap_or(i64::MAX), "DESC"),
                    };
                    (
                        format!("seq > $2 AND seq < $3 ORDER BY seq {dir}"),
                        Box::new(low),
                        Box::new(high),
                    )
                }
            };
        let sql = format!(
            "SELECT {COLUMNS} FROM objects WHERE workspace_id = $1 AND is_current AND {walk}"
        );
        let mut walked = Walked::Done;
        self.stream(&sql, &[&ws, &*low, &*high], &mut |r| {
            let o = read_object(r)?;
            let late = filter
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d);
            let at = late.then(|| filter.order.position_of(&o));
            if filter.matches(&o) && !each(o) {
                return Ok(false);
            }
            if let Some(at) = at {
                walked = Walked::OutOfTime(at);
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(walked)
    }
}
