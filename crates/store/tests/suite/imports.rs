//! File imports: records, their transactions, abandonment, listing and retention.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use super::*;

fn numbered(mut objects: Vec<NewObject>, first: u64) -> Vec<NewObject> {
    for (i, o) in objects.iter_mut().enumerate() {
        o.record = first + i as u64;
    }
    objects
}

fn record(s: &dyn Store, ws: WorkspaceId, id: ImportId) -> ImportRecord {
    s.import(ws, id).unwrap().expect("import record")
}

/// The record `create_import(new)` should give.
fn queued(new: &NewImport) -> ImportRecord {
    ImportRecord {
        id: new.id,
        workspace: new.workspace,
        source: new.source.clone(),
        file_name: new.file_name.clone(),
        format: new.format,
        mode: new.mode,
        status: ImportStatus::Queued,
        total: 0,
        imported: 0,
        invalid: 0,
        unchanged: 0,
        upgraded: 0,
        message: None,
        created: new.created,
        started: None,
        finished: None,
        file_path: new.file_path.clone(),
        error_path: None,
        owner: Some(new.owner.clone()),
    }
}

/// `rec` after `finish`.
fn finished(mut rec: ImportRecord, f: &ImportFinish) -> ImportRecord {
    rec.status = f.status;
    rec.total = f.total;
    rec.imported = f.imported;
    rec.invalid = f.invalid;
    rec.unchanged = f.unchanged;
    rec.upgraded = f.upgraded;
    rec.message = f.message.clone();
    rec.error_path = f.error_path.clone();
    rec.finished = Some(f.finished);
    rec.owner = None;
    rec
}

pub fn import_lifecycle_commit(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let other = env.workspace("other");
    let mut new = new_import(ws, ts("2024-05-01T10:00:00.000Z"), "node-1");
    new.source = "Feed B".into();
    new.file_name = "feed b.csv".into();
    new.format = ImportFormat::Csv;
    new.mode = ImportMode::AllOrNothing;
    let rec = s.create_import(&new).unwrap();
    assert_eq!(rec, queued(&new));
    assert_eq!(s.import(ws, new.id).unwrap(), Some(rec.clone()));
    assert_eq!(
        s.import(other, new.id).unwrap(),
        None,
        "an import belongs to its workspace"
    );
    assert_eq!(s.import(ws, ImportId::random()).unwrap(), None);

    let (mut w, running) = begin_running(s, ws, &rec);
    let (a, c) = (indicator(1), indicator(3));
    write_batches_with_totals(&mut *w);

    let fin = ImportFinish {
        status: ImportStatus::PartiallySucceeded,
        total: 9,
        imported: 6,
        invalid: 3,
        unchanged: 1,
        upgraded: 2,
        message: Some("3 records were invalid".into()),
        error_path: Some("/errors/feed b.errors.csv".into()),
        finished: ts("2024-05-01T10:01:00.000Z"),
    };
    w.commit(&fin).unwrap();
    assert_eq!(record(s, ws, new.id), finished(running, &fin));

    let cur = s.current(ws, &sid(&a)).unwrap().unwrap();
    assert!(cur.json.contains("a10\""));
    assert_eq!(cur.source, "Feed B", "objects carry the import's source");
    assert_eq!(cur.origin, Some(Origin::Import(new.id)));
    assert_counts(s, ws, 4, 5);
    assert!(!current_json(s, ws, &c).contains("c20"));
    assert_eq!(s.count(other).unwrap(), Counts::default());
}

/// Begins `rec`'s import as node-2 and checks the record it now has (and lists): running,
/// owned, started.
fn begin_running(
    s: &dyn Store,
    ws: WorkspaceId,
    rec: &ImportRecord,
) -> (Box<dyn ImportWriter>, ImportRecord) {
    let before = Timestamp::now();
    let w = s.begin_import(rec.id, "node-2").unwrap();
    let running = record(s, ws, rec.id);
    assert_eq!(running.status, ImportStatus::Running);
    assert_eq!(running.owner.as_deref(), Some("node-2"));
    let started = running.started.expect("started");
    assert!(started.unix_seconds() >= before.unix_seconds() - 1);
    assert_eq!(running.finished, None);
    let mut expect_running = rec.clone();
    expect_running.status = ImportStatus::Running;
    expect_running.started = Some(started);
    expect_running.owner = Some("node-2".into());
    assert_eq!(running, expect_running);
    assert_eq!(
        s.imports(
            ws,
            ImportSort::Created,
            Order::Desc,
            &ImportPage::first(1000)
        )
        .unwrap(),
        vec![running.clone()]
    );
    (w, running)
}

/// Pushes indicators 1 to 4 in three batches (one repeat, one refused revocation) and checks
/// the totals each flush gives.
fn write_batches_with_totals(w: &mut dyn ImportWriter) {
    let (a, b, c, d) = (indicator(1), indicator(2), indicator(3), indicator(4));
    w.push(numbered(
        vec![obj(&a, at(10), false, "a10"), obj(&b, at(10), false, "b10")],
        0,
    ))
    .unwrap();
    w.push(numbered(
        vec![
            obj(&a, at(10), false, "a10 again"),
            obj(&a, at(5), false, "a5"),
            obj(&c, at(10), true, "c10"),
            obj(&c, at(20), false, "c20"),
        ],
        2,
    ))
    .unwrap();
    let sum = w.flush().unwrap();
    assert_eq!((sum.stored, sum.unchanged), (4, 1));
    assert_eq!(sum.rejected.len(), 1);
    assert_eq!(sum.rejected[0].0, 5, "rejections name the record");
    assert!(sum.rejected[0].1.contains("revoked"));
    w.push(numbered(vec![obj(&d, at(10), false, "d10")], 6))
        .unwrap();
    let sum = w.flush().unwrap();
    assert_eq!(
        (sum.stored, sum.unchanged, sum.rejected.len()),
        (5, 1, 1),
        "flush gives the totals so far"
    );
}

pub fn import_abort_leaves_nothing(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let (x, y) = (indicator(1), indicator(2));
    write(s, ws, vec![obj(&x, at(1), false, "x1")]);
    let new = queued_import(s, ws, at(100), "node-1");
    let mut w = s.begin_import(new.id, "node-1").unwrap();
    let started = record(s, ws, new.id).started;
    let mut y1 = obj(&y, at(1), false, "y1");
    y1.observables = vec![ObservableKey::text("aborted.example")];
    w.push(vec![obj(&x, at(2), false, "x2"), y1]).unwrap();
    assert_eq!(w.flush().unwrap().stored, 2);
    let fin = ImportFinish {
        message: Some("cancelled by the user".into()),
        total: 2,
        imported: 0,
        ..ImportFinish::new(ImportStatus::Failed, 0, at(200))
    };
    w.abort(&fin).unwrap();

    let rec = record(s, ws, new.id);
    let mut expect = finished(queued(&new), &fin);
    expect.started = started;
    assert_eq!(rec, expect);
    assert!(current_json(s, ws, &x).contains("x1"));
    assert_eq!(s.versions(ws, &sid(&x)).unwrap().len(), 1);
    assert_eq!(s.current(ws, &sid(&y)).unwrap(), None);
    assert!(s
        .find_observable(ws, &ObservableKey::text("aborted.example"), 10)
        .unwrap()
        .is_empty());
    assert_counts(s, ws, 1, 1);

    // The store goes on working, and the same versions can be written again.
    assert_eq!(write_one(s, ws, obj(&y, at(1), false, "y1")), stored(true));
}

pub fn import_dropped_writer_fails_import(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let x = indicator(1);
    let failed = |id: ImportId| record(s, ws, id).status == ImportStatus::Failed;

    // Dropped after a flush.
    let (id, mut w) = begun_import(s, ws, at(100), "node-1");
    w.push(vec![obj(&x, at(1), false, "x1")]).unwrap();
    w.flush().unwrap();
    drop(w);
    eventually("the dropped import to be marked failed", || failed(id));
    let rec = record(s, ws, id);
    assert_eq!((rec.owner, rec.imported), (None, 0));
    assert!(rec.finished.is_some());
    assert_eq!(s.current(ws, &sid(&x)).unwrap(), None);

    // Dropped with a push still in flight.
    let (id, mut w) = begun_import(s, ws, at(200), "node-1");
    w.push(
        (0..50)
            .map(|i| obj(&indicator(100 + i), at(1), false, "y"))
            .collect(),
    )
    .unwrap();
    drop(w);
    eventually("the second dropped import to be marked failed", || {
        failed(id)
    });
    assert_eq!(s.count(ws).unwrap(), Counts::default());

    // The store goes on working.
    assert_eq!(write_one(s, ws, obj(&x, at(1), false, "x1")), stored(true));
    import_batches(s, ws, vec![vec![obj(&x, at(2), false, "x2")]]);
    assert_counts(s, ws, 1, 2);
}

fn expect_state(r: Result<Box<dyn ImportWriter>, StoreError>) {
    match r {
        Err(StoreError::State(_)) => {}
        Err(e) => panic!("expected a State error, got {e:?}"),
        Ok(_) => panic!("expected a State error, got a writer"),
    }
}

pub fn import_begin_requires_queued(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);

    let (committed, w) = begun_import(s, ws, at(1), "n");
    w.commit(&ImportFinish::new(ImportStatus::Succeeded, 0, at(2)))
        .unwrap();

    let (aborted, w) = begun_import(s, ws, at(3), "n");
    w.abort(&ImportFinish::new(ImportStatus::Failed, 0, at(4)))
        .unwrap();

    let finished_early = queued_import(s, ws, at(5), "n").id;
    s.finish_import(
        finished_early,
        &ImportFinish::new(ImportStatus::Failed, 0, at(6)),
    )
    .unwrap();

    let (dropped, w) = begun_import(s, ws, at(7), "n");
    drop(w);
    eventually("the dropped import to fail", || {
        record(s, ws, dropped).status == ImportStatus::Failed
    });

    for id in [committed, aborted, finished_early, dropped] {
        let before = record(s, ws, id);
        expect_state(s.begin_import(id, "m"));
        assert_eq!(record(s, ws, id), before, "a refused begin changes nothing");
    }
    match s.begin_import(ImportId::random(), "m") {
        Err(StoreError::NotFound(_)) => {}
        Err(e) => panic!("expected NotFound, got {e:?}"),
        Ok(_) => panic!("expected NotFound, got a writer"),
    }
}

pub fn import_second_claim_of_running_import_fails(f: Factory) {
    let env = Env::new(f);
    let (store, ws) = (env.store.clone(), env.ws);
    let (id, mut w) = begun_import(&*store, ws, at(1), "node-a");
    w.push(vec![obj(&indicator(1), at(1), false, "a")]).unwrap();
    w.flush().unwrap();
    assert_eq!(record(&*store, ws, id).status, ImportStatus::Running);

    // Another process or node claims it while it runs. An engine may answer at once or once
    // the first claim has ended; either way it must refuse. (Which of the two happens is the
    // engine's: the suite cannot see a claim waiting inside one, so an engine that makes such
    // claims wait tests that they do, and are refused, with its own tests.)
    let rival = {
        let other = env.reopen();
        std::thread::spawn(move || match other.begin_import(id, "node-b") {
            Err(StoreError::State(_)) => Ok(()),
            Err(e) => Err(format!("{e:?}")),
            Ok(_) => Err("got a writer".to_owned()),
        })
    };
    w.commit(&ImportFinish::new(ImportStatus::Succeeded, 1, at(2)))
        .unwrap();
    rival
        .join()
        .unwrap()
        .expect("the second claim is refused with a State error");

    let rec = record(&*store, ws, id);
    assert_eq!((rec.status, rec.owner), (ImportStatus::Succeeded, None));
    assert!(store.current(ws, &sid(&indicator(1))).unwrap().is_some());
}

pub fn import_uncommitted_objects_are_invisible(f: Factory) {
    let env = Env::new(f);
    let (store, ws) = (env.store.clone(), env.ws);
    // Another process or node, already running when the import starts.
    let second = env.reopen();
    let (x, y) = (indicator(1), indicator(2));
    write(&*store, ws, vec![obj(&x, at(1), false, "x1")]);

    let (id, mut w) = begun_import(&*store, ws, at(1), "node-1");
    let mut y1 = obj(&y, at(1), false, "y1");
    y1.observables = vec![ObservableKey::text("pending.example")];
    w.push(vec![obj(&x, at(2), false, "x2"), y1]).unwrap();
    assert_eq!(w.flush().unwrap().stored, 2);

    let check_before = |s: &dyn Store| {
        assert!(current_json(s, ws, &x).contains("x1"));
        assert_eq!(s.versions(ws, &sid(&x)).unwrap().len(), 1);
        assert_eq!(s.current(ws, &sid(&y)).unwrap(), None);
        assert!(s.versions(ws, &sid(&y)).unwrap().is_empty());
        assert_counts(s, ws, 1, 1);
        assert!(s
            .find_observable(ws, &ObservableKey::text("pending.example"), 10)
            .unwrap()
            .is_empty());
        assert_eq!(count_current(s, ws), 1);
        assert_eq!(
            s.import(ws, id).unwrap().unwrap().status,
            ImportStatus::Running
        );
    };
    check_before(&*second);
    std::thread::scope(|scope| {
        scope.spawn(|| check_before(&*store)).join().unwrap();
    });

    w.commit(&ImportFinish::new(ImportStatus::Succeeded, 2, at(3)))
        .unwrap();
    for s in [&*store, &*second] {
        assert!(current_json(s, ws, &x).contains("x2"));
        assert!(s.current(ws, &sid(&y)).unwrap().is_some());
        assert_eq!(
            s.find_observable(ws, &ObservableKey::text("pending.example"), 10)
                .unwrap(),
            vec![sid(&y)]
        );
        assert_counts(s, ws, 2, 3);
        assert_eq!(
            s.import(ws, id).unwrap().unwrap().status,
            ImportStatus::Succeeded
        );
    }
}

pub fn import_duplicate_id_conflicts(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let other = env.workspace("other");
    let new = new_import(ws, at(1), "n");
    let rec = s.create_import(&new).unwrap();
    let mut again = new_import(ws, at(2), "m");
    again.id = new.id;
    again.file_name = "other.json".into();
    assert_conflict(s.create_import(&again));
    // Import ids are global: begin_import names no workspace.
    again.workspace = other;
    assert_conflict(s.create_import(&again));
    assert_eq!(s.import(ws, new.id).unwrap(), Some(rec));
    assert_eq!(s.import(other, new.id).unwrap(), None);
    assert!(s
        .imports(
            other,
            ImportSort::Created,
            Order::Asc,
            &ImportPage::first(1000)
        )
        .unwrap()
        .is_empty());
}

pub fn import_fail_abandoned(f: Factory) {
    let env = Env::new(f);
    let (store, ws) = (env.store.clone(), env.ws);
    let s = &*store;
    let q_dead = new_import(ws, at(1), "dead-1");
    let q_live = new_import(ws, at(2), "live-1");
    let done_dead = new_import(ws, at(3), "dead-2");
    let r_live = new_import(ws, at(4), "live-2");
    for n in [&q_dead, &q_live, &done_dead, &r_live] {
        s.create_import(n).unwrap();
    }
    s.begin_import(done_dead.id, "dead-2")
        .unwrap()
        .commit(&ImportFinish::new(ImportStatus::Succeeded, 0, at(5)))
        .unwrap();
    let q_live_before = record(s, ws, q_live.id);
    let done_before = record(s, ws, done_dead.id);

    // r_live runs, owned by a live process, and ends on its own once the engine has looked at
    // it: an engine that makes the call below wait for the import (SQLite) has then decided
    // to spare it, one that does not has spared it already.
    let (running_tx, running) = mpsc::channel();
    let (asked_tx, asked) = mpsc::channel::<()>();
    let runner = {
        let store = store.clone();
        let id = r_live.id;
        std::thread::spawn(move || {
            let mut w = store.begin_import(id, "live-2").unwrap();
            w.push(vec![obj(&indicator(1), at(1), false, "r")]).unwrap();
            w.flush().unwrap();
            running_tx.send(()).unwrap();
            asked
                .recv_timeout(HANG)
                .expect("the engine asked whether the running import's owner is gone");
            w.commit(&ImportFinish::new(ImportStatus::Succeeded, 1, at(6)))
                .unwrap();
        })
    };
    running.recv().unwrap();
    assert_eq!(record(s, ws, r_live.id).status, ImportStatus::Running);

    let now = ts("2024-06-01T00:00:00.000Z");
    let gone = |owner: &str| {
        if owner == "live-2" {
            // The contended state: the running import's owner is being looked at.
            let _ = asked_tx.send(());
        }
        owner.starts_with("dead")
    };
    assert_eq!(s.fail_abandoned_imports(&gone, now).unwrap(), 1);
    runner.join().unwrap();

    let rec = record(s, ws, q_dead.id);
    assert_eq!(rec.status, ImportStatus::Failed);
    assert_eq!(
        (rec.owner.as_deref(), rec.finished, rec.imported),
        (None, Some(now), 0)
    );
    assert!(rec.message.is_some(), "the record says why it failed");
    assert_eq!(record(s, ws, q_live.id), q_live_before);
    assert_eq!(record(s, ws, done_dead.id), done_before);
    assert_eq!(record(s, ws, r_live.id).status, ImportStatus::Succeeded);
    assert!(s.current(ws, &sid(&indicator(1))).unwrap().is_some());

    // Once failed, it is not failed again; nothing else is gone.
    assert_eq!(s.fail_abandoned_imports(&gone, now).unwrap(), 0);
    assert_eq!(s.fail_abandoned_imports(&|_: &str| false, now).unwrap(), 0);
    // Everyone gone: the one still queued fails.
    assert_eq!(s.fail_abandoned_imports(&|_: &str| true, now).unwrap(), 1);
    assert_eq!(record(s, ws, q_live.id).status, ImportStatus::Failed);
    assert_eq!(record(s, ws, done_dead.id), done_before);
}

/// Queues `new` and, given `end`, ends it so before it ever runs: a record as lists and
/// retention sweeps see it, with the counts and times the test chose.
fn queue_and_end(s: &dyn Store, new: &NewImport, end: Option<ImportFinish>) -> ImportId {
    s.create_import(new).unwrap();
    if let Some(fin) = end {
        s.finish_import(new.id, &fin).unwrap();
    }
    new.id
}

/// A success at `at(100)` that imported `imported` of `total` records.
fn succeeded(imported: u64, total: u64) -> ImportFinish {
    ImportFinish {
        total,
        ..ImportFinish::new(ImportStatus::Succeeded, imported, at(100))
    }
}

pub fn import_list_sorting(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let other = env.workspace("other");
    // Every key distinct, and each sort key orders them differently.
    let specs = [
        // name, source, file, imported, total, created
        ("A", "c", "b.csv", Some((10, 10)), 1),
        ("B", "a", "d.json", None, 3),
        ("C", "d", "a.csv", Some((5, 30)), 2),
        ("D", "b", "c.csv", Some((20, 25)), 4),
    ];
    let mut ids = std::collections::HashMap::new();
    for (name, source, file, counts, created) in specs {
        let new = NewImport {
            source: source.into(),
            file_name: file.into(),
            ..new_import(ws, at(created), "n")
        };
        let end = counts.map(|(imported, total)| succeeded(imported, total));
        ids.insert(queue_and_end(s, &new, end), name);
    }
    s.create_import(&new_import(other, at(0), "n")).unwrap();

    let cases = [
        (ImportSort::Source, "BDAC"),
        (ImportSort::Name, "CADB"),
        (ImportSort::Imported, "BCAD"),
        (ImportSort::Total, "BADC"),
        (ImportSort::Created, "ACBD"),
    ];
    for (sort, asc) in cases {
        for (order, expect) in [
            (Order::Asc, asc.to_owned()),
            (Order::Desc, asc.chars().rev().collect()),
        ] {
            let got: String = s
                .imports(ws, sort, order, &ImportPage::first(1000))
                .unwrap()
                .iter()
                .map(|r| ids[&r.id])
                .collect();
            assert_eq!(got, expect, "imports sorted by {sort} {order}");
        }
    }
}

pub fn import_list_pages(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    // 23 imports with many ties: three sources, two file names, counts that repeat, and
    // creation times shared by several.
    for i in 0..23u64 {
        let new = NewImport {
            source: ["a", "b", "c"][(i % 3) as usize].into(),
            file_name: ["x.csv", "y.json"][(i % 2) as usize].into(),
            ..new_import(ws, at((i % 5) as i64), "n")
        };
        queue_and_end(s, &new, (i % 4 != 0).then(|| succeeded(i % 3, i % 6)));
    }
    for sort in [
        ImportSort::Source,
        ImportSort::Name,
        ImportSort::Imported,
        ImportSort::Total,
        ImportSort::Created,
    ] {
        for order in [Order::Asc, Order::Desc] {
            let whole = s
                .imports(ws, sort, order, &ImportPage::first(1000))
                .unwrap();
            assert_eq!(whole.len(), 23);
            for size in [1, 5, 7, 23] {
                let mut paged = Vec::new();
                let mut page = ImportPage::first(size);
                loop {
                    let got = s.imports(ws, sort, order, &page).unwrap();
                    assert!(got.len() <= size);
                    let Some(last) = got.last() else { break };
                    page.after = Some(ImportKey::of(last, sort));
                    paged.extend(got);
                }
                assert_eq!(paged, whole, "pages of {size} by {sort} {order}");
            }
        }
    }
}

const HOUR: i64 = 3600;

/// The imports a retention sweep at `now` looks at: `old` (created three hours ago, ended two
/// hours ago with an error file), `recent` (failed ten minutes ago), `open` (queued three hours
/// ago), and `elsewhere` (in the other workspace, ended two hours ago).
struct Aged {
    old: ImportId,
    recent: ImportId,
    open: ImportId,
    elsewhere: ImportId,
}

fn aged_imports(s: &dyn Store, ws: WorkspaceId, other: WorkspaceId, now: Timestamp) -> Aged {
    let ago = |secs: i64| Timestamp::from_unix(now.unix_seconds() - secs, 0);
    let make = |ws: WorkspaceId,
                created: i64,
                file: &str,
                end: Option<(ImportStatus, i64, Option<&str>)>| {
        let new = NewImport {
            file_path: Some(file.into()),
            ..new_import(ws, ago(created), "n")
        };
        let end = end.map(|(status, finished, errors)| ImportFinish {
            error_path: errors.map(PathBuf::from),
            ..ImportFinish::new(status, 0, ago(finished))
        });
        queue_and_end(s, &new, end)
    };
    Aged {
        old: make(
            ws,
            3 * HOUR,
            "/kept/old.json",
            Some((ImportStatus::Succeeded, 2 * HOUR, Some("/errors/old.csv"))),
        ),
        recent: make(
            ws,
            20 * 60,
            "/kept/recent.json",
            Some((ImportStatus::Failed, 10 * 60, None)),
        ),
        open: make(ws, 3 * HOUR, "/kept/queued.json", None),
        elsewhere: make(
            other,
            3 * HOUR,
            "/kept/other.json",
            Some((ImportStatus::PartiallySucceeded, 2 * HOUR, None)),
        ),
    }
}

fn retention(records_hours: u64, files_hours: u64) -> Retention {
    Retention {
        records: Duration::from_secs(records_hours * HOUR as u64),
        files: Duration::from_secs(files_hours * HOUR as u64),
    }
}

pub fn import_sweep_retention(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let other = env.workspace("other");
    let now = ts("2024-06-01T12:00:00.000Z");
    let Aged {
        old,
        recent,
        open,
        elsewhere,
    } = aged_imports(s, ws, other, now);
    let open_before = record(s, ws, open);

    // Files older than an hour go; records are kept for a day.
    let mut swept = s.sweep(now, &retention(24, 1)).unwrap();
    swept.files_expired.sort();
    assert_eq!(swept.records_deleted, 0);
    assert_eq!(
        swept.files_expired,
        vec![
            PathBuf::from("/errors/old.csv"),
            PathBuf::from("/kept/old.json"),
            PathBuf::from("/kept/other.json")
        ]
    );
    let rec = record(s, ws, old);
    assert_eq!(
        (rec.file_path, rec.error_path),
        (None, None),
        "expired paths are forgotten"
    );
    assert_eq!(rec.status, ImportStatus::Succeeded);
    assert_eq!(record(s, other, elsewhere).file_path, None);
    assert_eq!(
        record(s, ws, recent).file_path,
        Some("/kept/recent.json".into())
    );
    assert_eq!(
        record(s, ws, open),
        open_before,
        "open imports are untouched"
    );

    // Records older than an hour go; forgotten files are not returned twice.
    assert_eq!(
        s.sweep(now, &retention(1, 1)).unwrap(),
        Swept {
            records_deleted: 2,
            files_expired: vec![]
        }
    );
    assert_eq!(s.import(ws, old).unwrap(), None);
    assert_eq!(s.import(other, elsewhere).unwrap(), None);
    assert!(s.import(ws, recent).unwrap().is_some());

    // Zero retention: every finished import goes, the open one stays.
    let zero = retention(0, 0);
    assert_eq!(
        s.sweep(now, &zero).unwrap(),
        Swept {
            records_deleted: 1,
            files_expired: vec![PathBuf::from("/kept/recent.json")]
        }
    );
    let all = |ws| {
        s.imports(
            ws,
            ImportSort::Created,
            Order::Asc,
            &ImportPage::first(1000),
        )
        .unwrap()
    };
    assert_eq!(all(ws), vec![open_before.clone()]);
    assert!(all(other).is_empty());
    assert_eq!(s.sweep(now, &zero).unwrap(), Swept::default());
}

/// An import that has ended keeps how it ended: finishing it again (a late "failed" after a
/// fault) is a conflict and changes nothing.
pub fn import_ended_is_final(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let id = queued_import(s, ws, at(1), "n").id;
    s.finish_import(id, &ImportFinish::new(ImportStatus::Succeeded, 7, at(2)))
        .unwrap();
    let ended = record(s, ws, id);
    let again = s.finish_import(id, &ImportFinish::new(ImportStatus::Failed, 0, at(3)));
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(record(s, ws, id), ended);
    assert!(matches!(
        s.finish_import(
            ImportId::random(),
            &ImportFinish::new(ImportStatus::Failed, 0, at(3))
        ),
        Err(StoreError::NotFound(_))
    ));
}
