//! The hand-over of the version log's lease between two handles, one interleaving at a time.
//!
//! Each test opens a *holder* (as `tiport serve`, with an applier that commits only when asked,
//! so that no commit happens unless the test makes it) and a *waiter* (as `tiport export` or
//! `tiport import` beside it) on one database, and drives them through the lease's pause points
//! (`pause.rs`): a thread stops where the test armed a point and goes on when the test lets it,
//! so the order of the protocol's steps is the test's, not the scheduler's. No test sleeps to
//! order anything; the only clock is the pause points' patience, which turns a broken protocol
//! (a hang) into a failure.
//!
//! What the protocol promises (ARCHITECTURE.md, `crates/store`, "Durability of the embedded
//! store"): a holder that always has a group pending still lets a waiter have the lease, at
//! its next group after a commit that saw the waiter; a waiter's announcement that meets the
//! holder's check is made again and seen at the next one; a holder that takes the lease back
//! first hands it over again at its next chance; and nothing is handed over while an import
//! holds the lease.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use stix::{StixId, Timestamp};

use super::pause::{At, Script};
use super::{SqliteOptions, SqliteStore};
use crate::model::*;
use crate::Store;

/// The holder's and the waiter's names in the trace.
const H: &str = "holder";
const W: &str = "waiter";

/// How long a test waits for a thread that should have finished: a hang detector, not an
/// ordering.
const PATIENCE: Duration = Duration::from_secs(30);

/// A holder with one workspace, a second workspace, and the script both handles share.
struct Setup {
    _dir: tempfile::TempDir,
    db: PathBuf,
    script: Arc<Script>,
    holder: Arc<SqliteStore>,
    ws: WorkspaceId,
    other_ws: WorkspaceId,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tiport.db");
        let script = Script::new();
        // The holder's applier commits only when asked (a read, another write, a hand-over).
        let lazy = SqliteOptions {
            commit_every: Duration::from_secs(3600),
            idle_commit: Duration::from_secs(3600),
            ..SqliteOptions::default()
        };
        let holder = Arc::new(SqliteStore::open_with(&db, lazy, script.handle(H)).unwrap());
        let ws = WorkspaceId::random();
        holder.create_workspace(ws, "uploads").unwrap();
        let other_ws = WorkspaceId::random();
        holder.create_workspace(other_ws, "imports").unwrap();
        Setup {
            _dir: dir,
            db,
            script,
            holder,
            ws,
            other_ws,
        }
    }

    /// An upload of indicator `n` to `ws` by the holder, answered before this returns.
    fn upload(&self, ws: WorkspaceId, n: u32) {
        let outcome = self
            .holder
            .write(ws, &request(), vec![indicator(n)])
            .unwrap();
        assert_eq!(outcome, vec![Outcome::Stored { current: true }]);
    }

    /// The same upload on a thread of its own, for one that stops at a pause point.
    fn upload_on_a_thread(&self, ws: WorkspaceId, n: u32) -> Answered {
        let (tx, rx) = mpsc::channel();
        let holder = self.holder.clone();
        std::thread::spawn(move || {
            let _ = tx.send(holder.write(ws, &request(), vec![indicator(n)]));
        });
        Answered(rx)
    }

    /// An upload whose group is counted on the lease and stopped before it is decided: while
    /// it stays stopped, a commit leaves a group pending, as under an unbroken stream.
    fn upload_left_pending(&self, n: u32) -> Answered {
        self.script.arm(H, At::Deciding);
        let answered = self.upload_on_a_thread(self.ws, n);
        self.script.reached(H, At::Deciding);
        answered
    }

    /// Has the holder commit what it has applied (a read of the workspace asks it to).
    fn commit(&self) {
        self.holder.current(self.ws, &id(1)).unwrap();
    }

    /// Has the holder commit while upload `n`'s group is pending, as under an unbroken stream,
    /// and see the waiter; then lets the group go on and waits for its answer.
    fn commit_seeing_the_waiter_with_a_group_pending(&self, n: u32) {
        let pending = self.upload_left_pending(n);
        self.commit();
        self.script.passed(H, At::FoundWaiter);
        self.script.release(H, At::Deciding);
        pending.wait();
    }

    /// A holder that has answered upload 1, and a waiter opening beside it on its own thread,
    /// stopped once it has announced itself: with that answered frame past the committed
    /// length, opening waits for the holder's lease (as `tiport export` beside a busy `serve`).
    fn with_announced_waiter() -> (Setup, JoinHandle<SqliteStore>) {
        let s = Setup::new();
        s.upload(s.ws, 1);
        s.script.arm(W, At::Announced);
        let (db, pauses) = (s.db.clone(), s.script.handle(W));
        let waiter = std::thread::spawn(move || {
            SqliteStore::open_with(&db, SqliteOptions::default(), pauses).unwrap()
        });
        s.script.reached(W, At::Announced);
        (s, waiter)
    }

    /// Uploads `n` and, while the holder's group stops at its head start, lets the waiter
    /// finish opening (released from `Announced` first when `announced` says it is parked
    /// there): the hand-over at the holder's next group. Returns the waiter's store, after
    /// checking that it reads uploads 1 to `n - 1`: what the holder answered before the
    /// hand-over is committed.
    fn hand_over_at_next_group(
        &self,
        n: u32,
        waiter: JoinHandle<SqliteStore>,
        announced: bool,
    ) -> SqliteStore {
        self.script.arm(H, At::HeadStart);
        let upload = self.upload_on_a_thread(self.ws, n);
        self.script.reached(H, At::HeadStart);
        if announced {
            self.script.release(W, At::Announced);
        }
        let waiter = waiter.join().unwrap();
        self.script.release(H, At::HeadStart);
        upload.wait();
        assert!(sees_uploads(&waiter, self.ws, n - 1));
        waiter
    }

    fn trace(&self) -> Vec<(&'static str, At)> {
        self.script.trace()
    }

    /// Panics unless the trace shows `before` and then [`HAND_OVER`], in this order (others
    /// may come between).
    #[track_caller]
    fn assert_handed_over_after(&self, before: &[(&str, At)]) {
        assert_in_order(&self.trace(), &[before, &HAND_OVER].concat());
    }
}

/// The hand-over at the holder's next group, as the trace shows it: the holder lets the lease
/// go and stops at its head start, the waiter takes the lease and lets it go once opened, and
/// the holder takes it back.
const HAND_OVER: [(&str, At); 5] = [
    (H, At::Released),
    (H, At::HeadStart),
    (W, At::Locked),
    (W, At::Released),
    (H, At::Locked),
];

/// The answer to an upload made on another thread.
struct Answered(mpsc::Receiver<Result<Vec<Outcome>, crate::StoreError>>);

impl Answered {
    fn wait(self) {
        let outcome = self
            .0
            .recv_timeout(PATIENCE)
            .expect("the upload was answered");
        assert_eq!(outcome.unwrap(), vec![Outcome::Stored { current: true }]);
    }
}

fn request() -> Provenance {
    Provenance {
        source: "feed".into(),
        origin: Origin::Request("r".into()),
    }
}

fn id(n: u32) -> StixId {
    StixId::parse(&format!("indicator--00000000-0000-4000-8000-{n:012}")).unwrap()
}

fn indicator(n: u32) -> NewObject {
    let id = id(n);
    let t = Timestamp::from_unix(1_600_000_000, 0);
    let json = format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","created":"{t}","modified":"{t}"}}"#
    );
    NewObject::new(id, t, t, json)
}

/// A queued import into `ws`.
fn new_import(ws: WorkspaceId) -> NewImport {
    NewImport {
        id: ImportId::random(),
        workspace: ws,
        source: "file".into(),
        file_name: "f.json".into(),
        format: ImportFormat::Json,
        mode: ImportMode::ValidOnly,
        file_path: None,
        created: Timestamp::now(),
        owner: "test".into(),
    }
}

/// The end of an import of one record.
fn succeeded() -> ImportFinish {
    ImportFinish::new(ImportStatus::Succeeded, 1, Timestamp::now())
}

/// Runs import `id` of indicator 100 to its commit.
fn import_one(store: &dyn Store, id: ImportId) {
    let mut w = store.begin_import(id, "test").unwrap();
    w.push(vec![indicator(100)]).unwrap();
    w.commit(&succeeded()).unwrap();
}

/// Where `event` first appears in `trace` at or after `from`.
fn find(trace: &[(&'static str, At)], from: usize, event: (&str, At)) -> Option<usize> {
    trace[from..]
        .iter()
        .position(|&(n, a)| (n, a) == event)
        .map(|i| i + from)
}

/// Panics unless `events` appear in `trace` in this order (others may come between).
#[track_caller]
fn assert_in_order(trace: &[(&'static str, At)], events: &[(&str, At)]) {
    let mut from = 0;
    for &event in events {
        match find(trace, from, event) {
            Some(i) => from = i + 1,
            None => panic!("{event:?} missing after position {from} of {trace:#?}"),
        }
    }
}

/// Whether the waiter's open sees the holder's acknowledged uploads 1..=n.
fn sees_uploads(store: &SqliteStore, ws: WorkspaceId, n: u32) -> bool {
    (1..=n).all(|i| store.current(ws, &id(i)).unwrap().is_some())
}

#[test]
fn a_waiter_gets_the_log_at_the_next_group_though_a_group_is_always_pending() {
    let (s, waiter) = Setup::with_announced_waiter();

    // A commit with a group still pending: the holder keeps the lease, and notes the waiter.
    s.commit_seeing_the_waiter_with_a_group_pending(2);
    assert!(
        find(&s.trace(), 0, (H, At::Released)).is_none(),
        "the holder let the lease go with a group pending: {:#?}",
        s.trace()
    );

    // Its next group first commits what is pending and lets the lease go; the waiter takes it
    // during the holder's head start, then the holder takes it back.
    let _waiter = s.hand_over_at_next_group(3, waiter, true);

    s.assert_handed_over_after(&[(H, At::Locked), (W, At::Announced), (H, At::FoundWaiter)]);
}

#[test]
fn an_announcement_that_meets_the_holders_check_is_made_again_and_seen_at_the_next() {
    let s = Setup::new();
    // The waiter here is an import in another handle (as `tiport import` beside a `serve`):
    // opened and its import recorded while nothing is pending, it needs the lease only when
    // the import begins.
    let waiter = Arc::new(
        SqliteStore::open_with(&s.db, SqliteOptions::default(), s.script.handle(W)).unwrap(),
    );
    let import = new_import(s.other_ws);
    waiter.create_import(&import).unwrap();
    s.upload(s.ws, 1);
    let second = s.upload_left_pending(2);

    // The holder is checking for waiters (it holds the `-wait` file exclusively) when the
    // waiter tries to announce itself: the waiter's try fails.
    s.script.arm(H, At::Checking);
    let committing = {
        let holder = s.holder.clone();
        let ws = s.ws;
        std::thread::spawn(move || holder.current(ws, &id(1)).map(|_| ()))
    };
    s.script.reached(H, At::Checking);
    s.script.arm(W, At::AnnounceRefused);
    let importing = {
        let waiter = waiter.clone();
        std::thread::spawn(move || import_one(&*waiter, import.id))
    };
    s.script.reached(W, At::AnnounceRefused);

    // The holder's check found nobody, and with a group pending it keeps the lease.
    s.script.arm(W, At::Announced);
    s.script.release(H, At::Checking);
    committing.join().unwrap().unwrap();
    s.script.passed(H, At::FoundNone);
    // The waiter tries again, and this time it is seen.
    s.script.release(W, At::AnnounceRefused);
    s.script.reached(W, At::Announced);
    s.script.release(H, At::Deciding);
    second.wait();
    s.commit();
    s.script.passed(H, At::FoundWaiter);
    s.script.release(W, At::Announced);
    importing.join().unwrap();

    let trace = s.trace();
    assert_in_order(
        &trace,
        &[
            (H, At::Checking),
            (W, At::AnnounceRefused),
            (H, At::FoundNone),
            (W, At::Announced),
            (H, At::FoundWaiter),
            (H, At::Released),
            (W, At::Locked),
        ],
    );
    let first_check = find(&trace, 0, (H, At::FoundNone)).unwrap();
    assert_eq!(
        find(&trace, 0, (H, At::Released)).map(|r| r > first_check),
        Some(true),
        "the lease was let go before the waiter was seen: {trace:#?}"
    );
    assert!(sees_uploads(&waiter, s.ws, 2));
    assert!(waiter.current(s.other_ws, &id(100)).unwrap().is_some());
}

#[test]
fn a_holder_that_takes_the_log_back_first_hands_it_over_at_its_next_chance() {
    let (s, waiter) = Setup::with_announced_waiter();
    // Nothing pending: the commit notes the waiter and lets the lease go, but the waiter is
    // elsewhere (stopped) and the holder's next group takes the lease back first.
    s.commit();
    s.script.passed(H, At::Released);
    s.script.arm(H, At::HeadStart);
    let second = s.upload_on_a_thread(s.ws, 2);
    s.script.reached(H, At::HeadStart);
    s.script.release(H, At::HeadStart);
    second.wait();
    let retaken = s.trace();
    let head_start = find(&retaken, 0, (H, At::HeadStart)).unwrap();
    assert!(find(&retaken, head_start, (H, At::Locked)).is_some());
    assert!(find(&retaken, 0, (W, At::Locked)).is_none());

    // The waiter finds the lease taken again; the holder's next commit with a group pending
    // sees it, and the group after hands the lease over.
    s.script.release(W, At::Announced);
    s.commit_seeing_the_waiter_with_a_group_pending(3);
    let _waiter = s.hand_over_at_next_group(4, waiter, false);

    s.assert_handed_over_after(&[(H, At::HeadStart), (H, At::Locked), (H, At::FoundWaiter)]);
}

#[test]
fn nothing_is_handed_over_while_an_import_holds_the_log() {
    let (s, waiter) = Setup::with_announced_waiter();
    // The holder's commit sees the waiter (the decider is asked to hand over)...
    s.commit();
    s.script.passed(H, At::FoundWaiter);
    // ...but an import takes the lease first, and holds it until it ends.
    let import = new_import(s.other_ws);
    s.holder.create_import(&import).unwrap();
    let mut w = s.holder.begin_import(import.id, "test").unwrap();
    w.push(vec![indicator(100)]).unwrap();
    w.flush().unwrap();
    // An upload of another workspace is answered meanwhile: no hand-over waits for the import.
    s.upload_on_a_thread(s.ws, 2).wait();
    assert!(find(&s.trace(), 0, (H, At::HeadStart)).is_none());
    w.commit(&succeeded()).unwrap();
    // The import's end is counted on the applier just after it answers the commit: a read
    // goes through the applier after it (and commits the upload answered meanwhile).
    s.commit();

    // Once the import has ended, the next group hands the lease over.
    let waiter = s.hand_over_at_next_group(3, waiter, true);

    s.assert_handed_over_after(&[(H, At::FoundWaiter), (H, At::Released), (H, At::Locked)]);
    assert!(waiter.current(s.other_ws, &id(100)).unwrap().is_some());
}
