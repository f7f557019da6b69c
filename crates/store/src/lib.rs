//! The store: one [`Store`] interface and its engines, starting with the embedded one,
//! [`sqlite::SqliteStore`]. `tests/suite/` is the conformance suite every engine must pass
//! (`tests/store.rs` runs it once per engine).
//!
//! # Key decision: a blocking interface whose engines own their concurrency
//!
//! [`Store`] is a plain, object-safe trait of blocking calls (`Arc<dyn Store>`). Each engine
//! decides how concurrent callers share it: the SQLite engine decides the uploads that arrive
//! together as one group and makes them durable with one `fdatasync` of its version log
//! (group commit, so a burst of small uploads costs one sync, not one each), applies them to
//! the database in the background, and has a pool of read connections (see
//! [`sqlite`]). The HTTP service calls it from blocking tasks; the CLI calls it directly. A
//! call that writes returns only once what it wrote is durable, and a read through the same
//! handle sees every write that returned before it began.
//!
//! A file import is one transaction from its first object to its final status
//! ([`Store::begin_import`]): the reader pushes batches while the engine writes them on its own
//! thread, so parsing and writing overlap, and a failure, an abort or a crash at any moment
//! leaves nothing of the file behind.
//!
//! # Versioning
//!
//! [`versioning`] holds the rules (newest `modified` is current, older arrivals are history,
//! repeats are no-ops, revocation is final) as one pure function the engines call.
//!
//! # Timestamps
//!
//! Timestamps read back as the instants written. One of whole milliseconds (what
//! [`Timestamp::now`] makes, and most feeds send) reads back equal (`==`) to what was written,
//! precision included; a finer one may come back with more fraction digits. An object's own
//! text is its stored JSON, which is kept as given.
//!
//! # What this crate does not do
//!
//! It does not validate (callers store only what `stix` accepted), parse patterns (callers pass
//! the [`ObservableKey`]s), read input files or delete them (the retention sweep returns the
//! paths to delete), or know about HTTP.

mod error;
pub mod model;
pub mod postgres;
mod rows;
pub mod sqlite;
pub mod versioning;

pub use error::StoreError;
pub use model::*;

use stix::{StixId, Timestamp};

/// Makes the calling thread background work: nice 10 (the lowest priority a thread may set
/// itself without the privilege to undo it) and the idle I/O class. The SQLite engine's
/// applier runs so, and so do the service's file imports (through `tiport-core`): nobody waits
/// for either, and an upload's answer waits for threads that must not compete with them.
pub fn background() {
    #[cfg(target_os = "linux")]
    // SAFETY: system calls about the calling thread itself; no memory is passed. Failures are
    // ignored: this is an optimization.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
        const IOPRIO_WHO_PROCESS: libc::c_long = 1;
        const IOPRIO_CLASS_IDLE: libc::c_long = 3 << 13;
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            libc::c_long::from(tid),
            IOPRIO_CLASS_IDLE,
        );
    }
}

/// The store. See the crate documentation.
pub trait Store: Send + Sync {
    // --- Workspaces ---

    /// Creates a workspace; [`StoreError::Conflict`] if the id is taken.
    fn create_workspace(&self, id: WorkspaceId, name: &str) -> Result<Workspace, StoreError>;
    fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError>;
    fn workspaces(&self) -> Result<Vec<Workspace>, StoreError>;

    // --- Objects ---

    /// Stores `objects` in one transaction, in order, and returns each one's [`Outcome`]; durable
    /// when it returns. [`StoreError::NotFound`] for an unknown workspace.
    fn write(
        &self,
        workspace: WorkspaceId,
        provenance: &Provenance,
        objects: Vec<NewObject>,
    ) -> Result<Vec<Outcome>, StoreError>;

    /// Starts the transaction of import `import` (which must exist; it becomes `running`, owned
    /// by `owner`). Nothing it writes is visible to others until [`ImportWriter::commit`].
    fn begin_import(
        &self,
        import: ImportId,
        owner: &str,
    ) -> Result<Box<dyn ImportWriter>, StoreError>;

    /// The current version of `id`.
    fn current(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
    ) -> Result<Option<StoredObject>, StoreError>;
    /// Calls `each` with every stored version of `id` (modified after `after`, if given),
    /// oldest first, until it returns `false`: an object may have many large versions, and a
    /// caller that streams them holds one at a time, or reads a batch and resumes after it.
    fn scan_versions(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
        after: Option<&Timestamp>,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<(), StoreError>;
    /// Every stored version of `id`, oldest first.
    fn versions(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
    ) -> Result<Vec<StoredObject>, StoreError> {
        let mut out = Vec::new();
        self.scan_versions(workspace, id, None, &mut |o| {
            out.push(o);
            true
        })?;
        Ok(out)
    }
    /// Calls `each` with the current version of every object that passes `filter`, in the
    /// filter's order from past its position, until it returns `false` or the filter's
    /// deadline passes.
    fn scan_current(
        &self,
        workspace: WorkspaceId,
        filter: &ObjectFilter,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<Walked, StoreError>;
    /// How many objects (ids) and versions the workspace holds.
    fn count(&self, workspace: WorkspaceId) -> Result<Counts, StoreError>;
    /// The current objects of `workspace` counted by type, source and TLP (most first), and
    /// the versions stored on each UTC day from `since` on (days without any left out).
    fn breakdown(&self, workspace: WorkspaceId, since: Timestamp) -> Result<Breakdown, StoreError>;
    /// The ids of current indicators one of whose observables is `key` or, for an address, a
    /// block that contains it; sorted, at most `limit`.
    fn find_observable(
        &self,
        workspace: WorkspaceId,
        key: &ObservableKey,
        limit: usize,
    ) -> Result<Vec<StixId>, StoreError>;
    /// Current objects whose name begins with `text` (see [`ObservableKey::name_range`]), in
    /// the order of their name keys and then of `seq`, from past `past` (the key and `seq` of
    /// the previous page's last hit); at most `limit`.
    fn find_names(
        &self,
        workspace: WorkspaceId,
        text: &str,
        past: Option<(&[u8], i64)>,
        limit: usize,
    ) -> Result<Vec<NameHit>, StoreError>;

    // --- Import records ---

    /// Records a new import as `queued`.
    fn create_import(&self, new: &NewImport) -> Result<ImportRecord, StoreError>;
    fn import(
        &self,
        workspace: WorkspaceId,
        id: ImportId,
    ) -> Result<Option<ImportRecord>, StoreError>;
    /// One page of the workspace's imports, sorted by `sort` in `order`, ties broken by
    /// creation time and id in the same order (see [`ImportKey`]).
    fn imports(
        &self,
        workspace: WorkspaceId,
        sort: ImportSort,
        order: Order,
        page: &ImportPage,
    ) -> Result<Vec<ImportRecord>, StoreError>;
    /// Ends an import that never began its transaction (or whose transaction was lost).
    fn finish_import(&self, id: ImportId, finish: &ImportFinish) -> Result<(), StoreError>;
    /// Marks `failed` every `queued` or `running` import whose owner `is_gone` (a crashed
    /// process); returns how many.
    fn fail_abandoned_imports(
        &self,
        is_gone: &dyn Fn(&str) -> bool,
        now: Timestamp,
    ) -> Result<u64, StoreError>;
    /// Applies the retention periods as of `now`.
    fn sweep(&self, now: Timestamp, retention: &Retention) -> Result<Swept, StoreError>;

    // --- Principals and roles ---

    /// Creates a principal; [`StoreError::Conflict`] if the id is taken.
    fn create_principal(&self, principal: &Principal) -> Result<(), StoreError>;
    fn principal(&self, id: &str) -> Result<Option<Principal>, StoreError>;
    /// The principals of `kind`, oldest first.
    fn principals(&self, kind: PrincipalKind) -> Result<Vec<Principal>, StoreError>;
    /// Grants `role` on `workspace`, replacing any role the principal had there.
    fn assign_role(
        &self,
        workspace: WorkspaceId,
        principal: &str,
        role: Role,
    ) -> Result<(), StoreError>;
    fn role(&self, workspace: WorkspaceId, principal: &str) -> Result<Option<Role>, StoreError>;
    /// The workspaces on which `principal` has a role, with the role.
    fn roles_of(&self, principal: &str) -> Result<Vec<(WorkspaceId, Role)>, StoreError>;

    // --- Settings ---

    /// The value of setting `name`, if it was ever set.
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Sets `name` to `value` unless it has a value already, and returns the value it has: of
    /// two nodes generating a setting on first start (a tenant id, a signing key), one wins and
    /// both use its value. Settings are never changed afterwards.
    fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError>;

    /// Records a signed-in web session. Its `id_hash` is new (a random token's hash).
    fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The session whose token hashes to `id_hash`, expired or not: the caller judges expiry
    /// against its own clock.
    fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError>;
    /// Sets the workspace a session works in (`NotFound` without such a session).
    fn set_session_workspace(
        &self,
        id_hash: &str,
        workspace: WorkspaceId,
    ) -> Result<(), StoreError>;
    /// Ends a session (sign-out); whether there was one.
    fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError>;
    /// Deletes the sessions that expired before `now`; how many.
    fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError>;
}

/// The transaction of one file import. Dropping it without [`commit`](Self::commit) rolls
/// back everything it wrote.
pub trait ImportWriter: Send {
    /// Queues objects for writing; returns as soon as the engine has room, so the caller keeps
    /// parsing while they are written.
    fn push(&mut self, objects: Vec<NewObject>) -> Result<(), StoreError>;
    /// Waits until every pushed object is written (still uncommitted) and returns the totals.
    fn flush(&mut self) -> Result<WriteSummary, StoreError>;
    /// Commits the objects and the import's final record together, durably.
    fn commit(self: Box<Self>, finish: &ImportFinish) -> Result<(), StoreError>;
    /// Rolls back every object, then records `finish`.
    fn abort(self: Box<Self>, finish: &ImportFinish) -> Result<(), StoreError>;
}

/// What a workspace holds, counted for its overview ([`Store::breakdown`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breakdown {
    pub by_type: Vec<(String, u64)>,
    pub by_source: Vec<(String, u64)>,
    /// `None`: objects without a TLP marking.
    pub by_tlp: Vec<(Option<String>, u64)>,
    /// Days since 1970-01-01 (UTC), and how many versions were stored that day.
    pub stored_per_day: Vec<(i64, u64)>,
}

/// Object totals of a workspace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub objects: u64,
    pub versions: u64,
}
