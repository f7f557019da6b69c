//! The [`Store`] interface of the SQLite engine: its SQL, on the read pool or as write jobs.
//!
//! Reads run on a pooled read connection (`SqliteStore::read`); reads of objects first have
//! the applier commit what was answered for that workspace (`SqliteStore::read_objects`), so a
//! handle reads its own acknowledged writes. Uploads go to the decider and imports through it
//! to the applier (`pipeline/`, `import.rs`); every other write is one `synchronous = FULL`
//! transaction on the applier (`SqliteStore::write_tx`), durable when it returns.
//!
//! Invariants kept: workspaces are never deleted, so the cache of their row numbers never goes
//! stale; keyset pages of imports are in a total order (the sort key, then creation time, then
//! id); the retention sweep deletes only ended imports' records, and returns (never deletes)
//! their files. Relied on: the schema of `schema.rs` and the row layout of `objects.rs`. What a
//! write's return means for durability: ARCHITECTURE.md, `crates/store`, "Durability of the
//! embedded store".

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension};
use stix::{StixId, Timestamp};

use super::import::{path_text, write_finish, SqliteImport};
use super::objects::{
    self, micros, parse_ts, read_json, read_object, read_object_row, ts, COLUMNS, FROM,
};
use super::pipeline::Job;
use super::SqliteStore;
use crate::model::*;
use crate::{Breakdown, Counts, ImportWriter, Store, StoreError};

const IMPORT_COLUMNS: &str = "i.id, w.id, i.source, i.file_name, i.format, i.mode, i.status,
    i.total, i.imported, i.invalid, i.unchanged, i.upgraded, i.message, i.created, i.started,
    i.finished, i.file_path, i.error_path, i.owner";

fn read_import(r: &rusqlite::Row<'_>) -> Result<ImportRecord, StoreError> {
    let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("import {what} {v:?}"));
    let text = |i: usize| r.get::<_, String>(i);
    let id = text(0)?;
    let ws = text(1)?;
    let format = text(4)?;
    let mode = text(5)?;
    let status = text(6)?;
    Ok(ImportRecord {
        id: ImportId::parse(&id).map_err(|_| corrupt("id", &id))?,
        workspace: WorkspaceId::parse(&ws).map_err(|_| corrupt("workspace", &ws))?,
        source: text(2)?,
        file_name: text(3)?,
        format: ImportFormat::parse(&format).ok_or_else(|| corrupt("format", &format))?,
        mode: ImportMode::parse(&mode).ok_or_else(|| corrupt("mode", &mode))?,
        status: ImportStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        total: r.get(7)?,
        imported: r.get(8)?,
        invalid: r.get(9)?,
        unchanged: r.get(10)?,
        upgraded: r.get(11)?,
        message: r.get(12)?,
        created: parse_ts(&text(13)?)?,
        started: r
            .get::<_, Option<String>>(14)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        finished: r
            .get::<_, Option<String>>(15)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        file_path: r.get::<_, Option<String>>(16)?.map(PathBuf::from),
        error_path: r.get::<_, Option<String>>(17)?.map(PathBuf::from),
        owner: r.get(18)?,
    })
}

fn read_principal(r: &rusqlite::Row<'_>) -> Result<Principal, StoreError> {
    let kind: String = r.get(1)?;
    Ok(Principal {
        id: r.get(0)?,
        kind: PrincipalKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("principal kind {kind:?}")))?,
        name: r.get(2)?,
        secret_hash: r.get(3)?,
        created: parse_ts(&r.get::<_, String>(4)?)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

impl Store for SqliteStore {
    fn create_workspace(&self, id: WorkspaceId, name: &str) -> Result<Workspace, StoreError> {
        let ws = Workspace {
            id,
            name: name.to_owned(),
            created: Timestamp::now(),
        };
        let row = ws.clone();
        self.write_tx(move |tx| {
            match tx.execute(
                "INSERT INTO workspaces (id, name, created) VALUES (?1, ?2, ?3)",
                params![row.id.to_string(), row.name, ts(&row.created)],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("workspace {}", row.id)))
                }
                Err(e) => Err(e.into()),
            }
        })?;
        Ok(ws)
    }

    fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT name, created FROM workspaces WHERE id = ?1",
                    [id.to_string()],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?;
            row.map(|(name, created)| {
                Ok(Workspace {
                    id,
                    name,
                    created: parse_ts(&created)?,
                })
            })
            .transpose()
        })
    }

    fn workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare("SELECT id, name, created FROM workspaces ORDER BY ws")?;
            let mut rows = st.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                out.push(Workspace {
                    id: WorkspaceId::parse(&id)
                        .map_err(|_| StoreError::Corrupt(format!("workspace id {id:?}")))?,
                    name: r.get(1)?,
                    created: parse_ts(&r.get::<_, String>(2)?)?,
                });
            }
            Ok(out)
        })
    }

    fn write(
        &self,
        workspace: WorkspaceId,
        provenance: &Provenance,
        objects: Vec<NewObject>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let ws = self.ws_key(workspace)?;
        self.pipeline.ask(|reply| Job::Write {
            ws,
            provenance: provenance.clone(),
            objects,
            reply,
        })
    }

    fn begin_import(
        &self,
        import: ImportId,
        owner: &str,
    ) -> Result<Box<dyn ImportWriter>, StoreError> {
        // The workspace, read here: the decider holds that workspace's uploads back while the
        // import runs, so it must know it for certain.
        let ws: i64 = self
            .read(|c| {
                Ok(c.query_row(
                    "SELECT ws FROM imports WHERE id = ?1",
                    [import.to_string()],
                    |r| r.get(0),
                )
                .optional()?)
            })?
            .ok_or_else(|| StoreError::NotFound(format!("import {import}")))?;
        // Eight batches in flight: enough to keep the writer busy, bounded memory.
        let (tx, rx) = mpsc::sync_channel(8);
        self.pipeline.ask(|reply| Job::Import {
            import,
            ws,
            owner: owner.to_owned(),
            rx,
            reply,
        })?;
        Ok(Box::new(SqliteImport { tx }))
    }

    fn current(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
    ) -> Result<Option<StoredObject>, StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read_objects(ws, |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE o.ws = ?1 AND o.stix_id = ?2
                 ORDER BY o.modified DESC, o.modified_ns DESC LIMIT 1"
            ))?;
            let mut rows = st.query(params![ws, id.as_str()])?;
            rows.next()?.map(|r| read_object(r, &self.log)).transpose()
        })
    }

    fn scan_versions(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
        after: Option<&Timestamp>,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<(), StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read_objects(ws, |c| {
            // Two statements rather than `?3 IS NULL OR …`, which would keep SQLite from
            // starting the index range at `after`.
            let mut drain = |mut rows: rusqlite::Rows<'_>| -> Result<(), StoreError> {
                while let Some(r) = rows.next()? {
                    if !each(read_object(r, &self.log)?) {
                        break;
                    }
                }
                Ok(())
            };
            match after {
                None => {
                    let mut st = c.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM {FROM} WHERE o.ws = ?1 AND o.stix_id = ?2
                         ORDER BY o.modified, o.modified_ns"
                    ))?;
                    let done = drain(st.query(params![ws, id.as_str()])?);
                    done
                }
                Some(t) => {
                    let mut st = c.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM {FROM} WHERE o.ws = ?1 AND o.stix_id = ?2
                         AND (o.modified, o.modified_ns) > (?3, ?4)
                         ORDER BY o.modified, o.modified_ns"
                    ))?;
                    let done = drain(st.query(params![
                        ws,
                        id.as_str(),
                        micros(t),
                        objects::sub_micro(t)
                    ])?);
                    done
                }
            }
        })
    }

    fn scan_current(
        &self,
        workspace: WorkspaceId,
        filter: &ObjectFilter,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<Walked, StoreError> {
        let ws = self.ws_key(workspace)?;
        // The rows walked are a range of an index, so that a page past a cursor, or of one
        // type, starts where it starts instead of reading the workspace from its beginning:
        // written with `OR`, as the other filters are, the bounds could not be seeks. In id
        // order the range is of the version index (ids `low` < id < `high`), in the order of
        // storing of `objects_current_by_vid` (`low` < vid < `high`).
        let (from, walk, low, high) = match &filter.order {
            ObjectOrder::Id { descending, past } => {
                let (low, high) = ObjectOrder::id_range(
                    filter.object_type.as_deref(),
                    *descending,
                    past.as_ref(),
                );
                let dir = if *descending { "DESC" } else { "" };
                (
                    FROM.to_owned(),
                    format!("o.stix_id > ?2 AND o.stix_id < ?3 ORDER BY o.stix_id {dir}"),
                    Value::from(low),
                    Value::from(high),
                )
            }
            ObjectOrder::Stored { newest_first, past } => {
                let (low, high, dir) = match (newest_first, past) {
                    (false, p) => (p.unwrap_or(0), i64::MAX, ""),
                    (true, p) => (0, p.unwrap_or(i64::MAX), "DESC"),
                };
                // Named, or the planner may walk the table by its row id instead, which reads
                // every other workspace's rows in the range too.
                (
                    FROM.replacen(
                        "objects o",
                        "objects o INDEXED BY objects_current_by_vid",
                        1,
                    ),
                    format!("o.vid > ?2 AND o.vid < ?3 ORDER BY o.vid {dir}"),
                    Value::from(low),
                    Value::from(high),
                )
            }
        };
        // The filters are checked here, on each row walked before its JSON is read, rather
        // than in the query: so that the deadline is checked after every row walked, and the
        // scan can say where it stopped when the rows it walked did not pass.
        self.read_objects(ws, |c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM {from} WHERE o.ws = ?1 AND o.is_current = 1
                 AND {walk}"
            ))?;
            let mut rows = st.query(params![ws, low, high])?;
            while let Some(r) = rows.next()? {
                let mut o = read_object_row(r)?;
                let late = filter.deadline.is_some_and(|d| Instant::now() >= d);
                let at = late.then(|| filter.order.position_of(&o));
                if filter.matches(&o) {
                    o.json = read_json(r, &self.log)?;
                    if !each(o) {
                        return Ok(Walked::Done);
                    }
                }
                if let Some(at) = at {
                    return Ok(Walked::OutOfTime(at));
                }
            }
            Ok(Walked::Done)
        })
    }

    fn count(&self, workspace: WorkspaceId) -> Result<Counts, StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read_objects(ws, |c| {
            Ok(c.query_row(
                "SELECT count(*), coalesce(sum(is_current), 0) FROM objects WHERE ws = ?1",
                [ws],
                |r| {
                    Ok(Counts {
                        versions: r.get(0)?,
                        objects: r.get(1)?,
                    })
                },
            )?)
        })
    }

    fn breakdown(&self, workspace: WorkspaceId, since: Timestamp) -> Result<Breakdown, StoreError> {
        let ws = self.ws_key(workspace)?;
        let since = micros(&since);
        self.read_objects(ws, |c| {
            let counted = |sql: &str| -> Result<Vec<(Option<String>, u64)>, StoreError> {
                let mut st = c.prepare_cached(sql)?;
                let rows = st.query_map([ws], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            };
            let named = |sql: &str| -> Result<Vec<(String, u64)>, StoreError> {
                Ok(counted(sql)?
                    .into_iter()
                    .map(|(k, n)| (k.unwrap_or_default(), n))
                    .collect())
            };
            let mut st = c.prepare_cached(
                "SELECT stored / 86400000000, count(*) FROM objects
                 WHERE ws = ?1 AND stored >= ?2 GROUP BY 1 ORDER BY 1",
            )?;
            let per_day = st
                .query_map(params![ws, since], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(Breakdown {
                by_type: named(
                    "SELECT type, count(*) FROM objects WHERE ws = ?1 AND is_current = 1
                     GROUP BY type ORDER BY 2 DESC, 1",
                )?,
                by_source: named(
                    "SELECT source, count(*) FROM objects WHERE ws = ?1 AND is_current = 1
                     GROUP BY source ORDER BY 2 DESC, 1",
                )?,
                by_tlp: counted(
                    "SELECT tlp, count(*) FROM objects WHERE ws = ?1 AND is_current = 1
                     GROUP BY tlp ORDER BY 2 DESC, 1",
                )?,
                stored_per_day: per_day,
            })
        })
    }

    fn find_observable(
        &self,
        workspace: WorkspaceId,
        key: &ObservableKey,
        limit: usize,
    ) -> Result<Vec<StixId>, StoreError> {
        let ws = self.ws_key(workspace)?;
        // An address is found by every block that contains it: one exact lookup per prefix
        // length, each an index probe.
        let keys = key.probes();
        self.read_objects(ws, |c| {
            let mut st = c.prepare_cached(
                "SELECT o.stix_id FROM observables k JOIN objects o ON o.vid = k.vid
                 WHERE k.ws = ?1 AND k.key = ?2",
            )?;
            let mut ids = Vec::new();
            for k in &keys {
                let mut rows = st.query(params![ws, k])?;
                while let Some(r) = rows.next()? {
                    let id: String = r.get(0)?;
                    ids.push(
                        StixId::parse(&id)
                            .map_err(|e| StoreError::Corrupt(format!("id {id:?}: {e}")))?,
                    );
                }
            }
            ids.sort();
            ids.dedup();
            ids.truncate(limit);
            Ok(ids)
        })
    }

    fn find_names(
        &self,
        workspace: WorkspaceId,
        text: &str,
        past: Option<(&[u8], i64)>,
        limit: usize,
    ) -> Result<Vec<NameHit>, StoreError> {
        let ws = self.ws_key(workspace)?;
        // Past the previous page's last hit, in the index's own order (key, vid): a seek.
        let Some(walk) = ObservableKey::name_walk(text, past) else {
            return Ok(Vec::new());
        };
        self.read_objects(ws, |c| {
            let mut st = c.prepare_cached(
                "SELECT k.key, k.vid, o.stix_id FROM observables k JOIN objects o ON o.vid = k.vid
                 WHERE k.ws = ?1 AND (k.key, k.vid) > (?2, ?3) AND k.key < ?4
                 ORDER BY k.key, k.vid LIMIT ?5",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows =
                st.query(params![ws, walk.after_key, walk.after_seq, walk.end, limit])?;
            let mut hits = Vec::new();
            while let Some(r) = rows.next()? {
                let id: String = r.get(2)?;
                hits.push(NameHit {
                    id: StixId::parse(&id)
                        .map_err(|e| StoreError::Corrupt(format!("id {id:?}: {e}")))?,
                    key: r.get(0)?,
                    seq: r.get(1)?,
                });
            }
            Ok(hits)
        })
    }

    fn create_import(&self, new: &NewImport) -> Result<ImportRecord, StoreError> {
        let ws = self.ws_key(new.workspace)?;
        let n = new.clone();
        self.write_tx(move |tx| {
            let r = tx.execute(
                "INSERT INTO imports (id, ws, source, file_name, format, mode, status, created,
                   file_path, owner)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9)",
                params![
                    n.id.to_string(),
                    ws,
                    n.source,
                    n.file_name,
                    n.format.as_str(),
                    n.mode.as_str(),
                    ts(&n.created),
                    n.file_path.as_deref().map(path_text),
                    n.owner,
                ],
            );
            match r {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("import {}", n.id)))
                }
                Err(e) => Err(e.into()),
            }
        })?;
        self.import(new.workspace, new.id)?
            .ok_or_else(|| StoreError::NotFound(format!("import {}", new.id)))
    }

    fn import(
        &self,
        workspace: WorkspaceId,
        id: ImportId,
    ) -> Result<Option<ImportRecord>, StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {IMPORT_COLUMNS} FROM imports i JOIN workspaces w ON w.ws = i.ws
                 WHERE i.id = ?1 AND i.ws = ?2"
            ))?;
            let mut rows = st.query(params![id.to_string(), ws])?;
            rows.next()?.map(read_import).transpose()
        })
    }

    fn imports(
        &self,
        workspace: WorkspaceId,
        sort: ImportSort,
        order: Order,
        page: &ImportPage,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        let ws = self.ws_key(workspace)?;
        let column = match sort {
            ImportSort::Source => "i.source",
            ImportSort::Name => "i.file_name",
            ImportSort::Imported => "i.imported",
            ImportSort::Total => "i.total",
            ImportSort::Created => "i.created",
        };
        let (dir, cmp) = match order {
            Order::Asc => ("ASC", ">"),
            Order::Desc => ("DESC", "<"),
        };
        let after = page.after.as_ref().map(|k| {
            let value: rusqlite::types::Value = match &k.value {
                SortValue::Text(t) => t.clone().into(),
                SortValue::Count(n) => (*n as i64).into(),
                SortValue::Time(t) => ts(t).into(),
            };
            (value, ts(&k.created), k.id.to_string())
        });
        let limit = page.limit.min(i64::MAX as usize) as i64;
        self.read(|c| {
            // Keyset paging: the rows after the last one shown, in a total order.
            let mut st = c.prepare_cached(&format!(
                "SELECT {IMPORT_COLUMNS} FROM imports i JOIN workspaces w ON w.ws = i.ws
                 WHERE i.ws = ?1
                   AND (?2 IS NULL OR ({column}, i.created, i.id) {cmp} (?3, ?4, ?5))
                 ORDER BY {column} {dir}, i.created {dir}, i.id {dir} LIMIT ?6"
            ))?;
            let (has, value, created, id) = match &after {
                Some((v, c, i)) => (Some(1), Some(v.clone()), Some(c.as_str()), Some(i.as_str())),
                None => (None, None, None, None),
            };
            let mut rows = st.query(params![ws, has, value, created, id, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(read_import(r)?);
            }
            Ok(out)
        })
    }

    fn finish_import(&self, id: ImportId, finish: &ImportFinish) -> Result<(), StoreError> {
        let f = finish.clone();
        self.write_tx(move |tx| write_finish(tx, id, &f))
    }

    fn fail_abandoned_imports(
        &self,
        is_gone: &dyn Fn(&str) -> bool,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let open: Vec<(String, Option<String>)> = self.read(|c| {
            let mut st =
                c.prepare("SELECT id, owner FROM imports WHERE status IN ('queued', 'running')")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        let gone: Vec<String> = open
            .into_iter()
            .filter(|(_, owner)| owner.as_deref().is_none_or(is_gone))
            .map(|(id, _)| id)
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        self.write_tx(move |tx| {
            let mut n = 0;
            for id in &gone {
                // Only if still open: the owner may have finished it meanwhile.
                n += tx.execute(
                    "UPDATE imports SET status = 'failed', finished = ?2, imported = 0,
                       owner = NULL,
                       message = 'the import was interrupted (the process running it stopped); \
                                  nothing of the file was stored'
                     WHERE id = ?1 AND status IN ('queued', 'running')",
                    params![id, ts(&now)],
                )? as u64;
            }
            Ok(n)
        })
    }

    fn sweep(&self, now: Timestamp, retention: &Retention) -> Result<Swept, StoreError> {
        let before = |d: Duration| {
            let secs = now
                .unix_seconds()
                .saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            ts(&Timestamp::from_unix(secs, now.subsec_nanos()))
        };
        let files_cutoff = before(retention.files);
        let records_cutoff = before(retention.records);
        // Look before writing: most sweeps find nothing, and a write would wait for any long
        // transaction (an import) in another process.
        let due: bool = self.read(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM imports
                   WHERE status IN ('succeeded', 'partially-succeeded', 'failed')
                     AND (((file_path IS NOT NULL OR error_path IS NOT NULL)
                           AND coalesce(finished, created) < ?1)
                          OR created < ?2))",
                params![files_cutoff, records_cutoff],
                |r| r.get(0),
            )?)
        })?;
        if !due {
            return Ok(Swept::default());
        }
        self.write_tx(move |tx| {
            let mut swept = Swept::default();
            {
                // Files of finished imports older than the file retention (and of every
                // record about to be deleted, which is older still).
                let mut st = tx.prepare(
                    "SELECT id, file_path, error_path FROM imports
                     WHERE status IN ('succeeded', 'partially-succeeded', 'failed')
                       AND (file_path IS NOT NULL OR error_path IS NOT NULL)
                       AND coalesce(finished, created) < ?1",
                )?;
                let rows = st.query_map([&files_cutoff], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })?;
                let mut clear = tx.prepare(
                    "UPDATE imports SET file_path = NULL, error_path = NULL WHERE id = ?1",
                )?;
                for row in rows {
                    let (id, file, errors) = row?;
                    swept
                        .files_expired
                        .extend(file.into_iter().chain(errors).map(PathBuf::from));
                    clear.execute([id])?;
                }
            }
            swept.records_deleted = tx.execute(
                "DELETE FROM imports
                 WHERE status IN ('succeeded', 'partially-succeeded', 'failed')
                   AND created < ?1",
                [&records_cutoff],
            )? as u64;
            Ok(swept)
        })
    }

    fn create_principal(&self, p: &Principal) -> Result<(), StoreError> {
        let p = p.clone();
        self.write_tx(move |tx| {
            match tx.execute(
                "INSERT INTO principals (id, kind, name, secret_hash, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![p.id, p.kind.as_str(), p.name, p.secret_hash, ts(&p.created)],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("principal {}", p.id)))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn principal(&self, id: &str) -> Result<Option<Principal>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, kind, name, secret_hash, created FROM principals WHERE id = ?1",
            )?;
            let mut rows = st.query([id])?;
            rows.next()?.map(read_principal).transpose()
        })
    }

    fn principals(&self, kind: PrincipalKind) -> Result<Vec<Principal>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, kind, name, secret_hash, created FROM principals WHERE kind = ?1 \
                 ORDER BY created, id",
            )?;
            let mut rows = st.query([kind.as_str()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(read_principal(r)?);
            }
            Ok(out)
        })
    }

    fn assign_role(
        &self,
        workspace: WorkspaceId,
        principal: &str,
        role: Role,
    ) -> Result<(), StoreError> {
        let ws = self.ws_key(workspace)?;
        let principal = principal.to_owned();
        self.write_tx(move |tx| {
            let known: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM principals WHERE id = ?1",
                    [&principal],
                    |r| r.get(0),
                )
                .optional()?;
            if known.is_none() {
                return Err(StoreError::NotFound(format!("principal {principal}")));
            }
            tx.execute(
                "INSERT INTO roles (ws, principal, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (ws, principal) DO UPDATE SET role = excluded.role",
                params![ws, principal, role.as_str()],
            )?;
            Ok(())
        })
    }

    fn role(&self, workspace: WorkspaceId, principal: &str) -> Result<Option<Role>, StoreError> {
        let ws = match self.ws_key(workspace) {
            Ok(ws) => ws,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.read(|c| {
            let role: Option<String> = c
                .query_row(
                    "SELECT role FROM roles WHERE ws = ?1 AND principal = ?2",
                    params![ws, principal],
                    |r| r.get(0),
                )
                .optional()?;
            role.map(|r| Role::parse(&r).ok_or_else(|| StoreError::Corrupt(format!("role {r:?}"))))
                .transpose()
        })
    }

    fn roles_of(&self, principal: &str) -> Result<Vec<(WorkspaceId, Role)>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT w.id, r.role FROM roles r JOIN workspaces w ON w.ws = r.ws
                 WHERE r.principal = ?1 ORDER BY w.ws",
            )?;
            let mut rows = st.query([principal])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let (id, role): (String, String) = (r.get(0)?, r.get(1)?);
                out.push((
                    WorkspaceId::parse(&id)
                        .map_err(|_| StoreError::Corrupt(format!("workspace id {id:?}")))?,
                    Role::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
                ));
            }
            Ok(out)
        })
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
    }

    fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        if let Some(v) = self.setting(name)? {
            return Ok(v);
        }
        let (name, value) = (name.to_owned(), value.to_owned());
        self.write_tx(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO settings (name, value) VALUES (?1, ?2)",
                params![name, value],
            )?;
            Ok(
                tx.query_row("SELECT value FROM settings WHERE name = ?1", [&name], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let s = session.clone();
        self.write_tx(move |tx| {
            tx.execute(
                "INSERT INTO sessions (id_hash, principal, workspace, csrf, created, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    s.id_hash,
                    s.principal,
                    s.workspace.map(|w| w.to_string()),
                    s.csrf,
                    ts(&s.created),
                    ts(&s.expires)
                ],
            )?;
            Ok(())
        })
    }

    fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id_hash, principal, workspace, csrf, created, expires FROM sessions
                 WHERE id_hash = ?1",
            )?;
            let mut rows = st.query([id_hash])?;
            rows.next()?.map(read_session).transpose()
        })
    }

    fn set_session_workspace(
        &self,
        id_hash: &str,
        workspace: WorkspaceId,
    ) -> Result<(), StoreError> {
        let id_hash = id_hash.to_owned();
        self.write_tx(move |tx| {
            let n = tx.execute(
                "UPDATE sessions SET workspace = ?2 WHERE id_hash = ?1",
                params![id_hash, workspace.to_string()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("session".into()));
            }
            Ok(())
        })
    }

    fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let id_hash = id_hash.to_owned();
        self.write_tx(move |tx| {
            Ok(tx.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])? > 0)
        })
    }

    fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        let now = ts(&now);
        // Look before writing, as the retention sweep does: most sweeps find nothing.
        let due: bool = self.read(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM sessions WHERE expires < ?1)",
                [&now],
                |r| r.get(0),
            )?)
        })?;
        if !due {
            return Ok(0);
        }
        self.write_tx(move |tx| {
            Ok(tx.execute("DELETE FROM sessions WHERE expires < ?1", [now])? as u64)
        })
    }
}

fn read_session(r: &rusqlite::Row<'_>) -> Result<Session, StoreError> {
    let workspace: Option<String> = r.get(2)?;
    Ok(Session {
        id_hash: r.get(0)?,
        principal: r.get(1)?,
        workspace: workspace
            .map(|w| {
                WorkspaceId::parse(&w)
                    .map_err(|_| StoreError::Corrupt(format!("session workspace {w:?}")))
            })
            .transpose()?,
        csrf: r.get(3)?,
        created: parse_ts(&r.get::<_, String>(4)?)?,
        expires: parse_ts(&r.get::<_, String>(5)?)?,
    })
}
