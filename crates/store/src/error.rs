/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A workspace, import or principal that does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// An id that is already taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// An import in the wrong state for the call (e.g. beginning one that already ran).
    #[error("{0}")]
    State(String),
    /// The database was written by a newer tiport.
    #[error(
        "the database has schema version {found}, newer than this tiport's {supported}; \
         use the tiport that wrote it or a newer one"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// The engine's writer is gone (it stopped after a fault).
    #[error("the store is closed")]
    Closed,
    /// A stored value the engine cannot read back: a bug or a damaged database.
    #[error("damaged data in the store: {0}")]
    Corrupt(String),
    /// A failure of the database itself (I/O, disk full, a lock held too long).
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}
