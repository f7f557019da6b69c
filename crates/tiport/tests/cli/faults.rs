//! Fault injection: `tiport serve` killed (SIGKILL) at random moments while clients upload
//! and an import runs, restarted on the same data directory, again and again. After every
//! kill, every version a client was told is stored (a 200) must be there, and no import may be
//! left `queued` or `running`.
//!
//! The import runs in a workspace of its own, so that the clients' uploads are answered while
//! it runs (an upload to the workspace an import is writing waits for it): the kill then finds
//! upload frames and the import's extents interleaved in the version log, the case recovery
//! must get right.
//!
//! The moments come from a seeded generator, so a failing run can be repeated exactly:
//! `TIPORT_KILL_SEED=<the seed it printed> cargo test -p tiport --test cli faults`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{import_records, run_in};
use crate::service::Service;

use test_support::Rng;

/// A version a client was told is stored.
type Acked = (String, String);

fn version(id: &str, modified: &str, tag: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2024-01-01T00:00:00.000Z", "modified": modified,
        "pattern": format!("[domain-name:value = '{tag}.example']"),
        "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z",
    })
}

/// One client: requests of new objects and of newer versions of objects it stored before,
/// until a request fails (the service was killed).
fn client(s: &Service, token: &str, round: u64, client: u64, seed: u64, acked: &Mutex<Vec<Acked>>) {
    let mut rng = Rng(seed);
    let mut mine: Vec<String> = Vec::new();
    for request in 0u64.. {
        let mut objects = Vec::new();
        let mut ids = Vec::new();
        for i in 0..10u64 {
            let n = (round << 32) | (client << 24) | (request << 8) | i;
            let id = format!(
                "indicator--{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                n >> 32,
                (n >> 16) & 0xffff,
                (n >> 4) & 0xfff,
                n & 0xf,
                seed & 0xffff_ffff_ffff
            );
            let modified = "2024-01-01T00:00:00.000Z".to_owned();
            objects.push(version(&id, &modified, &format!("n{n}")));
            ids.push((id, modified));
        }
        // Newer versions of objects stored before, by this client.
        for _ in 0..mine.len().min(5) {
            let id = mine[rng.below(mine.len())].clone();
            let modified = format!(
                "2024-02-{:02}T00:{:02}:{:02}.{:03}Z",
                1 + round % 28,
                request % 60,
                client * 10 + rng.below(10) as u64,
                rng.below(1000)
            );
            if ids.iter().any(|(i, m)| *i == id && *m == modified) {
                continue;
            }
            objects.push(version(&id, &modified, "update"));
            ids.push((id, modified));
        }
        let body = json!({"sourcesystem": "faults", "stixobjects": objects}).to_string();
        let sent = s
            .agent
            .post(s.upload_url(&s.cred("workspace_id")))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        match sent {
            Ok(r) if r.status() == 200 => {
                for (id, _) in ids.iter().take(10) {
                    mine.push(id.clone());
                }
                acked.lock().unwrap().extend(ids);
            }
            _ => return,
        }
    }
}

/// A CSV import of `rows` indicators.
fn csv(round: u64, rows: u64) -> Vec<u8> {
    let mut text = String::from("observableType,observableValue,validFrom\n");
    for i in 0..rows {
        text.push_str(&format!(
            "domain-name,r{round}-{i}.import.example,2024-01-01T00:00:00Z\n"
        ));
    }
    text.into_bytes()
}

/// Checks every acknowledged version against the store on `dir`, opened as a restart opens
/// it (which applies what the log holds past the database).
fn all_there(dir: &std::path::Path, ws: &str, acked: &[Acked]) {
    let store =
        store::sqlite::SqliteStore::open(&dir.join("tiport.db"), Default::default()).unwrap();
    let ws = store::WorkspaceId::parse(ws).unwrap();
    let mut ids: Vec<&str> = acked.iter().map(|(i, _)| i.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut stored: HashSet<(String, String)> = HashSet::new();
    for id in ids {
        let sid = stix::StixId::parse(id).unwrap();
        for v in store::Store::versions(&store, ws, &sid).unwrap() {
            let json: Value = serde_json::from_str(&v.json).unwrap();
            stored.insert((id.to_owned(), json["modified"].as_str().unwrap().to_owned()));
        }
    }
    let lost: Vec<&Acked> = acked.iter().filter(|a| !stored.contains(*a)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged versions lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(3)]
    );
}

#[test]
fn acknowledged_versions_survive_ten_kills_at_random_moments() {
    let seed = std::env::var("TIPORT_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0011u64);
    eprintln!("fault injection seed: {seed} (TIPORT_KILL_SEED)");
    let mut rng = Rng(seed);
    // A fixed public URL: the issuer, and so the token, survive restarts on other ports.
    let public = ["--public-url", "https://faults.example"];
    let mut dir = tempfile::tempdir().unwrap();
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut imports = 0;
    const IMPORT_WS: &str = "5eed0011-0000-4000-8000-000000000001";
    for round in 0..10u64 {
        let s = Service::start_in(dir, &public, &[]);
        let token = s.token();
        let ws = s.cred("workspace_id");
        if round == 0 {
            // The import's workspace, made beside the running service as an operator would.
            for args in [
                vec![
                    "workspace",
                    "create",
                    "--name",
                    "imports",
                    "--id",
                    IMPORT_WS,
                ],
                vec![
                    "role",
                    "grant",
                    "--workspace",
                    IMPORT_WS,
                    "--principal",
                    &s.cred("client_id"),
                    "--role",
                    "contributor",
                ],
            ] {
                let out = run_in(s.dir.path(), &args);
                assert!(
                    out.status.success(),
                    "{args:?}: {}",
                    crate::helpers::stderr(&out)
                );
            }
        }
        // An import, whose rows the kill may find anywhere: being received, queued, running.
        let (status, _) = s.import_into(
            IMPORT_WS,
            &token,
            &[("source", "faults import")],
            "faults.csv",
            &csv(round, 2_000 + rng.below(20_000) as u64),
        );
        if status == 202 {
            imports += 1;
        }
        let kill_after = Duration::from_millis(150 + rng.below(1_200) as u64);
        std::thread::scope(|scope| {
            for c in 0..3u64 {
                let (s, token, acked) = (&s, &token, &*acked);
                let seed = rng.next_u64();
                scope.spawn(move || client(s, token, round, c, seed, acked));
            }
            std::thread::sleep(kill_after);
            // SIGKILL: no chance to finish anything. The clients are still sending, so the
            // child is borrowed; kill(2) through its pid, checked.
            let pid = libc::pid_t::try_from(s.child.id()).expect("a pid");
            // SAFETY: a pid this test spawned and has not reaped.
            let sent = unsafe { libc::kill(pid, libc::SIGKILL) };
            assert_eq!(sent, 0, "SIGKILL: {}", std::io::Error::last_os_error());
        });
        let mut s = s;
        s.child.wait().expect("wait for the killed serve");
        dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
        drop(s);
        let acked_now = acked.lock().unwrap().clone();
        all_there(dir.path(), &ws, &acked_now);
        // Every command that opens the store fails imports whose process is gone: none is
        // left queued or running.
        for r in import_records(dir.path(), IMPORT_WS, None) {
            assert!(
                !["queued", "running"].contains(&r["status"].as_str().unwrap()),
                "round {round}: {r}"
            );
        }
        let out = run_in(dir.path(), &["workspace", "list"]);
        assert!(out.status.success());
    }
    let acked = acked.lock().unwrap();
    eprintln!(
        "fault injection: 10 kills, {} acknowledged versions kept, {imports} imports posted",
        acked.len()
    );
    // Not a speed check: a sign that the kills found uploads in flight at all.
    assert!(acked.len() >= 100, "the clients got going: {}", acked.len());
    assert!(imports >= 5, "imports were posted: {imports}");
}
