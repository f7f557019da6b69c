//! The store conformance suite.
//!
//! Every test is a function taking a [`Factory`] and using the store only through the
//! [`Store`] trait, so that every engine runs the same tests unchanged: `store_suite!(name =>
//! factory)` (in `tests/store.rs`) instantiates all of them for one engine. Nothing here may
//! depend on how an engine stores things; a test that needs an engine-specific fact does not
//! belong here.
//!
//! The suite holds engines to the contract of the `store` crate documentation, including its
//! reading of timestamps (whole milliseconds read back `==`), and to DESIGN.md "Semantics".
//! Calls that may wait for another caller (a second claim of a running import, retention and
//! abandonment while an import runs) are made from other threads, so that an engine which
//! serializes writers (SQLite) and one which does not (PostgreSQL) both pass.

pub mod imports;
pub mod objects;
pub mod observables;
pub mod principals;
pub mod properties;
pub mod sessions;
pub mod versioning;
pub mod workspaces;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stix::{StixId, Timestamp};
use store::*;

/// Opens the engine's store in `dir`, an empty directory that outlives the store. Opening the
/// same `dir` again must give a second handle on the same data, as a second process (or node)
/// would have; each new `dir` must give an empty store.
pub type Factory = fn(&Path) -> Arc<dyn Store>;

/// Instantiates every test of the suite for one engine: `store_suite!(sqlite => crate::open)`
/// makes `mod sqlite { #[test] fn …() }`.
macro_rules! store_suite {
    ($engine:ident => $factory:expr) => {
        mod $engine {
            store_suite!(@tests $factory;
                workspaces::workspace_create_get_list,
                workspaces::workspace_duplicate_id_conflicts,
                workspaces::workspace_unknown_is_not_found,
                workspaces::workspace_isolation,
                versioning::versioning_newest_modified_is_current,
                versioning::versioning_same_version_again_is_unchanged,
                versioning::versioning_same_instant_other_precision_is_unchanged,
                versioning::versioning_revoked_is_final,
                versioning::versioning_older_revoked_after_newer_unrevoked_is_rejected,
                versioning::versioning_unrevoked_between_revoked_versions_is_rejected,
                versioning::versioning_rejection_does_not_stop_the_batch,
                versioning::versioning_derived_same_content_is_unchanged,
                versioning::versioning_derived_change_keeps_first_created,
                versioning::versioning_scan_resumes_after_a_version,
                properties::property_consistent_versions_any_order_same_state,
                properties::property_arbitrary_versions_keep_invariants,
                properties::property_concurrent_writers_match_sequential,
                imports::import_lifecycle_commit,
                imports::import_abort_leaves_nothing,
                imports::import_dropped_writer_fails_import,
                imports::import_begin_requires_queued,
                imports::import_second_claim_of_running_import_fails,
                imports::import_uncommitted_objects_are_invisible,
                imports::import_duplicate_id_conflicts,
                imports::import_fail_abandoned,
                imports::import_ended_is_final,
                imports::import_list_sorting,
                imports::import_list_pages,
                imports::import_sweep_retention,
                observables::observable_text_exact_and_case_blind,
                observables::observable_address_in_blocks,
                observables::observable_follows_current_version,
                observables::observable_workspace_isolation,
                observables::observable_names_by_prefix,
                principals::principal_create_get_conflict,
                principals::settings_first_value_wins,
                principals::roles_of_lists_a_principals_workspaces,
                principals::principal_roles,
                sessions::session_create_read_switch_end,
                sessions::session_expired_are_deleted,
                objects::object_fields_round_trip,
                objects::object_scan_current_filters,
                objects::object_scan_current_label_revoked_validity_and_pages,
                objects::object_scan_current_orders,
                objects::object_scan_current_deadline,
                objects::object_count,
                objects::object_breakdown,
                objects::object_failing_write_fails_alone,
            );
        }
    };
    (@tests $factory:expr; $($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::suite::$module::$test($factory)
            }
        )*
    };
}

/// A test's store, in a temporary directory, with one workspace made for it.
pub struct Env {
    pub store: Arc<dyn Store>,
    pub ws: WorkspaceId,
    factory: Factory,
    /// Declared last so that it is removed after the store is dropped.
    dir: tempfile::TempDir,
}

impl Env {
    pub fn new(factory: Factory) -> Env {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = factory(dir.path());
        let ws = WorkspaceId::random();
        store
            .create_workspace(ws, "test")
            .expect("create workspace");
        Env {
            store,
            ws,
            factory,
            dir,
        }
    }

    /// A second handle on the same store.
    pub fn reopen(&self) -> Arc<dyn Store> {
        (self.factory)(self.dir.path())
    }

    /// Object `id` in the env's workspace.
    pub fn subject(&self, id: &str) -> Subject<'_> {
        Subject::new(&*self.store, self.ws, id)
    }

    /// Another workspace in the same store.
    pub fn workspace(&self, name: &str) -> WorkspaceId {
        let ws = WorkspaceId::random();
        self.store
            .create_workspace(ws, name)
            .expect("create workspace");
        ws
    }
}

pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or_else(|e| panic!("timestamp {s:?}: {e}"))
}

/// 2020-01-01T00:00:00.000Z plus `secs` seconds, with millisecond precision.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(1_577_836_800 + secs, 0)
}

pub fn sid(s: &str) -> StixId {
    StixId::parse(s).unwrap_or_else(|e| panic!("id {s:?}: {e}"))
}

/// The `n`th indicator id of the tests.
pub fn indicator(n: u32) -> String {
    format!("indicator--00000000-0000-4000-8000-{n:012}")
}

/// The `created` of objects the tests make: before every `modified` they use.
pub fn created() -> Timestamp {
    ts("2019-06-01T12:00:00.000Z")
}

/// Compact JSON for a test object; `tag` tells versions (and stores) apart.
pub fn json_of(
    id: &str,
    created: &Timestamp,
    modified: &Timestamp,
    revoked: bool,
    tag: &str,
) -> String {
    let ty = id.split("--").next().expect("type");
    format!(
        r#"{{"type":"{ty}","spec_version":"2.1","id":"{id}","created":"{created}","modified":"{modified}","name":"{tag}","revoked":{revoked}}}"#
    )
}

/// A version of `id` to store, with only the fields the rules look at set.
pub fn obj(id: &str, modified: Timestamp, revoked: bool, tag: &str) -> NewObject {
    let created = created();
    let json = json_of(id, &created, &modified, revoked, tag);
    NewObject {
        revoked,
        ..NewObject::new(sid(id), created, modified, json)
    }
}

/// A derived object (a CSV row) whose content has fingerprint `[hash; 32]`; like tiport's own,
/// its `created` is the time it was derived unless given.
pub fn derived(
    id: &str,
    created: Timestamp,
    modified: Timestamp,
    hash: u8,
    tag: &str,
) -> NewObject {
    let mut o = obj(id, modified, false, tag);
    o.created = created;
    o.json = json_of(id, &created, &modified, false, tag);
    let start = o.json.find(r#""created":"#).expect("created member") + r#""created":"#.len();
    let end = start + o.json[start + 1..].find('"').expect("closing quote") + 2;
    assert_eq!(
        &o.json[start..end],
        format!("\"{created}\""),
        "created_at must hold the quoted created"
    );
    o.derived = Some(Derived {
        content_hash: [hash; 32],
        created_at: start..end,
    });
    o
}

/// The provenance of an upload request.
pub fn req(id: &str) -> Provenance {
    Provenance {
        source: "test-feed".into(),
        origin: Origin::Request(id.into()),
    }
}

pub fn write(store: &dyn Store, ws: WorkspaceId, objects: Vec<NewObject>) -> Vec<Outcome> {
    let n = objects.len();
    let out = store.write(ws, &req("req-1"), objects).expect("write");
    assert_eq!(out.len(), n, "one outcome per object");
    out
}

/// Writes `o` alone and returns what became of it.
pub fn write_one(store: &dyn Store, ws: WorkspaceId, o: NewObject) -> Outcome {
    write(store, ws, vec![o]).remove(0)
}

/// The JSON of `id`'s current version, which must exist.
#[track_caller]
pub fn current_json(store: &dyn Store, ws: WorkspaceId, id: &str) -> String {
    store
        .current(ws, &sid(id))
        .unwrap()
        .expect("a current version")
        .json
}

/// How many current objects a scan of `ws` without a filter calls back with.
pub fn count_current(store: &dyn Store, ws: WorkspaceId) -> usize {
    let mut n = 0;
    store
        .scan_current(ws, &ObjectFilter::default(), &mut |_| {
            n += 1;
            true
        })
        .unwrap();
    n
}

/// Panics unless `ws` holds `objects` objects with `versions` versions in all.
#[track_caller]
pub fn assert_counts(store: &dyn Store, ws: WorkspaceId, objects: u64, versions: u64) {
    assert_eq!(store.count(ws).unwrap(), Counts { objects, versions });
}

pub fn stored(current: bool) -> Outcome {
    Outcome::Stored { current }
}

/// What a write of one version should come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Stored, and now the current version.
    Current,
    /// Stored, but older than the current version: history.
    History,
    Unchanged,
    /// Refused by the versioning rules, which name `revoked`.
    Rejected,
}

/// Panics unless `got`, the outcome of writing the version tagged `tag`, is as expected.
#[track_caller]
fn assert_outcome(got: &Outcome, expect: Expect, tag: &str) {
    match expect {
        Expect::Current => assert_eq!(got, &stored(true), "writing {tag:?}"),
        Expect::History => assert_eq!(got, &stored(false), "writing {tag:?}"),
        Expect::Unchanged => assert_eq!(got, &Outcome::Unchanged, "writing {tag:?}"),
        Expect::Rejected => assert_rejected_revoked(got),
    }
}

/// One object id of a test in one workspace, whose versions the test writes one write at a
/// time and reads back.
pub struct Subject<'a> {
    pub store: &'a dyn Store,
    pub ws: WorkspaceId,
    pub id: String,
}

impl<'a> Subject<'a> {
    pub fn new(store: &'a dyn Store, ws: WorkspaceId, id: &str) -> Subject<'a> {
        Subject {
            store,
            ws,
            id: id.to_owned(),
        }
    }

    /// Writes the version [`obj`] makes, alone, and checks what became of it.
    #[track_caller]
    pub fn write(&self, modified: Timestamp, revoked: bool, tag: &str, expect: Expect) {
        self.write_together(&[(modified, revoked, tag, expect)]);
    }

    /// Writes the versions [`obj`] makes of each `(modified, revoked, tag, expected)`, all in
    /// one write, and checks what became of each.
    #[track_caller]
    pub fn write_together(&self, versions: &[(Timestamp, bool, &str, Expect)]) {
        let objects = versions
            .iter()
            .map(|&(modified, revoked, tag, _)| obj(&self.id, modified, revoked, tag))
            .collect();
        let outcomes = write(self.store, self.ws, objects);
        for (got, &(_, _, tag, expect)) in outcomes.iter().zip(versions) {
            assert_outcome(got, expect, tag);
        }
    }

    /// Writes a [`derived`] version whose `created` and `modified` are both `at`, alone, and
    /// checks what became of it.
    #[track_caller]
    pub fn write_derived(&self, at: Timestamp, hash: u8, tag: &str, expect: Expect) {
        let got = write_one(self.store, self.ws, derived(&self.id, at, at, hash, tag));
        assert_outcome(&got, expect, tag);
    }

    /// The current version, which must exist.
    #[track_caller]
    pub fn current(&self) -> StoredObject {
        let current = self.store.current(self.ws, &sid(&self.id)).unwrap();
        current.expect("a current version")
    }

    /// Every stored version, oldest first.
    pub fn versions(&self) -> Vec<StoredObject> {
        self.store.versions(self.ws, &sid(&self.id)).unwrap()
    }

    /// Panics unless the stored versions are, oldest first, `(seconds, revoked, current)`
    /// with each modified exactly [`at`]`(seconds)`.
    #[track_caller]
    pub fn assert_history(&self, expected: &[(i64, bool, bool)]) {
        let got: Vec<(i64, bool, bool)> = self
            .versions()
            .iter()
            .map(|v| (v.modified.unix_nanos(), v.revoked, v.current))
            .collect();
        let expected: Vec<(i64, bool, bool)> = expected
            .iter()
            .map(|&(secs, revoked, current)| (at(secs).unix_nanos(), revoked, current))
            .collect();
        assert_eq!(got, expected, "(modified, revoked, current) of {}", self.id);
    }
}

/// Panics unless `o` is a rejection that names the `revoked` property.
#[track_caller]
pub fn assert_rejected_revoked(o: &Outcome) {
    match o {
        Outcome::Rejected(m) => {
            assert!(m.contains("revoked"), "rejection should name revoked: {m}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// A queued import of `ws`, made `created`, owned by `owner`.
pub fn new_import(ws: WorkspaceId, created: Timestamp, owner: &str) -> NewImport {
    NewImport {
        id: ImportId::random(),
        workspace: ws,
        source: "import-feed".into(),
        file_name: "indicators.json".into(),
        format: ImportFormat::Json,
        mode: ImportMode::ValidOnly,
        file_path: Some(format!("/kept/{}.json", created.unix_seconds()).into()),
        created,
        owner: owner.into(),
    }
}

/// Queues [`new_import`]`(ws, created, owner)`.
pub fn queued_import(
    store: &dyn Store,
    ws: WorkspaceId,
    created: Timestamp,
    owner: &str,
) -> NewImport {
    let new = new_import(ws, created, owner);
    store.create_import(&new).expect("create import");
    new
}

/// Queues an import as [`queued_import`] does and begins it as its owner: its id and writer.
pub fn begun_import(
    store: &dyn Store,
    ws: WorkspaceId,
    created: Timestamp,
    owner: &str,
) -> (ImportId, Box<dyn ImportWriter>) {
    let new = queued_import(store, ws, created, owner);
    let w = store.begin_import(new.id, owner).expect("begin import");
    (new.id, w)
}

/// Writes `batches` as one import (queued, begun, pushed batch by batch, committed) and returns
/// the summary the writer gave before the commit.
pub fn import_batches(
    store: &dyn Store,
    ws: WorkspaceId,
    batches: Vec<Vec<NewObject>>,
) -> WriteSummary {
    let (_, mut w) = begun_import(store, ws, Timestamp::now(), "suite");
    for b in batches {
        w.push(b).expect("push");
    }
    let summary = w.flush().expect("flush");
    w.commit(&ImportFinish::new(
        ImportStatus::Succeeded,
        summary.stored + summary.unchanged,
        Timestamp::now(),
    ))
    .expect("commit");
    summary
}

/// A stored version as the tests compare them: modified (as an instant), revoked, json, current.
pub type Row = (i64, bool, String, bool);

pub fn row(o: &StoredObject) -> Row {
    (
        o.modified.unix_nanos(),
        o.revoked,
        o.json.clone(),
        o.current,
    )
}

/// Every stored version of each id, and its current version, checked against each other.
pub fn state(store: &dyn Store, ws: WorkspaceId, ids: &[String]) -> Vec<(Vec<Row>, Option<Row>)> {
    ids.iter()
        .map(|id| {
            let id = sid(id);
            let versions = store.versions(ws, &id).expect("versions");
            let current = store.current(ws, &id).expect("current");
            for v in &versions {
                assert_eq!(v.id, id);
            }
            (
                versions.iter().map(row).collect(),
                current.as_ref().map(row),
            )
        })
        .collect()
}

/// How long a test waits for something that must happen before it fails: a hang detector, not
/// a bound on speed (those are measured in BENCHMARKS.md, not asserted here).
pub const HANG: Duration = Duration::from_secs(60);

/// Waits for `cond`, failing after [`HANG`].
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
