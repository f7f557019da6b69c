//! A file import's transaction: one SQLite transaction from the first object to the import's
//! final record, run on the applier (which owns the write connection) and fed batch by batch
//! by the importing thread through [`SqliteImport`].
//!
//! Invariants kept:
//! - all or nothing: the objects and the final record commit together, and an abort, a fault,
//!   a dropped writer or a crash leaves nothing of the file (the record then says why it
//!   failed, in a transaction of its own);
//! - the import's JSON goes into extents of the version log (`log.rs`), made durable before
//!   the transaction commits; an import that does not commit gives its extents back when
//!   nothing was reserved after them;
//! - an import that has ended keeps how it ended: a late end is a conflict, not an overwrite;
//! - a store that stopped taking writes (broken) commits no import either.
//!
//! Relied on: the decider counted the import on the log's lease and holds back its
//! workspace's uploads until it ends (`pipeline/decider.rs`); the applier gives both back
//! however it ends (`pipeline/applier.rs`). Why extents interleaved with upload frames are
//! safe across a crash: ARCHITECTURE.md, `crates/store`, "Durability of the embedded store".

use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use stix::Timestamp;

use super::log::{LogWriter, Space};
use super::objects::{origin_id, ts, ObjectWriter};
use super::pipeline::{Reply, Shared};
use crate::model::*;
use crate::{ImportWriter, StoreError};

/// Messages from the importing thread to the import's transaction.
pub enum ImportMsg {
    Push(Vec<NewObject>),
    Flush(Reply<WriteSummary>),
    Commit(ImportFinish, Reply<()>),
    Abort(ImportFinish, Reply<()>),
}

/// How the importing side ended the transaction: commit (`true`) or abort, with the record to
/// write and where to answer. `None` when the importing side went away without a word.
type End = Option<(bool, ImportFinish, Reply<()>)>;

/// Runs import `import` on the write connection: marks it running (answering `reply`), then
/// writes what the importing side pushes until it commits, aborts or goes away.
pub fn run_import(
    conn: &mut Connection,
    log: &mut LogWriter,
    shared: &Shared,
    import: ImportId,
    owner: &str,
    rx: Receiver<ImportMsg>,
    reply: Reply<()>,
) {
    // Marked running in its own transaction, so that others see it while it runs.
    let (ws, source) = match mark_running(conn, import, owner) {
        Ok(v) => {
            let _ = reply.send(Ok(()));
            v
        }
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let provenance = Provenance {
        source,
        origin: Origin::Import(import),
    };
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Answer every message with the error until the caller gives up.
        let msg = e.to_string();
        fail_messages(&rx, &msg);
        let _ = mark_failed(conn, import, &format!("the import could not start: {msg}"));
        return;
    }
    // From here until COMMIT or ROLLBACK, `conn` is inside the import's transaction.
    let (end, mut fault) = write_objects(conn, log, &shared.lease, ws, &provenance, &rx);
    // A store that stopped taking writes (the log could not be written) commits no import
    // either: what the log holds is uncertain until it is opened again.
    if let (Some(e), None) = (shared.broken(), &fault) {
        fault = Some(e.to_string());
    }
    end_transaction(conn, log, &shared.lease, import, end, fault);
}

/// Checks that import `import` is queued and marks it running, owned by `owner`; answers its
/// workspace and source.
fn mark_running(
    conn: &mut Connection,
    import: ImportId,
    owner: &str,
) -> Result<(i64, String), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let row: Option<(i64, String, String)> = tx
        .query_row(
            "SELECT ws, source, status FROM imports WHERE id = ?1",
            [import.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((ws, source, status)) = row else {
        return Err(StoreError::NotFound(format!("import {import}")));
    };
    if status != ImportStatus::Queued.as_str() {
        return Err(StoreError::State(format!(
            "import {import} is {status}, not queued"
        )));
    }
    tx.execute(
        "UPDATE imports SET status = 'running', started = ?2, owner = ?3 WHERE id = ?1",
        params![import.to_string(), ts(&Timestamp::now()), owner],
    )?;
    tx.commit()?;
    Ok((ws, source))
}

/// Writes the objects pushed, inside the open transaction, until the importing side ends it;
/// answers how it ended and the first fault, after which pushed objects are dropped.
fn write_objects(
    conn: &Connection,
    log: &mut LogWriter,
    space: &dyn Space,
    ws: i64,
    provenance: &Provenance,
    rx: &Receiver<ImportMsg>,
) -> (End, Option<String>) {
    let mut summary = WriteSummary::default();
    let mut fault: Option<String> = None;
    let mut origin = 0;
    let mut w = match log.begin(conn).and_then(|()| {
        origin = origin_id(conn, &provenance.origin)?;
        let mut w = ObjectWriter::new(conn, &mut *log, space)?;
        w.check_fresh(conn, ws)?;
        w.begin_bulk();
        Ok(w)
    }) {
        Ok(w) => Some(w),
        Err(e) => {
            fault = Some(e.to_string());
            None
        }
    };
    let end = loop {
        match rx.recv() {
            Ok(ImportMsg::Push(objects)) => {
                let (Some(w), None) = (w.as_mut(), &fault) else {
                    continue;
                };
                for o in objects {
                    let record = o.record;
                    match w.apply(ws, provenance, origin, o) {
                        Ok(outcome) => summary.add(record, &outcome),
                        Err(e) => {
                            fault = Some(e.to_string());
                            break;
                        }
                    }
                }
            }
            Ok(ImportMsg::Flush(reply)) => {
                let _ = reply.send(match &fault {
                    None => Ok(summary.clone()),
                    Some(m) => Err(StoreError::Backend(m.clone().into())),
                });
            }
            Ok(ImportMsg::Commit(finish, reply)) => {
                if let (Some(w), None) = (w.as_mut(), &fault) {
                    if let Err(e) = w.finish_bulk() {
                        fault = Some(e.to_string());
                    }
                }
                break Some((true, finish, reply));
            }
            Ok(ImportMsg::Abort(finish, reply)) => break Some((false, finish, reply)),
            Err(_) => break None,
        }
    };
    (end, fault)
}

/// Commits the transaction if the importing side asked to and nothing failed; otherwise rolls
/// it back (its log extents with it) and records the import's end in a transaction of its own.
fn end_transaction(
    conn: &mut Connection,
    log: &mut LogWriter,
    space: &dyn Space,
    import: ImportId,
    end: End,
    fault: Option<String>,
) {
    match end {
        Some((true, finish, reply)) if fault.is_none() => {
            let result = (|| {
                log.commit(space, conn)?;
                write_finish(conn, import, &finish)?;
                conn.execute_batch("COMMIT")?;
                Ok(())
            })();
            if let Err(e) = &result {
                log.discard(space);
                let _ = conn.execute_batch("ROLLBACK");
                let _ = mark_failed(conn, import, &format!("the import could not commit: {e}"));
            }
            let _ = reply.send(result);
        }
        Some((commit, mut finish, reply)) => {
            log.discard(space);
            let _ = conn.execute_batch("ROLLBACK");
            if commit {
                // A fault while writing: nothing of the file stays, and the record says why.
                finish.status = ImportStatus::Failed;
                finish.imported = 0;
                finish.message = fault.clone().map(|m| format!("database error: {m}"));
            }
            let result = write_finish_tx(conn, import, &finish);
            let _ = reply.send(match (&fault, result) {
                (Some(m), _) if commit => Err(StoreError::Backend(m.clone().into())),
                (_, r) => r,
            });
        }
        None => {
            log.discard(space);
            let _ = conn.execute_batch("ROLLBACK");
            let _ = mark_failed(
                conn,
                import,
                "the import stopped before it finished; nothing of the file was stored",
            );
        }
    }
}

fn fail_messages(rx: &Receiver<ImportMsg>, msg: &str) {
    while let Ok(m) = rx.recv() {
        let err = || StoreError::Backend(msg.to_owned().into());
        match m {
            ImportMsg::Push(_) => {}
            ImportMsg::Flush(r) => {
                let _ = r.send(Err(err()));
            }
            ImportMsg::Commit(_, r) | ImportMsg::Abort(_, r) => {
                let _ = r.send(Err(err()));
                return;
            }
        }
    }
}

fn mark_failed(conn: &mut Connection, import: ImportId, message: &str) -> Result<(), StoreError> {
    write_finish_tx(
        conn,
        import,
        &ImportFinish::failed(message, Timestamp::now()),
    )
}

fn write_finish_tx(
    conn: &mut Connection,
    import: ImportId,
    finish: &ImportFinish,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    write_finish(&tx, import, finish)?;
    tx.commit()?;
    Ok(())
}

/// Records how import `import` ended, if it has not ended yet.
pub fn write_finish(
    conn: &Connection,
    import: ImportId,
    f: &ImportFinish,
) -> Result<(), StoreError> {
    let n = conn.execute(
        "UPDATE imports SET status = ?2, total = ?3, imported = ?4, invalid = ?5, unchanged = ?6,
           upgraded = ?7, message = ?8, error_path = ?9, finished = ?10, owner = NULL
         WHERE id = ?1 AND status IN ('queued', 'running')",
        params![
            import.to_string(),
            f.status.as_str(),
            f.total,
            f.imported,
            f.invalid,
            f.unchanged,
            f.upgraded,
            f.message,
            f.error_path.as_deref().map(path_text),
            ts(&f.finished),
        ],
    )?;
    if n == 0 {
        // An import that has ended keeps how it ended: a late "failed" (from a fault after
        // the end) must not overwrite a success.
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM imports WHERE id = ?1)",
            [import.to_string()],
            |r| r.get(0),
        )?;
        return Err(if exists {
            StoreError::Conflict(format!("import {import} has already ended"))
        } else {
            StoreError::NotFound(format!("import {import}"))
        });
    }
    Ok(())
}

/// A path as stored in the import records.
pub fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The import side of `SqliteStore::begin_import`.
pub struct SqliteImport {
    pub tx: SyncSender<ImportMsg>,
}

impl SqliteImport {
    fn ask<T>(&self, msg: impl FnOnce(Reply<T>) -> ImportMsg) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.tx.send(msg(reply)).map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }
}

impl ImportWriter for SqliteImport {
    fn push(&mut self, objects: Vec<NewObject>) -> Result<(), StoreError> {
        self.tx
            .send(ImportMsg::Push(objects))
            .map_err(|_| StoreError::Closed)
    }

    fn flush(&mut self) -> Result<WriteSummary, StoreError> {
        self.ask(ImportMsg::Flush)
    }

    fn commit(self: Box<Self>, finish: &ImportFinish) -> Result<(), StoreError> {
        let finish = finish.clone();
        self.ask(|r| ImportMsg::Commit(finish, r))
    }

    fn abort(self: Box<Self>, finish: &ImportFinish) -> Result<(), StoreError> {
        let finish = finish.clone();
        self.ask(|r| ImportMsg::Abort(finish, r))
    }
}
