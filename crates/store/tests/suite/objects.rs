//! What a stored version reads back as; scans and counts of current objects.

use super::*;

pub fn object_fields_round_trip(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = indicator(1);
    let mut o = obj(&a, ts("2021-05-06T07:08:09.123Z"), false, "full");
    o.created = ts("2021-01-02T03:04:05.678Z");
    o.valid_from = Some(ts("2021-05-06T00:00:00.000Z"));
    o.valid_until = Some(ts("2022-05-06T00:00:00.000Z"));
    o.confidence = Some(85);
    o.tlp = Some(stix::Tlp::AmberStrict);
    o.labels = vec![
        "malicious-activity".into(),
        "c2".into(),
        "with space".into(),
        "comma, and \u{1f} unit separator".into(),
    ];
    o.json = json_of(&a, &o.created, &o.modified, false, "full");
    let before = Timestamp::now();
    let prov = Provenance {
        source: "Feed A".into(),
        origin: Origin::Request("req-42".into()),
    };
    assert_eq!(
        s.write(ws, &prov, vec![o.clone()]).unwrap(),
        vec![stored(true)]
    );
    let after = Timestamp::now();

    let got = s.current(ws, &o.id).unwrap().unwrap();
    assert_eq!(got.id, o.id);
    assert_eq!(got.object_type, "indicator");
    assert_eq!(got.modified.unix_nanos(), o.modified.unix_nanos());
    assert_eq!(got.created, o.created);
    assert_eq!(got.spec_version, "2.1");
    assert!(!got.revoked);
    assert_eq!(got.valid_from, o.valid_from);
    assert_eq!(got.valid_until, o.valid_until);
    assert_eq!(got.confidence, Some(85));
    assert_eq!(got.tlp, Some(stix::Tlp::AmberStrict));
    assert_eq!(got.labels, o.labels);
    assert_eq!(got.source, "Feed A");
    assert_eq!(got.origin, Some(Origin::Request("req-42".into())));
    assert!(got.current);
    assert_eq!(got.json, o.json);
    assert!(
        got.stored.unix_seconds() >= before.unix_seconds() - 1
            && got.stored.unix_seconds() <= after.unix_seconds() + 1,
        "stored is when it was written: {}",
        got.stored
    );
    assert_eq!(s.versions(ws, &o.id).unwrap(), vec![got]);

    // A minimal one: no optional fields, a 2.0 record, a malware.
    let m = "malware--00000000-0000-4000-8000-000000000009";
    let mut o = obj(m, at(1), true, "bare");
    o.spec_version = "2.0";
    s.write(ws, &prov, vec![o.clone()]).unwrap();
    let got = s.current(ws, &o.id).unwrap().unwrap();
    assert_eq!(got.object_type, "malware");
    assert_eq!(got.spec_version, "2.0");
    assert!(got.revoked);
    assert_eq!(
        (got.valid_from, got.valid_until, got.confidence, got.tlp),
        (None, None, None, None)
    );
    assert!(got.labels.is_empty());
    assert_eq!(got.json, o.json);
}

fn scan(s: &dyn Store, ws: WorkspaceId, filter: &ObjectFilter) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    s.scan_current(ws, filter, &mut |o| {
        assert!(o.current, "scans return current versions");
        out.push((o.id.to_string(), o.modified.unix_nanos()));
        true
    })
    .unwrap();
    out
}

pub fn object_scan_current_filters(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let other = env.workspace("other");
    let ind = |n: u32| indicator(n);
    let mal = |n: u32| format!("malware--00000000-0000-4000-8000-{n:012}");
    // Versions of indicator and malware `n`, modified `at(t)`.
    let i = |n: u32, t: i64, revoked: bool, tag: &str| obj(&ind(n), at(t), revoked, tag);
    let m = |n: u32, t: i64, revoked: bool, tag: &str| obj(&mal(n), at(t), revoked, tag);
    // Each write: workspace, source, versions. Out of id order, with history versions.
    let writes = [
        (ws, "a", vec![i(3, 1, false, "i3"), m(2, 1, false, "m2")]),
        (ws, "b", vec![i(1, 1, false, "i1"), m(1, 1, false, "m1")]),
        // ind(3)'s current version comes from b; its history from a.
        (ws, "b", vec![i(3, 2, false, "i3b")]),
        // ind(1)'s older version from a is history: ind(1) stays b's.
        (ws, "a", vec![i(1, 0, false, "i1old"), i(2, 5, true, "i2")]),
        (other, "a", vec![i(4, 1, false, "elsewhere")]),
    ];
    for (ws, source, objects) in writes {
        let provenance = Provenance {
            source: source.into(),
            origin: Origin::Request("r".into()),
        };
        s.write(ws, &provenance, objects).unwrap();
    }

    let all = scan(s, ws, &ObjectFilter::default());
    assert_eq!(
        all,
        vec![
            (ind(1), at(1).unix_nanos()),
            (ind(2), at(5).unix_nanos()),
            (ind(3), at(2).unix_nanos()),
            (mal(1), at(1).unix_nanos()),
            (mal(2), at(1).unix_nanos())
        ],
        "every current object once, in id order, none from another workspace"
    );
    let ids = |v: Vec<(String, i64)>| v.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    let by_type = |t: &str| ObjectFilter {
        object_type: Some(t.into()),
        ..ObjectFilter::default()
    };
    let by_source = |t: &str| ObjectFilter {
        source: Some(t.into()),
        ..ObjectFilter::default()
    };
    assert_eq!(
        ids(scan(s, ws, &by_type("indicator"))),
        vec![ind(1), ind(2), ind(3)]
    );
    assert_eq!(ids(scan(s, ws, &by_type("malware"))), vec![mal(1), mal(2)]);
    assert!(scan(s, ws, &by_type("campaign")).is_empty());
    assert_eq!(ids(scan(s, ws, &by_source("a"))), vec![ind(2), mal(2)]);
    assert_eq!(
        ids(scan(s, ws, &by_source("b"))),
        vec![ind(1), ind(3), mal(1)]
    );
    assert!(scan(s, ws, &by_source("c")).is_empty());
    let both = ObjectFilter {
        object_type: Some("indicator".into()),
        source: Some("b".into()),
        ..ObjectFilter::default()
    };
    assert_eq!(ids(scan(s, ws, &both)), vec![ind(1), ind(3)]);

    // The callback stops the scan.
    let mut seen = Vec::new();
    s.scan_current(ws, &ObjectFilter::default(), &mut |o| {
        seen.push(o.id.to_string());
        seen.len() < 2
    })
    .unwrap();
    assert_eq!(seen, vec![ind(1), ind(2)]);
}

pub fn object_count(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    assert_counts(s, ws, 0, 0);
    // An unrevoked version of indicator `n`, modified `at(t)`, and a revoked one.
    let v = |n: u32, t: i64, tag: &str| obj(&indicator(n), at(t), false, tag);
    let revoked = |n: u32, t: i64, tag: &str| obj(&indicator(n), at(t), true, tag);
    // Each write, and the objects and versions counted after it.
    let writes = [
        (vec![v(1, 1, "a"), v(2, 1, "b")], 2, 2),
        // A history version, and the same version again.
        (vec![v(1, 2, "a2"), v(1, 0, "a0"), v(1, 2, "a2 bis")], 2, 4),
        // Rejected versions are not counted.
        (vec![revoked(2, 5, "b5"), v(2, 6, "b6")], 2, 5),
    ];
    for (objects, n, versions) in writes {
        write(s, ws, objects);
        assert_counts(s, ws, n, versions);
    }
    // An import counts once committed.
    import_batches(s, ws, vec![vec![obj(&indicator(3), at(1), false, "c")]]);
    assert_counts(s, ws, 3, 6);
}

/// A write that fails (here: a derived object whose `created_at` does not point at a
/// timestamp, so its second version cannot be written) fails alone, even when the engine
/// commits it together with writes of other callers; theirs are stored.
pub fn object_failing_write_fails_alone(f: Factory) {
    let env = Env::new(f);
    let ws = env.ws;
    let prov = Provenance {
        source: "Feed".into(),
        origin: Origin::Request("r".into()),
    };
    // The bad object needs a stored first version for the created carry-over to be tried.
    let bad_id = indicator(900);
    let mut first = obj(&bad_id, at(0), false, "v1");
    first.derived = Some(Derived {
        content_hash: [1; 32],
        created_at: 0..0,
    });
    env.store.write(ws, &prov, vec![first.clone()]).unwrap();
    let mut second = obj(&bad_id, at(10), false, "v2");
    second.derived = Some(Derived {
        content_hash: [2; 32],
        created_at: 0..1,
    });
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = env.store.clone();
            let prov = prov.clone();
            let o = if i == 0 {
                second.clone()
            } else {
                obj(&indicator(910 + i), at(0), false, "good")
            };
            std::thread::spawn(move || store.write(ws, &prov, vec![o]))
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results[0].is_err(), "the bad write fails: {:?}", results[0]);
    for (i, r) in results.iter().enumerate().skip(1) {
        assert_eq!(r.as_ref().unwrap(), &vec![stored(true)], "write {i}");
        let id = indicator(910 + i as u32);
        assert!(
            env.store.current(ws, &sid(&id)).unwrap().is_some(),
            "write {i} is stored"
        );
    }
    // The bad write left nothing: its id still has only its first version.
    assert_eq!(env.store.versions(ws, &sid(&bad_id)).unwrap().len(), 1);
}

pub fn object_scan_current_label_revoked_validity_and_pages(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let id = |n: u32| indicator(n);
    let mut objects = Vec::new();
    for n in 1..=6u32 {
        let mut o = obj(&id(n), at(1), n == 3, &format!("o{n}"));
        o.labels = if n % 2 == 0 {
            vec!["c2".into(), "apt".into()]
        } else {
            vec!["apt".into()]
        };
        o.valid_from = Some(at(100 * n as i64));
        o.valid_until = (n != 6).then(|| at(100 * n as i64 + 150));
        o.tlp = (n % 3 == 0).then_some(stix::Tlp::Red);
        objects.push(o);
    }
    write(s, ws, objects);
    let ids = |filter: ObjectFilter| -> Vec<String> {
        scan(s, ws, &filter).into_iter().map(|(id, _)| id).collect()
    };
    assert_eq!(
        ids(ObjectFilter {
            label: Some("c2".into()),
            ..ObjectFilter::default()
        }),
        vec![id(2), id(4), id(6)]
    );
    assert_eq!(
        ids(ObjectFilter {
            label: Some("c".into()),
            ..ObjectFilter::default()
        }),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(ObjectFilter {
            revoked: Some(true),
            ..ObjectFilter::default()
        }),
        vec![id(3)]
    );
    assert_eq!(
        ids(ObjectFilter {
            revoked: Some(false),
            ..ObjectFilter::default()
        })
        .len(),
        5
    );
    // At 420: valid 4 (400..550) and 3 (300..450); 6 (from 600) not yet; 2 (200..350) over.
    assert_eq!(
        ids(ObjectFilter {
            valid_at: Some(at(420)),
            ..ObjectFilter::default()
        }),
        vec![id(3), id(4)]
    );
    // No end: valid from its start on.
    assert_eq!(
        ids(ObjectFilter {
            valid_at: Some(at(100_000)),
            ..ObjectFilter::default()
        }),
        vec![id(6)]
    );
    assert_eq!(
        ids(ObjectFilter {
            tlp: Some("red".into()),
            ..ObjectFilter::default()
        }),
        vec![id(3), id(6)]
    );
    // Expired by 450: 1 (ended 250), 2 (350) and 3 (450, at the instant); 6 never ends.
    assert_eq!(
        ids(ObjectFilter {
            expired_at: Some(at(450)),
            ..ObjectFilter::default()
        }),
        vec![id(1), id(2), id(3)]
    );
    // Pages: after an id, in id order.
    assert_eq!(
        ids(ObjectFilter {
            order: ObjectOrder::after(sid(&id(4))),
            ..ObjectFilter::default()
        }),
        vec![id(5), id(6)]
    );
    assert_eq!(
        ids(ObjectFilter {
            order: ObjectOrder::after(sid(&id(1))),
            label: Some("c2".into()),
            ..ObjectFilter::default()
        }),
        vec![id(2), id(4), id(6)]
    );
}

/// Scans in descending ids and in the order of storing, from the start and past a position,
/// with and without a type.
pub fn object_scan_current_orders(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let other = env.workspace("other");
    let (i1, i2, i3) = (indicator(1), indicator(2), indicator(3));
    let m1 = "malware--00000000-0000-4000-8000-000000000001".to_owned();
    // Stored in this order: i2, m1, i3, i1; then a new version of i2 makes it the newest.
    for id in [&i2, &m1, &i3, &i1] {
        write_one(s, ws, obj(id, at(1), false, "v1"));
        // The other workspace's objects interleave, and must never show.
        write_one(
            s,
            other,
            obj(&indicator(9), at(i64::from(id.len() as u8)), false, id),
        );
    }
    write_one(s, ws, obj(&i2, at(2), false, "v2"));
    let walk = |order: ObjectOrder, object_type: Option<&str>| -> Vec<String> {
        let mut out = Vec::new();
        let filter = ObjectFilter {
            object_type: object_type.map(str::to_owned),
            order,
            ..ObjectFilter::default()
        };
        s.scan_current(ws, &filter, &mut |o| {
            out.push((o.id.to_string(), o.seq));
            true
        })
        .unwrap();
        out.into_iter().map(|(id, _)| id).collect()
    };
    let seq_of = |id: &str| s.current(ws, &sid(id)).unwrap().unwrap().seq;
    let id_desc = |past: Option<&str>| ObjectOrder::Id {
        descending: true,
        past: past.map(sid),
    };
    let stored = |newest_first: bool, past: Option<&str>| ObjectOrder::Stored {
        newest_first,
        past: past.map(seq_of),
    };
    let all_desc = vec![m1.clone(), i3.clone(), i2.clone(), i1.clone()];
    assert_eq!(walk(id_desc(None), None), all_desc);
    assert_eq!(walk(id_desc(Some(&i3)), None), vec![i2.clone(), i1.clone()]);
    assert_eq!(
        walk(id_desc(Some(&m1)), Some("indicator")),
        vec![i3.clone(), i2.clone(), i1.clone()]
    );
    assert_eq!(
        walk(id_desc(Some(&i2)), Some("indicator")),
        vec![i1.clone()]
    );
    assert_eq!(walk(id_desc(None), Some("malware")), vec![m1.clone()]);

    let oldest_first = vec![m1.clone(), i3.clone(), i1.clone(), i2.clone()];
    assert_eq!(walk(stored(false, None), None), oldest_first);
    assert_eq!(
        walk(stored(false, Some(&i3)), None),
        vec![i1.clone(), i2.clone()]
    );
    assert_eq!(
        walk(stored(true, None), None),
        vec![i2.clone(), i1.clone(), i3.clone(), m1.clone()]
    );
    assert_eq!(
        walk(stored(true, Some(&i1)), None),
        vec![i3.clone(), m1.clone()]
    );
    assert_eq!(
        walk(stored(true, None), Some("indicator")),
        vec![i2.clone(), i1.clone(), i3.clone()]
    );
    // A later version is later in the order: its seq grew.
    assert!(seq_of(&i2) > seq_of(&i1));
}

/// The overview's counts: current objects by type, source and TLP, versions stored per day.
pub fn object_breakdown(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let from = |source: &str| Provenance {
        source: source.into(),
        origin: Origin::Request("r".into()),
    };
    let amber = |mut o: NewObject| {
        o.tlp = Some(stix::Tlp::Amber);
        o
    };
    let pattern = "attack-pattern--00000000-0000-4000-8000-000000000001";
    s.write(
        ws,
        &from("feed-a"),
        vec![
            amber(obj(&indicator(1), at(1), false, "1")),
            obj(&indicator(2), at(1), false, "2"),
            obj(pattern, at(1), false, "p"),
        ],
    )
    .unwrap();
    s.write(
        ws,
        &from("feed-b"),
        vec![amber(obj(&indicator(3), at(1), false, "3"))],
    )
    .unwrap();
    // A second version of indicator 1: one more version stored, still one object.
    s.write(
        ws,
        &from("feed-a"),
        vec![amber(obj(&indicator(1), at(2), false, "1b"))],
    )
    .unwrap();
    // Another workspace's objects are not counted.
    let other = env.workspace("other");
    s.write(
        other,
        &from("feed-c"),
        vec![obj(&indicator(9), at(1), false, "9")],
    )
    .unwrap();

    let now = Timestamp::now();
    let b = s
        .breakdown(
            ws,
            Timestamp::from_unix(now.unix_seconds() - 30 * 86_400, 0),
        )
        .unwrap();
    assert_eq!(
        b.by_type,
        [("indicator".into(), 3), ("attack-pattern".into(), 1)]
    );
    assert_eq!(b.by_source, [("feed-a".into(), 3), ("feed-b".into(), 1)]);
    assert_eq!(b.by_tlp, [(None, 2), (Some("amber".into()), 2)]);
    let today = now.unix_seconds().div_euclid(86_400);
    // Written a moment ago: today, or yesterday if the day turned since.
    assert_eq!(b.stored_per_day.iter().map(|(_, n)| n).sum::<u64>(), 5);
    assert!(b
        .stored_per_day
        .iter()
        .all(|(day, _)| *day == today || *day == today - 1));
    // Nothing stored since tomorrow.
    let tomorrow = Timestamp::from_unix((today + 1) * 86_400, 0);
    assert_eq!(s.breakdown(ws, tomorrow).unwrap().stored_per_day, []);
}

/// A scan whose deadline has passed walks one current object, passing the filters or not, and
/// says where it stopped; resumed there, it goes on.
pub fn object_scan_current_deadline(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let ids: Vec<String> = (1..=7).map(indicator).collect();
    for (n, id) in ids.iter().enumerate() {
        let mut o = obj(id, at(1), false, "v");
        // Only the 2nd and the 6th are red.
        o.tlp = (n == 1 || n == 5).then_some(stix::Tlp::Red);
        write_one(s, ws, o);
    }
    let seq_of = |id: &str| s.current(ws, &sid(id)).unwrap().unwrap().seq;
    for stored in [false, true] {
        let mut order = if stored {
            ObjectOrder::Stored {
                newest_first: false,
                past: None,
            }
        } else {
            ObjectOrder::default()
        };
        let mut found = Vec::new();
        let mut stops = Vec::new();
        loop {
            let filter = ObjectFilter {
                tlp: Some("red".into()),
                deadline: Some(std::time::Instant::now()),
                order: order.clone(),
                ..ObjectFilter::default()
            };
            let walked = s
                .scan_current(ws, &filter, &mut |o| {
                    found.push(o.id.to_string());
                    true
                })
                .unwrap();
            match walked {
                Walked::Done => break,
                Walked::OutOfTime(at) => {
                    order = match at {
                        ObjectPosition::Id(id) => {
                            stops.push(id.to_string());
                            ObjectOrder::after(id)
                        }
                        ObjectPosition::Seq(seq) => {
                            stops.push(ids.iter().find(|i| seq_of(i) == seq).unwrap().clone());
                            ObjectOrder::Stored {
                                newest_first: false,
                                past: Some(seq),
                            }
                        }
                    };
                }
            }
        }
        assert_eq!(
            found,
            vec![ids[1].clone(), ids[5].clone()],
            "stored: {stored}"
        );
        // Stopped after each one; the walk past the last found the end of the range.
        assert_eq!(stops, ids, "stored: {stored}");
    }
    // Without a deadline, one walk.
    let all = ObjectFilter::default();
    assert_eq!(
        s.scan_current(ws, &all, &mut |_| true).unwrap(),
        Walked::Done
    );
}
