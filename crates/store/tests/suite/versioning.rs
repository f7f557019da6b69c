//! The versioning rules of DESIGN.md "Semantics", one case at a time.

use super::*;

fn modifieds(s: &dyn Store, ws: WorkspaceId, id: &str) -> Vec<(i64, bool, bool)> {
    s.versions(ws, &sid(id))
        .unwrap()
        .iter()
        .map(|v| (v.modified.unix_nanos(), v.revoked, v.current))
        .collect()
}

fn n(t: i64) -> i64 {
    at(t).unix_nanos()
}

pub fn versioning_newest_modified_is_current(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = indicator(1);
    let id = sid(&a);
    assert_eq!(
        write(s, ws, vec![obj(&a, at(20), false, "v20")]),
        vec![stored(true)]
    );

    // Older, arriving later: history only.
    assert_eq!(
        write(s, ws, vec![obj(&a, at(10), false, "v10")]),
        vec![stored(false)]
    );
    let cur = s.current(ws, &id).unwrap().unwrap();
    assert_eq!(cur.modified.unix_nanos(), n(20));
    assert!(cur.current && cur.json.contains("v20"));
    assert_eq!(
        modifieds(s, ws, &a),
        vec![(n(10), false, false), (n(20), false, true)]
    );

    // Between the two: still history.
    assert_eq!(
        write(s, ws, vec![obj(&a, at(15), false, "v15")]),
        vec![stored(false)]
    );
    // Newer: current.
    assert_eq!(
        write(s, ws, vec![obj(&a, at(30), false, "v30")]),
        vec![stored(true)]
    );
    assert!(s.current(ws, &id).unwrap().unwrap().json.contains("v30"));
    assert_eq!(
        modifieds(s, ws, &a),
        vec![
            (n(10), false, false),
            (n(15), false, false),
            (n(20), false, false),
            (n(30), false, true)
        ]
    );
    let jsons: Vec<String> = s
        .versions(ws, &id)
        .unwrap()
        .into_iter()
        .map(|v| v.json)
        .collect();
    assert_eq!(
        jsons,
        vec![
            json_of(&a, &created(), &at(10), false, "v10"),
            json_of(&a, &created(), &at(15), false, "v15"),
            json_of(&a, &created(), &at(20), false, "v20"),
            json_of(&a, &created(), &at(30), false, "v30"),
        ],
        "each version keeps its own JSON, oldest first"
    );

    // Several versions of one id in one write, in any order.
    let b = indicator(2);
    assert_eq!(
        write(
            s,
            ws,
            vec![
                obj(&b, at(5), false, "b5"),
                obj(&b, at(7), false, "b7"),
                obj(&b, at(6), false, "b6")
            ]
        ),
        vec![stored(true), stored(true), stored(false)]
    );
    assert!(s
        .current(ws, &sid(&b))
        .unwrap()
        .unwrap()
        .json
        .contains("b7"));
    assert_eq!(s.current(ws, &sid(&indicator(3))).unwrap(), None);
    assert!(s.versions(ws, &sid(&indicator(3))).unwrap().is_empty());
}

pub fn versioning_same_version_again_is_unchanged(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = indicator(1);
    let id = sid(&a);
    assert_eq!(
        write(s, ws, vec![obj(&a, at(20), false, "first")]),
        vec![stored(true)]
    );
    // A retry, and the same version with other content: nothing changes, the first wins.
    assert_eq!(
        write(s, ws, vec![obj(&a, at(20), false, "first")]),
        vec![Outcome::Unchanged]
    );
    assert_eq!(
        write(s, ws, vec![obj(&a, at(20), false, "second")]),
        vec![Outcome::Unchanged]
    );
    // Even one that differs in revoked: it is the same version.
    assert_eq!(
        write(s, ws, vec![obj(&a, at(20), true, "third")]),
        vec![Outcome::Unchanged]
    );
    let cur = s.current(ws, &id).unwrap().unwrap();
    assert_eq!(cur.json, json_of(&a, &created(), &at(20), false, "first"));
    assert!(!cur.revoked);

    // The same for a history version.
    assert_eq!(
        write(s, ws, vec![obj(&a, at(10), false, "old")]),
        vec![stored(false)]
    );
    assert_eq!(
        write(s, ws, vec![obj(&a, at(10), false, "old-again")]),
        vec![Outcome::Unchanged]
    );
    // And within one write.
    assert_eq!(
        write(
            s,
            ws,
            vec![obj(&a, at(30), false, "x"), obj(&a, at(30), false, "y")]
        ),
        vec![stored(true), Outcome::Unchanged]
    );
    let versions = s.versions(ws, &id).unwrap();
    assert_eq!(versions.len(), 3);
    assert!(versions[0].json.contains(r#""name":"old""#));
    assert!(versions[1].json.contains(r#""name":"first""#));
    assert!(versions[2].json.contains(r#""name":"x""#));
    assert_eq!(
        s.count(ws).unwrap(),
        Counts {
            objects: 1,
            versions: 3
        }
    );
}

pub fn versioning_same_instant_other_precision_is_unchanged(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = indicator(1);
    let m3 = ts("2021-03-04T05:06:07.100Z");
    let m6 = ts("2021-03-04T05:06:07.100000Z");
    let m1 = ts("2021-03-04T05:06:07.1Z");
    assert_eq!(
        write(s, ws, vec![obj(&a, m3, false, "ms")]),
        vec![stored(true)]
    );
    assert_eq!(
        write(s, ws, vec![obj(&a, m6, false, "us")]),
        vec![Outcome::Unchanged]
    );
    assert_eq!(
        write(s, ws, vec![obj(&a, m1, false, "ds")]),
        vec![Outcome::Unchanged]
    );
    // A nanosecond later is another version.
    let later = ts("2021-03-04T05:06:07.100000001Z");
    assert_eq!(
        write(s, ws, vec![obj(&a, later, false, "ns")]),
        vec![stored(true)]
    );
    let v = s.versions(ws, &sid(&a)).unwrap();
    assert_eq!(v.len(), 2);
    assert!(v[0].json.contains(r#""name":"ms""#));
    assert_eq!(v[1].modified.unix_nanos(), later.unix_nanos());
}

pub fn versioning_revoked_is_final(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = indicator(1);
    let id = sid(&a);
    assert_eq!(
        write(s, ws, vec![obj(&a, at(10), false, "v10")]),
        vec![stored(true)]
    );
    assert_eq!(
        write(s, ws, vec![obj(&a, at(20), true, "v20")]),
        vec![stored(true)]
    );
    let out = write(s, ws, vec![obj(&a, at(30), false, "v30")]);
    assert_rejected_revoked(&out[0]);
    let cur = s.current(ws, &id).unwrap().unwrap();
    assert!(
        cur.revoked && cur.json.contains("v20"),
        "the rejected version is not stored"
    );
    assert_eq!(
        modifieds(s, ws, &a),
        vec![(n(10), false, false), (n(20), true, true)]
    );

    // A newer version that is still revoked is fine.
    assert_eq!(
        write(s, ws, vec![obj(&a, at(40), true, "v40")]),
        vec![stored(true)]
    );
    // An older unrevoked one before the revocation is history.
    assert_eq!(
        write(s, ws, vec![obj(&a, at(5), false, "v5")]),
        vec![stored(false)]
    );
    // An older revoked one after the revocation is history too.
    assert_eq!(
        write(s, ws, vec![obj(&a, at(30), true, "v30r")]),
        vec![stored(false)]
    );
    assert_rejected_revoked(&write(s, ws, vec![obj(&a, at(50), false, "v50")])[0]);
    assert_eq!(
        modifieds(s, ws, &a),
        vec![
            (n(5), false, false),
            (n(10), false, false),
            (n(20), true, false),
            (n(30), true, false),
            (n(40), true, true)
        ]
    );
}

pub fn versioning_older_revoked_after_newer_unrevoked_is_rejected(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = indicator(1);
    assert_eq!(
        write(s, ws, vec![obj(&a, at(20), false, "v20")]),
        vec![stored(true)]
    );
    assert_rejected_revoked(&write(s, ws, vec![obj(&a, at(10), true, "v10")])[0]);
    assert_eq!(modifieds(s, ws, &a), vec![(n(20), false, true)]);

    // The unrevoked version need not be the current one.
    let b = indicator(2);
    write(
        s,
        ws,
        vec![obj(&b, at(10), false, "b10"), obj(&b, at(30), true, "b30")],
    );
    assert_rejected_revoked(&write(s, ws, vec![obj(&b, at(5), true, "b5")])[0]);
    assert_eq!(
        write(s, ws, vec![obj(&b, at(20), true, "b20")]),
        vec![stored(false)]
    );
    assert_eq!(
        modifieds(s, ws, &b),
        vec![
            (n(10), false, false),
            (n(20), true, false),
            (n(30), true, true)
        ]
    );
}

pub fn versioning_unrevoked_between_revoked_versions_is_rejected(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = indicator(1);
    assert_eq!(
        write(
            s,
            ws,
            vec![obj(&a, at(10), true, "v10"), obj(&a, at(30), true, "v30")]
        ),
        vec![stored(true), stored(true)]
    );
    // Older than the current version but newer than a revoked one: it would un-revoke.
    assert_rejected_revoked(&write(s, ws, vec![obj(&a, at(20), false, "v20")])[0]);
    // Older than every revoked version: history.
    assert_eq!(
        write(s, ws, vec![obj(&a, at(5), false, "v5")]),
        vec![stored(false)]
    );
    assert_eq!(
        modifieds(s, ws, &a),
        vec![
            (n(5), false, false),
            (n(10), true, false),
            (n(30), true, true)
        ]
    );
}

pub fn versioning_rejection_does_not_stop_the_batch(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let (a, b) = (indicator(1), indicator(2));
    let out = write(
        s,
        ws,
        vec![
            obj(&a, at(10), true, "a10"),
            obj(&a, at(20), false, "a20"),
            obj(&b, at(10), false, "b10"),
            obj(&a, at(30), true, "a30"),
        ],
    );
    assert_eq!(out[0], stored(true));
    assert_rejected_revoked(&out[1]);
    assert_eq!(out[2..], [stored(true), stored(true)]);
    assert_eq!(
        s.count(ws).unwrap(),
        Counts {
            objects: 2,
            versions: 3
        }
    );
}

pub fn versioning_derived_same_content_is_unchanged(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = indicator(1);
    let id = sid(&a);
    assert_eq!(
        write(s, ws, vec![derived(&a, at(10), at(10), 1, "row")]),
        vec![stored(true)]
    );
    // Imported again later: a newer modified, the same content.
    assert_eq!(
        write(s, ws, vec![derived(&a, at(20), at(20), 1, "row")]),
        vec![Outcome::Unchanged]
    );
    assert_eq!(s.versions(ws, &id).unwrap().len(), 1);
    assert_eq!(
        s.current(ws, &id).unwrap().unwrap().modified.unix_nanos(),
        n(10)
    );

    // Changed, then changed back: the content is compared with the current version only.
    assert_eq!(
        write(s, ws, vec![derived(&a, at(30), at(30), 2, "row2")]),
        vec![stored(true)]
    );
    assert_eq!(
        write(s, ws, vec![derived(&a, at(40), at(40), 1, "row")]),
        vec![stored(true)]
    );
    assert_eq!(
        write(s, ws, vec![derived(&a, at(50), at(50), 1, "row")]),
        vec![Outcome::Unchanged]
    );
    assert_eq!(
        s.versions(ws, &id)
            .unwrap()
            .iter()
            .map(|v| v.modified.unix_nanos())
            .collect::<Vec<_>>(),
        vec![n(10), n(30), n(40)]
    );
}

pub fn versioning_derived_change_keeps_first_created(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = indicator(1);
    let id = sid(&a);
    let first = ts("2020-01-01T00:00:10.123Z");
    assert_eq!(
        write(s, ws, vec![derived(&a, first, first, 1, "row")]),
        vec![stored(true)]
    );
    let cur = s.current(ws, &id).unwrap().unwrap();
    assert_eq!(
        cur.json,
        json_of(&a, &first, &first, false, "row"),
        "a first version is stored as given"
    );
    assert_eq!(cur.created, first);

    let second = ts("2020-02-02T00:00:20.456Z");
    assert_eq!(
        write(s, ws, vec![derived(&a, second, second, 2, "row, changed")]),
        vec![stored(true)]
    );
    let cur = s.current(ws, &id).unwrap().unwrap();
    assert_eq!(cur.modified.unix_nanos(), second.unix_nanos());
    assert_eq!(cur.created, first, "created is the first version's");
    assert_eq!(
        cur.json,
        json_of(&a, &first, &second, false, "row, changed"),
        "the stored JSON carries the first version's created, as it was written"
    );

    let third = ts("2020-03-03T00:00:30.789Z");
    assert_eq!(
        write(s, ws, vec![derived(&a, third, third, 3, "row, again")]),
        vec![stored(true)]
    );
    let cur = s.current(ws, &id).unwrap().unwrap();
    assert_eq!(cur.created, first);
    assert_eq!(cur.json, json_of(&a, &first, &third, false, "row, again"));
    let created: Vec<Timestamp> = s
        .versions(ws, &id)
        .unwrap()
        .iter()
        .map(|v| v.created)
        .collect();
    assert_eq!(created, vec![first, first, first]);
}

/// A scan of versions resumes exactly after the one given, versions a nanosecond apart too
/// (the HTTP edge streams versions in batches, each resuming after the last).
pub fn versioning_scan_resumes_after_a_version(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = indicator(1);
    let base = at(10);
    let nanos = |n: u32| Timestamp::from_unix(base.unix_seconds(), n);
    // Versions that differ below the microsecond, and one a second later.
    let times = [nanos(0), nanos(1), nanos(999), nanos(1_000), at(11)];
    for t in times {
        write(s, ws, vec![obj(&a, t, false, "v")]);
    }
    let after = |t: Option<Timestamp>| {
        let mut seen = Vec::new();
        s.scan_versions(ws, &sid(&a), t.as_ref(), &mut |o| {
            seen.push(o.modified.unix_nanos());
            true
        })
        .unwrap();
        seen
    };
    let all: Vec<i64> = times.iter().map(|t| t.unix_nanos()).collect();
    assert_eq!(after(None), all);
    for (i, t) in times.iter().enumerate() {
        assert_eq!(after(Some(*t)), all[i + 1..].to_vec(), "after {t}");
    }
    // Stopping early stops the scan.
    let mut first = Vec::new();
    s.scan_versions(ws, &sid(&a), None, &mut |o| {
        first.push(o.modified);
        false
    })
    .unwrap();
    assert_eq!(first, vec![times[0]]);
}
