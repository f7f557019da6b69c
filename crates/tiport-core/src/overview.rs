//! What a workspace holds, counted for the web UI's overview: objects and versions, current
//! objects by type, source and TLP, versions stored per day.
//!
//! # Key decision: count in the background, show the last count
//!
//! Counting scans the workspace's rows (`Store::count`, `Store::breakdown`): about 7 s for a
//! million objects on the embedded store (BENCHMARKS.md, "Web UI"). A page must not wait for
//! that, so [`Counts`] keeps the last count of each workspace and says when it was made; asked
//! for a count older than it may be, it starts a new one on a thread of its own and answers with
//! what it has (nothing, the first time: the page then says it is counting and asks again). A
//! count may be as old as a minute, or ten times as long as the last one took, whichever is
//! more, so that a large workspace is not counted without pause while someone looks at it.
//! Counters kept by the writers would make this exact and instant; they cost every write,
//! and are not built yet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stix::Timestamp;
use store::{Breakdown, Store, WorkspaceId};

/// How many days, today included, the count of stored versions covers.
pub const DAYS: i64 = 30;

/// The youngest a count may be before a page asks for a new one.
const FRESH_FOR: Duration = Duration::from_secs(60);

/// One count of a workspace.
#[derive(Debug, Clone)]
pub struct Counted {
    pub objects: u64,
    pub versions: u64,
    pub breakdown: Breakdown,
    /// The first of the [`DAYS`] days counted (days since 1970-01-01, UTC).
    pub first_day: i64,
    /// When the count was made, and how long it took.
    pub at: Timestamp,
    pub took: Duration,
}

/// Counts `workspace` now (a scan of its rows).
pub fn count(store: &dyn Store, workspace: WorkspaceId) -> Result<Counted, store::StoreError> {
    let started = Instant::now();
    let at = Timestamp::now();
    let first_day = at.unix_seconds().div_euclid(86_400) - (DAYS - 1);
    let counts = store.count(workspace)?;
    let breakdown = store.breakdown(workspace, Timestamp::from_unix(first_day * 86_400, 0))?;
    Ok(Counted {
        objects: counts.objects,
        versions: counts.versions,
        breakdown,
        first_day,
        at,
        took: started.elapsed(),
    })
}

/// A day (days since 1970-01-01, UTC) as `YYYY-MM-DD`.
pub fn day_label(day: i64) -> String {
    let mut text = Timestamp::from_unix(day * 86_400, 0).to_string();
    text.truncate(10);
    text
}

#[derive(Default)]
struct Entry {
    last: Option<Arc<Counted>>,
    /// When the last count was finished (or failed), to judge its age by.
    finished: Option<Instant>,
    counting: bool,
}

/// The last count of each workspace, and the counts under way.
pub struct Counts {
    store: Arc<dyn Store>,
    entries: Mutex<HashMap<WorkspaceId, Entry>>,
}

impl Counts {
    pub fn new(store: Arc<dyn Store>) -> Arc<Counts> {
        Arc::new(Counts {
            store,
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// The last count of `workspace` (`None` before the first one ends), starting a new count
    /// in the background if the last is older than it may be and none is under way.
    pub fn get(self: &Arc<Self>, workspace: WorkspaceId) -> Option<Arc<Counted>> {
        let mut entries = self.entries.lock().expect("overview counts");
        let entry = entries.entry(workspace).or_default();
        let may_be = entry
            .last
            .as_ref()
            .map_or(FRESH_FOR, |c| FRESH_FOR.max(c.took * 10));
        let stale = entry.finished.is_none_or(|at| at.elapsed() >= may_be);
        if stale && !entry.counting {
            entry.counting = true;
            let this = self.clone();
            let started = std::thread::Builder::new()
                .name("overview-count".into())
                .spawn(move || this.count_now(workspace));
            if started.is_err() {
                entry.counting = false;
            }
        }
        entry.last.clone()
    }

    fn count_now(&self, workspace: WorkspaceId) {
        crate::priority::background();
        let counted = count(&*self.store, workspace);
        let mut entries = self.entries.lock().expect("overview counts");
        let entry = entries.entry(workspace).or_default();
        entry.counting = false;
        entry.finished = Some(Instant::now());
        match counted {
            Ok(c) => entry.last = Some(Arc::new(c)),
            Err(e) => tracing::warn!(%workspace, error = %e, "cannot count the workspace"),
        }
    }
}
