//! tiport's use cases, on top of the [`store::Store`] interface: queue and run a file import
//! (and, in a service, the queue of imports posted to it), upload objects, answer queries,
//! export a workspace, check who may do what, and keep the data directory tidy.
//!
//! # Key decision: one import path for every caller
//!
//! The CLI and the HTTP service import a file the same way: [`import::queue`] checks
//! the file and records the import, [`import::run`] reads it, validates every record with the
//! compatible profile, hands the valid ones to the store in batches inside one transaction, and
//! records the end. So an import looks the same in the list of imports however it was started,
//! and the rules about invalid records, modes and error files live in one place.
//!
//! # Errors
//!
//! Every use case's error implements [`error::DomainError`]: it names its kind (not found, bad
//! request, busy, …), and its `Display` is the message a client is shown. Callers map kinds
//! in one place (the HTTP edge's table of statuses).
//!
//! # What this crate does not do
//!
//! It knows no engine (only the `Store` trait), no HTTP server (its only HTTP is a client's,
//! fetching a trusted issuer's JWKS), no terminal: progress is a callback,
//! output a `Write`, an error a kind. It depends on tokio's runtime-free `sync` module only,
//! for waits that must hold no thread.

pub mod auth;
pub mod error;
pub mod export;
pub mod files;
pub mod guard;
pub mod import;
pub mod import_queue;
pub mod intel;
pub mod oidc;
pub mod overview;
pub mod owner;
pub mod priority;
pub mod query;
pub mod record;
pub mod session;
pub mod source;
pub mod templates;
pub mod throttle;
pub mod upload;

use store::{Retention, Store, StoreError, Swept};

/// What [`housekeeping`] did.
#[derive(Debug, Default)]
pub struct Housekeeping {
    pub swept: Swept,
    /// Imports failed because the process running them is gone.
    pub failed_imports: u64,
    /// Web sessions deleted because they expired.
    pub expired_sessions: u64,
    /// An expired file that could not be deleted: the store has forgotten it, but it stays
    /// on disk until someone removes it.
    pub delete_error: Option<std::io::Error>,
}

/// What every command that opens the store does first: imports left `running` or `queued` by
/// a process that died become `failed`, the retention periods are applied (records, then
/// files, which are deleted here), and expired web sessions are deleted.
pub fn housekeeping(
    store: &dyn Store,
    files: &files::ImportFiles,
    retention: &Retention,
) -> Result<Housekeeping, StoreError> {
    let now = stix::Timestamp::now();
    let failed_imports = store.fail_abandoned_imports(&owner::is_gone, now)?;
    let swept = store.sweep(now, retention)?;
    let delete_error = files.delete(&swept.files_expired).err();
    let expired_sessions = store.delete_expired_sessions(now)?;
    Ok(Housekeeping {
        swept,
        failed_imports,
        expired_sessions,
        delete_error,
    })
}
