//! The store conformance suite, run against every engine. The tests are in `suite/`; each
//! engine is one `store_suite!` line with the factory that opens it.

#[macro_use]
mod suite;

use std::path::Path;
use std::sync::Arc;

use store::sqlite::{SqliteOptions, SqliteStore};
use store::Store;

fn open_sqlite(dir: &Path) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(&dir.join("tiport.db"), SqliteOptions::default())
            .expect("open SQLite store"),
    )
}

store_suite!(sqlite => crate::open_sqlite);
