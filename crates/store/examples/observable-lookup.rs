//! Observable lookups against a large embedded store (issue 4's target: p99 at most 2 ms with
//! 10 million objects stored). `scripts/bench-lookup.sh` runs it.
//!
//! ```text
//! cargo run --release -p store --example observable-lookup -- DIR [--objects N] [--probes P]
//! ```
//!
//! On first use, DIR gets a store of N indicators (default 10,000,000) written through the
//! import path, each with one observable as feeds carry them: IPv4 addresses (60%), CIDR
//! blocks /16 to /28 (5%), domains (15%), SHA-256 hashes (15%) and URLs (5%), ids random. A
//! DIR that already holds the store is reused, so the lookups can be measured again without
//! building it again.
//!
//! Then P lookups (default 100,000), each what `GET …/objects?observable=V` does: the index
//! probe (for an address, one per prefix length, so that blocks containing it are found) and
//! the current version of every id found. Half look for a value that is stored, half for one
//! that is not. Prints latency percentiles per kind.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use stix::{StixId, Timestamp};
use store::sqlite::{SqliteOptions, SqliteStore};
use store::{
    ImportFinish, ImportFormat, ImportId, ImportMode, ImportStatus, NewImport, NewObject,
    ObservableKey, Store, WorkspaceId,
};

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The observable of the `n`th object (or, with `salt`, of a value that was never stored) and
/// its kind.
fn observable(n: u64, salt: u64) -> (&'static str, String, ObservableKey) {
    let x = splitmix(n ^ salt.rotate_left(32));
    let y = splitmix(x);
    match x % 100 {
        0..=59 => {
            let a = Ipv4Addr::from((y >> 32) as u32);
            (
                "ipv4",
                a.to_string(),
                ObservableKey::ip(IpAddr::V4(a), 32).expect("a /32"),
            )
        }
        60..=64 => {
            let prefix = 16 + (y % 13) as u8;
            let a = Ipv4Addr::from((y >> 32) as u32);
            let key = ObservableKey::ip(IpAddr::V4(a), prefix).expect("a block");
            let ObservableKey::Ip { network, .. } = &key else {
                unreachable!()
            };
            ("cidr", format!("{network}/{prefix}"), key)
        }
        65..=79 => {
            let d = format!("h{:x}.example{}.com", y >> 16, y % 97);
            ("domain", d.clone(), ObservableKey::text(&d))
        }
        80..=94 => {
            let h = format!(
                "{:016x}{:016x}{:016x}{:016x}",
                x,
                y,
                splitmix(y),
                splitmix(x ^ y)
            );
            ("sha256", h.clone(), ObservableKey::text(&h))
        }
        _ => {
            let u = format!("http://h{:x}.example.net/p/{:x}", y >> 20, x >> 40);
            ("url", u.clone(), ObservableKey::text(&u))
        }
    }
}

fn object(n: u64, modified: &Timestamp) -> NewObject {
    let x = splitmix(n ^ 0x5eed);
    let y = splitmix(x);
    let id = format!(
        "indicator--{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        x >> 32,
        (x >> 16) & 0xffff,
        x & 0xfff,
        (y >> 48) & 0xfff,
        y & 0xffff_ffff_ffff
    );
    let (kind, value, key) = observable(n, 0);
    let pattern = match kind {
        "ipv4" | "cidr" => format!("[ipv4-addr:value = '{value}']"),
        "domain" => format!("[domain-name:value = '{value}']"),
        "sha256" => format!("[file:hashes.'SHA-256' = '{value}']"),
        _ => format!("[url:value = '{value}']"),
    };
    let json = format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","created":"{modified}","modified":"{modified}","pattern":"{pattern}","pattern_type":"stix","valid_from":"{modified}"}}"#
    );
    let id = StixId::parse(&id).expect("a valid id");
    NewObject {
        record: n,
        valid_from: Some(*modified),
        observables: vec![key],
        ..NewObject::new(id, *modified, *modified, json)
    }
}

fn build(store: &SqliteStore, ws: WorkspaceId, objects: u64) -> Result<(), store::StoreError> {
    let started = Instant::now();
    let import = NewImport {
        id: ImportId::random(),
        workspace: ws,
        source: "bench".into(),
        file_name: "synthetic".into(),
        format: ImportFormat::Json,
        mode: ImportMode::ValidOnly,
        file_path: None,
        created: Timestamp::now(),
        owner: "bench".into(),
    };
    store.create_import(&import)?;
    let mut w = store.begin_import(import.id, "bench")?;
    let modified = Timestamp::parse("2024-01-01T00:00:00.000Z").expect("a timestamp");
    let mut n = 0;
    while n < objects {
        let batch: Vec<NewObject> = (n..(n + 1024).min(objects))
            .map(|i| object(i, &modified))
            .collect();
        n += batch.len() as u64;
        w.push(batch)?;
        if n % 1_000_000 < 1024 {
            eprintln!("  {n} objects, {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    w.flush()?;
    w.commit(&ImportFinish::new(
        ImportStatus::Succeeded,
        objects,
        Timestamp::now(),
    ))?;
    eprintln!(
        "built {objects} objects in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// How many objects the store in `dir` holds, building `objects` of them first if it is empty.
/// The count is kept beside the store: counting 10 million rows scans the whole table (about
/// 25 s), which the lookups do not need to wait for.
fn stored_or_built(
    store: &SqliteStore,
    ws: WorkspaceId,
    dir: &std::path::Path,
    objects: u64,
) -> Result<u64, Box<dyn std::error::Error>> {
    let count_file = dir.join("objects.count");
    if let Ok(text) = std::fs::read_to_string(&count_file) {
        return Ok(text.trim().parse()?);
    }
    if store.count(ws)?.objects == 0 {
        eprintln!("building a store of {objects} objects in {}", dir.display());
        build(store, ws, objects)?;
    }
    let n = store.count(ws)?.objects;
    std::fs::write(&count_file, n.to_string())?;
    Ok(n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut objects: u64 = 10_000_000;
    let mut probes: u64 = 100_000;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--objects" => objects = args.next().ok_or("--objects N")?.parse()?,
            "--probes" => probes = args.next().ok_or("--probes P")?.parse()?,
            s => dir = Some(PathBuf::from(s)),
        }
    }
    let dir = dir.ok_or("usage: observable-lookup DIR [--objects N] [--probes P]")?;
    std::fs::create_dir_all(&dir)?;
    let store = SqliteStore::open(&dir.join("tiport.db"), SqliteOptions::default())?;
    // One workspace, made with the store; its id is the store's first.
    let ws = match store.workspaces()?.first() {
        Some(w) => w.id,
        None => {
            let ws = WorkspaceId::random();
            store.create_workspace(ws, "bench")?;
            ws
        }
    };
    let stored = stored_or_built(&store, ws, &dir, objects)?;
    eprintln!("{stored} objects stored; {probes} lookups");

    let mut by_kind: std::collections::BTreeMap<String, Vec<Duration>> = Default::default();
    let mut all = Vec::with_capacity(probes as usize);
    let mut found_hits = 0u64;
    for p in 0..probes {
        let hit = p % 2 == 0;
        let n = splitmix(p ^ 0xbeef) % stored;
        let (kind, value, _) = observable(n, if hit { 0 } else { 0xdead_beef });
        // The value as a client writes it; for a block, an address inside it.
        let key = match kind {
            "ipv4" | "cidr" => {
                let addr: Ipv4Addr = value.split('/').next().expect("an address").parse()?;
                ObservableKey::ip(IpAddr::V4(addr), 32).expect("a /32")
            }
            _ => ObservableKey::text(&value),
        };
        let t = Instant::now();
        let ids = store.find_observable(ws, &key, usize::MAX)?;
        let mut current = 0;
        for id in &ids {
            current += usize::from(store.current(ws, id)?.is_some());
        }
        let took = t.elapsed();
        if hit && current > 0 {
            found_hits += 1;
        }
        all.push(took);
        by_kind
            .entry(format!("{kind} {}", if hit { "stored" } else { "absent" }))
            .or_default()
            .push(took);
    }
    let pct = |v: &mut Vec<Duration>, p: f64| -> f64 {
        v.sort_unstable();
        let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[i.clamp(1, v.len()) - 1].as_secs_f64() * 1e3
    };
    println!(
        "{stored} objects; {probes} lookups; stored values found: {found_hits} of {}",
        probes.div_ceil(2)
    );
    println!(
        "all lookups (ms): p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        pct(&mut all, 50.0),
        pct(&mut all, 99.0),
        pct(&mut all, 99.9),
        pct(&mut all, 100.0)
    );
    for (kind, mut v) in by_kind {
        println!(
            "  {kind:<16} {:>6} lookups: p50 {:.3}  p99 {:.3}  max {:.3}",
            v.len(),
            pct(&mut v, 50.0),
            pct(&mut v, 99.0),
            pct(&mut v, 100.0)
        );
    }
    if found_hits < probes.div_ceil(2) {
        return Err("some stored values were not found".into());
    }
    Ok(())
}
