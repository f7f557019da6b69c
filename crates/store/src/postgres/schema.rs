//! The PostgreSQL schema, as numbered migrations, and the rule that keeps it ready to be
//! distributed by workspace on Citus.
//!
//! Every table but the few global ones ([`REFERENCE_TABLES`]) has `workspace_id` as the first
//! column of its primary key, and every query of such a table names the workspace: so each
//! can be `create_distributed_table(…, 'workspace_id')`, all co-located, and a workspace's
//! queries go to one node. The global tables are small and read far more than written
//! (`create_reference_table`). A test reads `information_schema` and fails when a table breaks
//! the rule.
//!
//! The schema's version is kept in `tiport_schema`; migrations run in one transaction under an
//! advisory lock, so several nodes starting at once on an empty database apply each exactly
//! once, and a node never sees a half-migrated schema.

use tokio_postgres::Client;

use crate::StoreError;

/// The tables that are global, not a workspace's: who may sign in (principals and their
/// sessions), the service's settings, and the schema's own version.
pub const REFERENCE_TABLES: &[&str] = &["principals", "sessions", "settings", "tiport_schema"];

/// Every migration, in order. Never edit one that has shipped in a release; add the next.
const MIGRATIONS: &[&str] = &[
    // 1: workspaces, object versions and their index, imports and their files, roles; the
    // global principals, sessions and settings.
    r#"
    CREATE TABLE workspaces (
        workspace_id uuid PRIMARY KEY,
        name         text NOT NULL,
        created      timestamptz NOT NULL
    );

    -- One row per stored version. Timestamps of objects are integer microseconds since the
    -- epoch, `modified_ns` the nanoseconds below the microsecond, as in the embedded engine,
    -- so (modified, modified_ns) names a version exactly. `json` is text, not jsonb: a
    -- version is answered as it was stored, its members in their order.
    -- Ids compare byte by byte (COLLATE "C"), whatever the database's collation: ranges of
    -- ids (a type's are those between `<type>--` and `<type>-.`) and keyset pages depend on it,
    -- and a language's collation ignores hyphens.
    CREATE SEQUENCE objects_seq;
    CREATE TABLE objects (
        workspace_id uuid NOT NULL,
        stix_id      text COLLATE "C" NOT NULL,
        modified     bigint NOT NULL,
        modified_ns  integer NOT NULL,
        seq          bigint NOT NULL DEFAULT nextval('objects_seq'),
        type         text NOT NULL,
        spec_version text NOT NULL,
        created      bigint NOT NULL,
        revoked      boolean NOT NULL,
        valid_from   bigint,
        valid_until  bigint,
        confidence   smallint,
        tlp          text,
        labels       text[],
        source       text NOT NULL,
        origin       text NOT NULL,
        stored       bigint NOT NULL,
        is_current   boolean NOT NULL,
        content_hash bytea,
        observables  bytea,
        json         text NOT NULL,
        PRIMARY KEY (workspace_id, stix_id, modified, modified_ns)
    );
    -- Current objects in the order of storing (lists newest first).
    CREATE INDEX objects_current_by_seq ON objects (workspace_id, seq) WHERE is_current;

    -- The index keys of current versions (see ObservableKey::encode), each naming its version
    -- by `seq` and its object by id, so that a lookup needs no second index on `objects`.
    CREATE TABLE observables (
        workspace_id uuid NOT NULL,
        key          bytea NOT NULL,
        seq          bigint NOT NULL,
        stix_id      text COLLATE "C" NOT NULL,
        PRIMARY KEY (workspace_id, key, seq)
    );

    CREATE TABLE imports (
        workspace_id uuid NOT NULL,
        import_id    uuid NOT NULL,
        source       text NOT NULL,
        file_name    text NOT NULL,
        format       text NOT NULL,
        mode         text NOT NULL,
        status       text NOT NULL,
        total        bigint NOT NULL DEFAULT 0,
        imported     bigint NOT NULL DEFAULT 0,
        invalid      bigint NOT NULL DEFAULT 0,
        unchanged    bigint NOT NULL DEFAULT 0,
        upgraded     bigint NOT NULL DEFAULT 0,
        message      text,
        created      timestamptz NOT NULL,
        started      timestamptz,
        finished     timestamptz,
        owner        text,
        -- Until when the node running it holds it; past that, another node reclaims it.
        lease_until  timestamptz,
        PRIMARY KEY (workspace_id, import_id)
    );
    CREATE INDEX imports_by_created ON imports (workspace_id, created);
    CREATE INDEX imports_open ON imports (status) WHERE status IN ('queued', 'running');

    -- An import's file and its error file, in chunks: any node can run any import and answer
    -- for any error file, with no directory shared between nodes.
    CREATE TABLE import_chunks (
        workspace_id uuid NOT NULL,
        import_id    uuid NOT NULL,
        kind         text NOT NULL CHECK (kind IN ('file', 'errors')),
        chunk        integer NOT NULL,
        bytes        bytea NOT NULL,
        PRIMARY KEY (workspace_id, import_id, kind, chunk)
    );

    CREATE TABLE principals (
        principal_id text PRIMARY KEY,
        kind         text NOT NULL,
        name         text NOT NULL,
        secret_hash  text,
        created      timestamptz NOT NULL
    );

    CREATE TABLE roles (
        workspace_id uuid NOT NULL,
        principal_id text NOT NULL,
        role         text NOT NULL,
        PRIMARY KEY (workspace_id, principal_id)
    );

    CREATE TABLE settings (
        name  text PRIMARY KEY,
        value text NOT NULL
    );

    -- Web sessions, by the hash of each cookie's token (never the token).
    CREATE TABLE sessions (
        id_hash      text PRIMARY KEY,
        principal_id text NOT NULL,
        workspace_id uuid,
        csrf         text NOT NULL,
        created      timestamptz NOT NULL,
        expires      timestamptz NOT NULL
    );
    CREATE INDEX sessions_by_expiry ON sessions (expires);
    "#,
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock migrations hold (any number that no other user of the database takes;
/// these are the bytes of "tiport" and a 1).
const MIGRATION_LOCK: i64 = 0x7469_706f_7274_0001;

/// Brings the database up to [`VERSION`]: each missing migration in one transaction, under
/// [`MIGRATION_LOCK`]. A database of a newer schema is refused.
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS tiport_schema (
             one     integer PRIMARY KEY CHECK (one = 1),
             version bigint NOT NULL
         );
         INSERT INTO tiport_schema VALUES (1, 0) ON CONFLICT (one) DO NOTHING",
    )
    .await?;
    let found: i64 = tx
        .query_one("SELECT version FROM tiport_schema", &[])
        .await?
        .get(0);
    if found > VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: VERSION,
        });
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(migration).await?;
        tx.execute("UPDATE tiport_schema SET version = $1", &[&(i as i64 + 1)])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
