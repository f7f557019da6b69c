//! Property tests of the versioning rules: order independence, invariants, concurrency.
//!
//! Each test opens one store and gives every case fresh workspaces. The expected state comes
//! from a model of the rules stated in DESIGN.md: a version is refused only when storing it
//! would put an unrevoked version after a revoked one; the same id and modified again is
//! unchanged; the newest stored version is current.

use std::collections::BTreeMap;
use std::sync::Barrier;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::*;

const IDS: usize = 3;
const KEYS: u32 = 3;

/// A version of one of the test ids, as the generators make them.
#[derive(Debug, Clone, PartialEq)]
struct Version {
    id: usize,
    /// Seconds after 2020-01-01.
    modified: i64,
    revoked: bool,
    /// Tells contents apart; its low bits choose the observable keys.
    tag: u32,
}

fn key(k: u32) -> ObservableKey {
    ObservableKey::text(&format!("k{k}.example"))
}

impl Version {
    fn id(&self) -> String {
        indicator(self.id as u32)
    }

    fn json(&self) -> String {
        json_of(
            &self.id(),
            &created(),
            &at(self.modified),
            self.revoked,
            &format!("t{}", self.tag),
        )
    }

    fn keys(&self) -> Vec<u32> {
        (0..KEYS).filter(|k| self.tag & (1 << k) != 0).collect()
    }

    fn object(&self, record: u64) -> NewObject {
        let mut o = obj(
            &self.id(),
            at(self.modified),
            self.revoked,
            &format!("t{}", self.tag),
        );
        o.record = record;
        o.observables = self.keys().into_iter().map(key).collect();
        o
    }
}

/// What the model says becomes of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stored { current: bool },
    Unchanged,
    Rejected,
}

fn kind(o: &Outcome) -> Kind {
    match o {
        Outcome::Stored { current } => Kind::Stored { current: *current },
        Outcome::Unchanged => Kind::Unchanged,
        Outcome::Rejected(m) => {
            assert!(m.contains("revoked"), "a rejection names revoked: {m}");
            Kind::Rejected
        }
    }
}

/// The stored versions, by (id, modified).
#[derive(Debug, Default, Clone)]
struct Model {
    stored: BTreeMap<(usize, i64), Version>,
}

impl Model {
    fn of(&self, id: usize) -> impl Iterator<Item = &Version> {
        self.stored
            .range((id, i64::MIN)..=(id, i64::MAX))
            .map(|(_, v)| v)
    }

    fn apply(&mut self, v: &Version) -> Kind {
        if self.stored.contains_key(&(v.id, v.modified)) {
            return Kind::Unchanged;
        }
        let contradicts = self.of(v.id).any(|o| {
            (v.revoked && !o.revoked && o.modified > v.modified)
                || (!v.revoked && o.revoked && o.modified < v.modified)
        });
        if contradicts {
            return Kind::Rejected;
        }
        let current = self.of(v.id).all(|o| o.modified < v.modified);
        self.stored.insert((v.id, v.modified), v.clone());
        Kind::Stored { current }
    }

    /// The state [`state`] should read.
    fn state(&self) -> Vec<(Vec<Row>, Option<Row>)> {
        (0..IDS)
            .map(|id| {
                let vs: Vec<&Version> = self.of(id).collect();
                let rows: Vec<Row> = vs
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        (
                            at(v.modified).unix_nanos(),
                            v.revoked,
                            v.json(),
                            i + 1 == vs.len(),
                        )
                    })
                    .collect();
                let current = rows.last().cloned();
                (rows, current)
            })
            .collect()
    }

    /// The ids whose current version has key `k`.
    fn with_key(&self, k: u32) -> Vec<StixId> {
        (0..IDS)
            .filter(|&id| self.of(id).last().is_some_and(|v| v.keys().contains(&k)))
            .map(|id| sid(&indicator(id as u32)))
            .collect()
    }
}

fn ids() -> Vec<String> {
    (0..IDS).map(|i| indicator(i as u32)).collect()
}

/// Checks everything readable about `ws` against `model`.
fn check_state(s: &dyn Store, ws: WorkspaceId, model: &Model) {
    let got = state(s, ws, &ids());
    assert_eq!(got, model.state(), "versions and current versions");
    for k in 0..KEYS {
        assert_eq!(
            s.find_observable(ws, &key(k), 100).unwrap(),
            model.with_key(k),
            "ids with key k{k}"
        );
    }
    let objects = (0..IDS).filter(|&id| model.of(id).next().is_some()).count() as u64;
    assert_eq!(
        s.count(ws).unwrap(),
        Counts {
            objects,
            versions: model.stored.len() as u64
        }
    );
}

/// A set of versions that does not contradict itself: distinct modified per id, revocation
/// monotone (from some version on, every version is revoked), each version written one to
/// three times, identically.
fn consistent() -> impl Strategy<Value = Vec<Version>> {
    prop::collection::vec(
        (
            prop::collection::btree_set(0i64..30, 1..=5),
            any::<prop::sample::Index>(),
            prop::collection::vec((0u32..8, 1usize..=3), 5),
        ),
        1..=IDS,
    )
    .prop_map(|per_id| {
        let mut out = Vec::new();
        for (id, (mods, revoke_from, extras)) in per_id.into_iter().enumerate() {
            let revoke_from = revoke_from.index(mods.len() + 1);
            for (j, modified) in mods.into_iter().enumerate() {
                let (tag, copies) = extras[j];
                let v = Version {
                    id,
                    modified,
                    revoked: j >= revoke_from,
                    tag,
                };
                out.extend(std::iter::repeat_n(v, copies));
            }
        }
        out
    })
}

/// Any versions at all: repeated ids and modified values with other contents, revocations in
/// any order.
fn arbitrary() -> impl Strategy<Value = Vec<Version>> {
    prop::collection::vec(
        (0..IDS, 0i64..6, any::<bool>(), 0u32..8).prop_map(|(id, modified, revoked, tag)| {
            Version {
                id,
                modified,
                revoked,
                tag,
            }
        }),
        1..=16,
    )
}

/// Batches of writes, each marked with whether it goes through an import.
type Plan = Vec<(bool, Vec<Version>)>;

/// `writes` cut into batches where `cuts` says, each batch through an import if `via` says.
fn plan(writes: Vec<Version>, cuts: &[bool], via: &[bool]) -> Plan {
    let mut out: Plan = Vec::new();
    let mut batch = Vec::new();
    for (i, v) in writes.into_iter().enumerate() {
        batch.push(v);
        if cuts[i] {
            let n = out.len();
            out.push((via[n], std::mem::take(&mut batch)));
        }
    }
    if !batch.is_empty() {
        let n = out.len();
        out.push((via[n], batch));
    }
    out
}

/// A shuffled order of `versions`, cut into batches, some through imports.
fn plans(versions: impl Strategy<Value = Vec<Version>>) -> impl Strategy<Value = Plan> {
    versions.prop_flat_map(|vs| {
        let n = vs.len();
        (
            Just(vs).prop_shuffle(),
            prop::collection::vec(prop::bool::weighted(0.3), n),
            prop::collection::vec(any::<bool>(), n + 1),
        )
            .prop_map(|(vs, cuts, via)| plan(vs, &cuts, &via))
    })
}

/// Writes `plan` into `ws` (consecutive import batches share one import, one push each) and
/// checks every outcome against `model`, which it updates. Returns the outcomes.
fn run_plan(s: &dyn Store, ws: WorkspaceId, plan: &Plan, model: &mut Model) -> Vec<Kind> {
    let mut kinds = Vec::new();
    let mut record = 0u64;
    let mut i = 0;
    while i < plan.len() {
        if !plan[i].0 {
            let batch = &plan[i].1;
            let objects: Vec<NewObject> = batch.iter().map(|v| v.object(0)).collect();
            let got: Vec<Kind> = write(s, ws, objects).iter().map(kind).collect();
            let expected: Vec<Kind> = batch.iter().map(|v| model.apply(v)).collect();
            assert_eq!(got, expected, "outcomes of writing {batch:?}");
            kinds.extend(got);
            i += 1;
            continue;
        }
        let (_, mut w) = begun_import(s, ws, Timestamp::now(), "prop");
        let mut expected = WriteSummary::default();
        while i < plan.len() && plan[i].0 {
            let mut objects = Vec::new();
            for v in &plan[i].1 {
                let k = model.apply(v);
                kinds.push(k);
                let outcome = match k {
                    Kind::Stored { current } => Outcome::Stored { current },
                    Kind::Unchanged => Outcome::Unchanged,
                    Kind::Rejected => Outcome::Rejected(String::new()),
                };
                expected.add(record, &outcome);
                objects.push(v.object(record));
                record += 1;
            }
            w.push(objects).unwrap();
            i += 1;
        }
        let got = w.flush().unwrap();
        assert_eq!(
            (got.stored, got.unchanged),
            (expected.stored, expected.unchanged),
            "import totals"
        );
        let rejected = |s: &WriteSummary| s.rejected.iter().map(|r| r.0).collect::<Vec<_>>();
        assert_eq!(rejected(&got), rejected(&expected), "rejected records");
        for (_, m) in &got.rejected {
            assert!(m.contains("revoked"), "a rejection names revoked: {m}");
        }
        w.commit(&ImportFinish::new(
            ImportStatus::Succeeded,
            got.stored + got.unchanged,
            Timestamp::now(),
        ))
        .unwrap();
    }
    kinds
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    })
}

/// Any order of a consistent set of versions, written in any batches through writes and
/// imports, ends in the same state, with nothing rejected.
pub fn property_consistent_versions_any_order_same_state(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    runner(64)
        .run(&plans(consistent()), |mixed| {
            // The state depends on the set only: that of writing it oldest first, in one write.
            let mut sorted: Vec<Version> =
                mixed.iter().flat_map(|(_, b)| b.iter().cloned()).collect();
            sorted.sort_by_key(|v| (v.id, v.modified));
            let mut expected = Model::default();
            for v in &sorted {
                expected.apply(v);
            }
            // The same order and batches through writes only, through imports only, and mixed.
            let through =
                |import: bool| -> Plan { mixed.iter().map(|(_, b)| (import, b.clone())).collect() };
            for plan in [through(false), through(true), mixed.clone()] {
                let ws = env.workspace("prop");
                let mut model = Model::default();
                let kinds = run_plan(s, ws, &plan, &mut model);
                assert!(
                    !kinds.contains(&Kind::Rejected),
                    "a consistent set has no rejections"
                );
                check_state(s, ws, &expected);
            }
            Ok(())
        })
        .unwrap();
}

/// Whatever arrives, in whatever order: every outcome is what the rules say, and the stored
/// versions keep the invariants.
pub fn property_arbitrary_versions_keep_invariants(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    runner(64)
        .run(&plans(arbitrary()), |plan| {
            let ws = env.workspace("prop");
            let mut model = Model::default();
            run_plan(s, ws, &plan, &mut model);
            check_state(s, ws, &model);

            // The invariants, checked on what the store holds, independently of the model.
            let input: Vec<Version> = plan.iter().flat_map(|(_, b)| b.iter().cloned()).collect();
            for id in 0..IDS {
                let id_text = sid(&indicator(id as u32));
                let versions = s.versions(ws, &id_text).unwrap();
                let current = s.current(ws, &id_text).unwrap();
                assert_eq!(
                    current.as_ref(),
                    versions.last(),
                    "current is the newest stored"
                );
                for pair in versions.windows(2) {
                    assert!(
                        pair[0].modified < pair[1].modified,
                        "each version once, oldest first"
                    );
                    assert!(
                        pair[0].revoked <= pair[1].revoked,
                        "nothing unrevoked after a revocation"
                    );
                }
                for (i, v) in versions.iter().enumerate() {
                    assert_eq!(v.current, i + 1 == versions.len());
                    assert!(
                        input.iter().any(|w| w.id == id
                            && at(w.modified).unix_nanos() == v.modified.unix_nanos()
                            && w.revoked == v.revoked
                            && w.json() == v.json),
                        "every stored version came from the input: {}",
                        v.json
                    );
                    // The first write of a version that was not refused is the one stored.
                    let first = Model::first_accepted(&plan, id, v.modified.unix_nanos());
                    assert_eq!(
                        first.map(|w| w.json()),
                        Some(v.json.clone()),
                        "the first stored wins"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

impl Model {
    /// The first write of (`id`, `modified`) in `plan` that the rules accepted.
    fn first_accepted(plan: &Plan, id: usize, modified: i64) -> Option<Version> {
        let mut m = Model::default();
        for (_, b) in plan {
            for v in b {
                if let Kind::Stored { .. } = m.apply(v) {
                    if v.id == id && at(v.modified).unix_nanos() == modified {
                        return Some(v.clone());
                    }
                }
            }
        }
        None
    }
}

/// Four threads write overlapping parts of one consistent set at once, one of them through an
/// import; the end state is the one writing them one after another gives, and every version
/// was stored by exactly one writer.
pub fn property_concurrent_writers_match_sequential(f: Factory) {
    let env = Env::new(f);
    let store = env.store.clone();
    let strategy = consistent().prop_flat_map(|vs| {
        let n = vs.len();
        let part = || {
            (
                prop::sample::subsequence(vs.clone(), 0..=n).prop_shuffle(),
                prop::collection::vec(prop::bool::weighted(0.3), n),
            )
                .prop_map(|(part, cuts)| plan(part, &cuts, &vec![false; cuts.len() + 1]))
        };
        (part(), part(), part(), part(), any::<bool>())
    });
    runner(32)
        .run(&strategy, |(p0, p1, p2, p3, first_imports)| {
            let plans = [p0, p1, p2, p3];
            let mut union = Model::default();
            let mut writes = 0;
            for (_, b) in plans.iter().flatten() {
                for v in b {
                    union.apply(v);
                    writes += 1;
                }
            }

            let concurrent = env.workspace("concurrent");
            let barrier = Barrier::new(plans.len());
            let totals: Vec<(u64, u64)> = std::thread::scope(|scope| {
                let handles: Vec<_> = plans
                    .iter()
                    .enumerate()
                    .map(|(t, plan)| {
                        let store = store.clone();
                        let barrier = &barrier;
                        scope.spawn(move || {
                            let s = &*store;
                            let via_import = t == 0 && first_imports;
                            let import = via_import.then(|| {
                                queued_import(s, concurrent, Timestamp::now(), "thread-0").id
                            });
                            barrier.wait();
                            let (mut stored, mut unchanged) = (0, 0);
                            if let Some(id) = import {
                                let mut w = s.begin_import(id, "thread-0").unwrap();
                                for (_, b) in plan {
                                    w.push(b.iter().map(|v| v.object(0)).collect()).unwrap();
                                }
                                let sum = w.flush().unwrap();
                                assert!(sum.rejected.is_empty(), "{:?}", sum.rejected);
                                w.commit(&ImportFinish::new(
                                    ImportStatus::Succeeded,
                                    sum.stored,
                                    Timestamp::now(),
                                ))
                                .unwrap();
                                return (sum.stored, sum.unchanged);
                            }
                            for (_, b) in plan {
                                let objects = b.iter().map(|v| v.object(0)).collect();
                                for o in s.write(concurrent, &req("t"), objects).unwrap() {
                                    match o {
                                        Outcome::Stored { .. } => stored += 1,
                                        Outcome::Unchanged => unchanged += 1,
                                        Outcome::Rejected(m) => panic!("rejected: {m}"),
                                    }
                                }
                            }
                            (stored, unchanged)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let stored: u64 = totals.iter().map(|t| t.0).sum();
            let unchanged: u64 = totals.iter().map(|t| t.1).sum();
            assert_eq!(
                stored,
                union.stored.len() as u64,
                "each version stored by exactly one writer"
            );
            assert_eq!(stored + unchanged, writes);
            check_state(&*store, concurrent, &union);

            let sequential = env.workspace("sequential");
            let mut model = Model::default();
            for plan in &plans {
                run_plan(&*store, sequential, plan, &mut model);
            }
            assert_eq!(
                state(&*store, sequential, &ids()),
                state(&*store, concurrent, &ids())
            );
            Ok(())
        })
        .unwrap();
}
