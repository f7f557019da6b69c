//! How fast the PostgreSQL engine writes new objects today, through the `Store` interface as an
//! upload does (`Store::write`, one transaction per batch): a baseline for issue 14's upload
//! targets, beside the same writes on the embedded engine.
//!
//! ```text
//! cargo run --release -p store --example postgres-writes -- URL [--batches B] [--writers W]
//! ```
//!
//! URL names a database that may be written to (the example makes a workspace of its own in
//! it; use a fresh database). W threads (default 4) each write B batches (default 200) of 100
//! new indicators, each with one observable and a name; prints objects per second for
//! PostgreSQL, then for a SQLite store in a temporary directory.

use std::sync::Arc;
use std::time::Instant;

use stix::{StixId, Timestamp};
use store::postgres::{PostgresOptions, PostgresStore};
use store::sqlite::{SqliteOptions, SqliteStore};
use store::{NewObject, ObservableKey, Origin, Provenance, Store, WorkspaceId};

fn batch(writer: usize, b: usize) -> Vec<NewObject> {
    let now = Timestamp::now();
    (0..100)
        .map(|i| {
            let n = (writer * 1_000_000 + b * 100 + i) as u64;
            let id = format!("indicator--{:08x}-0000-4000-8000-{:012x}", writer, n);
            let value = format!("host{n}.example.com");
            let json = format!(
                r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","created":"{now}","modified":"{now}","name":"Bench {n}","pattern":"[domain-name:value = '{value}']","pattern_type":"stix","valid_from":"{now}"}}"#
            );
            NewObject {
                observables: vec![ObservableKey::text(&value), ObservableKey::name(&format!("Bench {n}")).unwrap()],
                ..NewObject::new(StixId::parse(&id).unwrap(), now, now, json)
            }
        })
        .collect()
}

fn measure(name: &str, store: Arc<dyn Store>, writers: usize, batches: usize) {
    let ws = WorkspaceId::random();
    store.create_workspace(ws, "bench").unwrap();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..writers {
            let store = store.clone();
            scope.spawn(move || {
                let prov = Provenance {
                    source: "bench".into(),
                    origin: Origin::Request(format!("writer-{w}")),
                };
                for b in 0..batches {
                    store.write(ws, &prov, batch(w, b)).unwrap();
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let objects = writers * batches * 100;
    println!(
        "{name}: {objects} objects in {secs:.2} s: {:.0} objects/s ({writers} writers, batches of 100)",
        objects as f64 / secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .expect("usage: postgres-writes URL [--batches B] [--writers W]");
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let (batches, writers) = (flag("--batches", 200), flag("--writers", 4));
    let pg = PostgresStore::open(url, PostgresOptions::default()).expect("open PostgreSQL");
    measure("postgres", Arc::new(pg), writers, batches);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("tiport.db"), SqliteOptions::default())
        .expect("open SQLite");
    measure("sqlite", Arc::new(sqlite), writers, batches);
}
