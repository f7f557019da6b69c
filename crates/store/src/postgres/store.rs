//! The `Store` interface on PostgreSQL: what is built so far. Workspaces, principals, roles,
//! settings, sessions and object versions (`objects.rs`) are real and pass their part of the
//! conformance suite; imports and the housekeeping that goes with them are the next steps of
//! issue 14, and answer [`not_yet`] until then (nothing reaches them: the command line refuses
//! `postgres://`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stix::{StixId, Timestamp};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::PostgresStore;
use crate::model::*;
use crate::{Breakdown, Counts, ImportWriter, Store, StoreError};

/// The answer of the parts of the interface this engine does not have yet.
fn not_yet(what: &str) -> StoreError {
    StoreError::Backend(
        format!("the PostgreSQL engine does not {what} yet (it is being built: issue 14)").into(),
    )
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A timestamp as `timestamptz` holds it (to the microsecond).
fn instant(t: &Timestamp) -> SystemTime {
    let nanos = t.unix_nanos();
    if nanos >= 0 {
        UNIX_EPOCH + Duration::from_nanos(nanos as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(nanos.unsigned_abs())
    }
}

fn timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp::from_unix(d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (secs, nanos) = (d.as_secs() as i64, d.subsec_nanos());
            if nanos == 0 {
                Timestamp::from_unix(-secs, 0)
            } else {
                Timestamp::from_unix(-secs - 1, 1_000_000_000 - nanos)
            }
        }
    }
}

fn workspace_of(id: uuid::Uuid) -> Result<WorkspaceId, StoreError> {
    WorkspaceId::parse(&id.to_string())
        .map_err(|_| StoreError::Corrupt(format!("workspace id {id}")))
}

pub(super) fn uuid_of(ws: WorkspaceId) -> uuid::Uuid {
    uuid::Uuid::parse_str(&ws.to_string()).expect("a workspace id is a UUID")
}

fn read_principal(r: &Row) -> Result<Principal, StoreError> {
    let kind: String = r.try_get(1)?;
    Ok(Principal {
        id: r.try_get(0)?,
        kind: PrincipalKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("principal kind {kind:?}")))?,
        name: r.try_get(2)?,
        secret_hash: r.try_get(3)?,
        created: timestamp(r.try_get(4)?),
    })
}

fn read_role(role: &str) -> Result<Role, StoreError> {
    Role::parse(role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))
}

fn read_session(r: &Row) -> Result<Session, StoreError> {
    let workspace: Option<uuid::Uuid> = r.try_get(2)?;
    Ok(Session {
        id_hash: r.try_get(0)?,
        principal: r.try_get(1)?,
        workspace: workspace.map(workspace_of).transpose()?,
        csrf: r.try_get(3)?,
        created: timestamp(r.try_get(4)?),
        expires: timestamp(r.try_get(5)?),
    })
}

impl Store for PostgresStore {
    fn create_workspace(&self, id: WorkspaceId, name: &str) -> Result<Workspace, StoreError> {
        let ws = Workspace {
            id,
            name: name.to_owned(),
            created: Timestamp::now(),
        };
        let inserted = self.with(async |c| {
            Ok(c.execute(
                "INSERT INTO workspaces (workspace_id, name, created) VALUES ($1, $2, $3)",
                &[&uuid_of(id), &ws.name, &instant(&ws.created)],
            )
            .await)
        })?;
        match inserted {
            Ok(_) => Ok(ws),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict(format!("workspace {id}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        let row = self.with(async |c| {
            Ok(c.query_opt(
                "SELECT name, created FROM workspaces WHERE workspace_id = $1",
                &[&uuid_of(id)],
            )
            .await?)
        })?;
        row.map(|r| {
            Ok(Workspace {
                id,
                name: r.try_get(0)?,
                created: timestamp(r.try_get(1)?),
            })
        })
        .transpose()
    }

    fn workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        let rows = self.with(async |c| {
            Ok(c.query(
                "SELECT workspace_id, name, created FROM workspaces ORDER BY created, workspace_id",
                &[],
            )
            .await?)
        })?;
        rows.iter()
            .map(|r| {
                Ok(Workspace {
                    id: workspace_of(r.try_get(0)?)?,
                    name: r.try_get(1)?,
                    created: timestamp(r.try_get(2)?),
                })
            })
            .collect()
    }

    fn write(
        &self,
        workspace: WorkspaceId,
        provenance: &Provenance,
        objects: Vec<NewObject>,
    ) -> Result<Vec<Outcome>, StoreError> {
        self.write_objects(workspace, provenance, objects)
    }

    fn begin_import(
        &self,
        _import: ImportId,
        _owner: &str,
    ) -> Result<Box<dyn ImportWriter>, StoreError> {
        Err(not_yet("run imports"))
    }

    fn current(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
    ) -> Result<Option<StoredObject>, StoreError> {
        self.current_object(workspace, id)
    }

    fn scan_versions(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
        after: Option<&Timestamp>,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<(), StoreError> {
        self.scan_object_versions(workspace, id, after, each)
    }

    fn versions(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
    ) -> Result<Vec<StoredObject>, StoreError> {
        let mut all = Vec::new();
        self.scan_object_versions(workspace, id, None, &mut |o| {
            all.push(o);
            true
        })?;
        Ok(all)
    }

    fn scan_current(
        &self,
        workspace: WorkspaceId,
        filter: &ObjectFilter,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<Walked, StoreError> {
        self.scan_current_objects(workspace, filter, each)
    }

    fn count(&self, workspace: WorkspaceId) -> Result<Counts, StoreError> {
        self.count_objects(workspace)
    }

    fn breakdown(&self, workspace: WorkspaceId, since: Timestamp) -> Result<Breakdown, StoreError> {
        self.object_breakdown(workspace, since)
    }

    fn find_observable(
        &self,
        workspace: WorkspaceId,
        key: &ObservableKey,
        limit: usize,
    ) -> Result<Vec<StixId>, StoreError> {
        self.find_observable_ids(workspace, key, limit)
    }

    fn find_names(
        &self,
        workspace: WorkspaceId,
        text: &str,
        past: Option<(&[u8], i64)>,
        limit: usize,
    ) -> Result<Vec<NameHit>, StoreError> {
        self.find_name_hits(workspace, text, past, limit)
    }

    fn create_import(&self, _new: &NewImport) -> Result<ImportRecord, StoreError> {
        Err(not_yet("run imports"))
    }

    fn import(
        &self,
        _workspace: WorkspaceId,
        _id: ImportId,
    ) -> Result<Option<ImportRecord>, StoreError> {
        Err(not_yet("run imports"))
    }

    fn imports(
        &self,
        _workspace: WorkspaceId,
        _sort: ImportSort,
        _order: Order,
        _page: &ImportPage,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        Err(not_yet("run imports"))
    }

    fn finish_import(&self, _id: ImportId, _finish: &ImportFinish) -> Result<(), StoreError> {
        Err(not_yet("run imports"))
    }

    fn fail_abandoned_imports(
        &self,
        _is_gone: &dyn Fn(&str) -> bool,
        _now: Timestamp,
    ) -> Result<u64, StoreError> {
        Err(not_yet("run imports"))
    }

    fn sweep(&self, _now: Timestamp, _retention: &Retention) -> Result<Swept, StoreError> {
        Err(not_yet("sweep imports"))
    }

    fn create_principal(&self, p: &Principal) -> Result<(), StoreError> {
        let inserted = self.with(async |c| {
            Ok(c.execute(
                "INSERT INTO principals (principal_id, kind, name, secret_hash, created)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &p.id,
                    &p.kind.as_str(),
                    &p.name,
                    &p.secret_hash,
                    &instant(&p.created),
                ],
            )
            .await)
        })?;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict(format!("principal {}", p.id)))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn principal(&self, id: &str) -> Result<Option<Principal>, StoreError> {
        let row = self.with(async |c| {
            Ok(c.query_opt(
                "SELECT principal_id, kind, name, secret_hash, created FROM principals
                 WHERE principal_id = $1",
                &[&id],
            )
            .await?)
        })?;
        row.as_ref().map(read_principal).transpose()
    }

    fn principals(&self, kind: PrincipalKind) -> Result<Vec<Principal>, StoreError> {
        let rows = self.with(async |c| {
            Ok(c.query(
                "SELECT principal_id, kind, name, secret_hash, created FROM principals
                 WHERE kind = $1 ORDER BY created, principal_id",
                &[&kind.as_str()],
            )
            .await?)
        })?;
        rows.iter().map(read_principal).collect()
    }

    fn assign_role(
        &self,
        workspace: WorkspaceId,
        principal: &str,
        role: Role,
    ) -> Result<(), StoreError> {
        if self.workspace(workspace)?.is_none() {
            return Err(StoreError::NotFound(format!("workspace {workspace}")));
        }
        if self.principal(principal)?.is_none() {
            return Err(StoreError::NotFound(format!("principal {principal}")));
        }
        self.with(async |c| {
            c.execute(
                "INSERT INTO roles (workspace_id, principal_id, role) VALUES ($1, $2, $3)
                 ON CONFLICT (workspace_id, principal_id) DO UPDATE SET role = excluded.role",
                &[&uuid_of(workspace), &principal, &role.as_str()],
            )
            .await?;
            Ok(())
        })
    }

    fn role(&self, workspace: WorkspaceId, principal: &str) -> Result<Option<Role>, StoreError> {
        let role: Option<String> = self.with(async |c| {
            Ok(c.query_opt(
                "SELECT role FROM roles WHERE workspace_id = $1 AND principal_id = $2",
                &[&uuid_of(workspace), &principal],
            )
            .await?
            .map(|r| r.get(0)))
        })?;
        role.as_deref().map(read_role).transpose()
    }

    fn roles_of(&self, principal: &str) -> Result<Vec<(WorkspaceId, Role)>, StoreError> {
        // Every workspace's shard is asked (the principal is not the distribution column);
        // a principal's workspaces are few, and this is asked at sign-in.
        let rows = self.with(async |c| {
            Ok(c.query(
                "SELECT r.workspace_id, r.role FROM roles r
                 JOIN workspaces w ON w.workspace_id = r.workspace_id
                 WHERE r.principal_id = $1 ORDER BY w.created, w.workspace_id",
                &[&principal],
            )
            .await?)
        })?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get(1)?;
                Ok((workspace_of(r.try_get(0)?)?, read_role(&role)?))
            })
            .collect()
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.with(async |c| {
            Ok(
                c.query_opt("SELECT value FROM settings WHERE name = $1", &[&name])
                    .await?
                    .map(|r| r.get(0)),
            )
        })
    }

    fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        // The first value written wins, whichever node writes it.
        self.with(async |c| {
            c.execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &value],
            )
            .await?;
            Ok(
                c.query_one("SELECT value FROM settings WHERE name = $1", &[&name])
                    .await?
                    .get(0),
            )
        })
    }

    fn create_session(&self, s: &Session) -> Result<(), StoreError> {
        self.with(async |c| {
            c.execute(
                "INSERT INTO sessions (id_hash, principal_id, workspace_id, csrf, created, expires)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &s.id_hash,
                    &s.principal,
                    &s.workspace.map(uuid_of),
                    &s.csrf,
                    &instant(&s.created),
                    &instant(&s.expires),
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        let row = self.with(async |c| {
            Ok(c.query_opt(
                "SELECT id_hash, principal_id, workspace_id, csrf, created, expires FROM sessions
                 WHERE id_hash = $1",
                &[&id_hash],
            )
            .await?)
        })?;
        row.as_ref().map(read_session).transpose()
    }

    fn set_session_workspace(
        &self,
        id_hash: &str,
        workspace: WorkspaceId,
    ) -> Result<(), StoreError> {
        let n = self.with(async |c| {
            Ok(c.execute(
                "UPDATE sessions SET workspace_id = $2 WHERE id_hash = $1",
                &[&id_hash, &uuid_of(workspace)],
            )
            .await?)
        })?;
        if n == 0 {
            return Err(StoreError::NotFound("session".into()));
        }
        Ok(())
    }

    fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        self.with(async |c| {
            Ok(
                c.execute("DELETE FROM sessions WHERE id_hash = $1", &[&id_hash])
                    .await?
                    > 0,
            )
        })
    }

    fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.with(async |c| {
            Ok(
                c.execute("DELETE FROM sessions WHERE expires < $1", &[&instant(&now)])
                    .await?,
            )
        })
    }
}
