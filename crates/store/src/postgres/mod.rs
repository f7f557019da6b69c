//! The PostgreSQL engine, for installs that outgrow one machine: several tiport nodes on one
//! database, and through Citus on several database servers.
//!
//! Built so far: the connection pool, the numbered migrations and the distribution-ready
//! schema ([`schema`]), and the [`Store`](crate::Store) interface's workspaces, principals,
//! roles, settings and sessions (`store.rs`). The rest comes one part at a time, each proven by
//! the conformance suite; until it is all there the command line refuses `postgres://`.
//!
//! # Calling an asynchronous driver from a synchronous interface
//!
//! The `Store` interface is synchronous (its callers are import workers and blocking tasks),
//! and `tokio-postgres` is asynchronous. The engine owns a small tokio runtime whose threads
//! drive the connections' sockets; a call waits for its query with `futures_executor::block_on`
//! rather than tokio's `block_on`, which panics on a thread that already runs tokio tasks.
//! That works because a `tokio_postgres::Client` only passes messages to its connection's
//! task: awaiting it needs no reactor on the calling thread. (The `postgres` crate, the
//! driver's synchronous wrapper, blocks with tokio's and would panic so.)

mod objects;
pub mod schema;
mod store;

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio_postgres::{Client, Config, NoTls};

use crate::StoreError;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// How the engine uses the database.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// The most connections one node holds open.
    pub max_connections: usize,
    /// How long a call waits for a free connection before it fails.
    pub wait_for_connection: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            wait_for_connection: Duration::from_secs(30),
        }
    }
}

/// A store on a PostgreSQL database.
pub struct PostgresStore {
    pool: Pool,
    /// Workspaces known to exist (a workspace is never deleted): a call on one of them needs
    /// no query to tell that it is not a 404. One another node made is looked up once.
    known: Mutex<std::collections::HashSet<crate::WorkspaceId>>,
    /// Drives the connections; dropped after the pool, whose connections' tasks it runs.
    _runtime: tokio::runtime::Runtime,
}

impl PostgresStore {
    /// Connects to the database `url` names (`postgres://user@host:port/db?…`) and brings its
    /// schema up to this build's.
    pub fn open(url: &str, options: PostgresOptions) -> Result<PostgresStore, StoreError> {
        let config: Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("database address {url:?}: {e}").into()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tiport-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let pool = Pool {
            config,
            runtime: runtime.handle().clone(),
            max: options.max_connections.max(1),
            wait: options.wait_for_connection,
            state: Mutex::new(PoolState::default()),
            freed: Condvar::new(),
        };
        let store = PostgresStore {
            pool,
            known: Mutex::new(Default::default()),
            _runtime: runtime,
        };
        store.with(async |c| schema::migrate(c).await)?;
        Ok(store)
    }

    /// Runs `f` with a connection of the pool, waiting for it.
    pub(crate) fn with<T>(
        &self,
        f: impl AsyncFnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        futures_executor::block_on(f(conn.client()))
    }

    /// `workspace` as the database keys it, or `NotFound` when there is no such workspace.
    pub(crate) fn known_workspace(
        &self,
        workspace: crate::WorkspaceId,
    ) -> Result<uuid::Uuid, StoreError> {
        let id = store::uuid_of(workspace);
        if self.known_set().contains(&workspace) {
            return Ok(id);
        }
        let exists = self.with(async |c| {
            Ok(
                c.query_opt("SELECT 1 FROM workspaces WHERE workspace_id = $1", &[&id])
                    .await?
                    .is_some(),
            )
        })?;
        if !exists {
            return Err(StoreError::NotFound(format!("workspace {workspace}")));
        }
        self.known_set().insert(workspace);
        Ok(id)
    }

    fn known_set(&self) -> MutexGuard<'_, std::collections::HashSet<crate::WorkspaceId>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The schema version of the database (this build's [`schema::VERSION`] once open).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.with(async |c| {
            Ok(c.query_one("SELECT version FROM tiport_schema", &[])
                .await?
                .get(0))
        })
    }
}

/// Open connections, reused: at most `max`, made when none is free, dropped when broken.
struct Pool {
    config: Config,
    runtime: tokio::runtime::Handle,
    max: usize,
    wait: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Client>,
    /// Connections open, idle or in use.
    open: usize,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panic while holding the lock leaves the state as valid as before it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let deadline = std::time::Instant::now() + self.wait;
        let mut state = self.lock();
        loop {
            while let Some(client) = state.idle.pop() {
                if client.is_closed() {
                    state.open -= 1;
                } else {
                    return Ok(Pooled {
                        pool: self,
                        client: Some(client),
                    });
                }
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(client) => Ok(Pooled {
                        pool: self,
                        client: Some(client),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(StoreError::Backend(
                    format!(
                        "no database connection was free within {} s ({} in use)",
                        self.wait.as_secs(),
                        self.max
                    )
                    .into(),
                ));
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A new connection, whose socket a task of the engine's runtime drives.
    fn connect(&self) -> Result<Client, StoreError> {
        let config = self.config.clone();
        let task = self.runtime.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                // It ends when the client is dropped or the server goes; a query on a broken
                // connection fails with the driver's error, and the pool drops it.
                let _ = connection.await;
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        match futures_executor::block_on(task) {
            Ok(result) => Ok(result?),
            Err(e) => Err(StoreError::Backend(Box::new(e))),
        }
    }
}

/// A connection lent by the pool, given back when dropped (or forgotten if broken).
struct Pooled<'p> {
    pool: &'p Pool,
    client: Option<Client>,
}

impl Pooled<'_> {
    fn client(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a lent connection until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut state = self.pool.lock();
        if client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push(client);
        }
        drop(state);
        self.pool.freed.notify_one();
    }
}
