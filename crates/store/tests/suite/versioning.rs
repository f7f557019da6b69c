//! The versioning rules of DESIGN.md "Semantics", one case at a time.

use super::Expect::*;
use super::*;

pub fn versioning_newest_modified_is_current(f: Factory) {
    let env = Env::new(f);
    let a = env.subject(&indicator(1));
    a.write(at(20), false, "v20", Current);

    // Older, arriving later: history only.
    a.write(at(10), false, "v10", History);
    let cur = a.current();
    assert_eq!(cur.modified.unix_nanos(), at(20).unix_nanos());
    assert!(cur.current && cur.json.contains("v20"));
    a.assert_history(&[(10, false, false), (20, false, true)]);

    // Between the two: still history.
    a.write(at(15), false, "v15", History);
    // Newer: current.
    a.write(at(30), false, "v30", Current);
    assert!(a.current().json.contains("v30"));
    a.assert_history(&[
        (10, false, false),
        (15, false, false),
        (20, false, false),
        (30, false, true),
    ]);
    let jsons: Vec<String> = a.versions().into_iter().map(|v| v.json).collect();
    let json = |t: i64, tag: &str| json_of(&a.id, &created(), &at(t), false, tag);
    assert_eq!(
        jsons,
        vec![
            json(10, "v10"),
            json(15, "v15"),
            json(20, "v20"),
            json(30, "v30")
        ],
        "each version keeps its own JSON, oldest first"
    );

    // Several versions of one id in one write, in any order.
    let b = env.subject(&indicator(2));
    b.write_together(&[
        (at(5), false, "b5", Current),
        (at(7), false, "b7", Current),
        (at(6), false, "b6", History),
    ]);
    let (s, ws) = (&*env.store, env.ws);
    assert!(b.current().json.contains("b7"));
    assert_eq!(s.current(ws, &sid(&indicator(3))).unwrap(), None);
    assert!(s.versions(ws, &sid(&indicator(3))).unwrap().is_empty());
}

pub fn versioning_same_version_again_is_unchanged(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let a = env.subject(&indicator(1));
    a.write(at(20), false, "first", Current);
    // A retry, and the same version with other content: nothing changes, the first wins.
    a.write(at(20), false, "first", Unchanged);
    a.write(at(20), false, "second", Unchanged);
    // Even one that differs in revoked: it is the same version.
    a.write(at(20), true, "third", Unchanged);
    let cur = a.current();
    assert_eq!(
        cur.json,
        json_of(&a.id, &created(), &at(20), false, "first")
    );
    assert!(!cur.revoked);

    // The same for a history version.
    a.write(at(10), false, "old", History);
    a.write(at(10), false, "old-again", Unchanged);
    // And within one write.
    a.write_together(&[
        (at(30), false, "x", Current),
        (at(30), false, "y", Unchanged),
    ]);
    let versions = a.versions();
    assert_eq!(versions.len(), 3);
    assert!(versions[0].json.contains(r#""name":"old""#));
    assert!(versions[1].json.contains(r#""name":"first""#));
    assert!(versions[2].json.contains(r#""name":"x""#));
    assert_counts(s, ws, 1, 3);
}

pub fn versioning_same_instant_other_precision_is_unchanged(f: Factory) {
    let env = Env::new(f);
    let a = env.subject(&indicator(1));
    a.write(ts("2021-03-04T05:06:07.100Z"), false, "ms", Current);
    a.write(ts("2021-03-04T05:06:07.100000Z"), false, "us", Unchanged);
    a.write(ts("2021-03-04T05:06:07.1Z"), false, "ds", Unchanged);
    // A nanosecond later is another version.
    let later = ts("2021-03-04T05:06:07.100000001Z");
    a.write(later, false, "ns", Current);
    let v = a.versions();
    assert_eq!(v.len(), 2);
    assert!(v[0].json.contains(r#""name":"ms""#));
    assert_eq!(v[1].modified.unix_nanos(), later.unix_nanos());
}

pub fn versioning_revoked_is_final(f: Factory) {
    let env = Env::new(f);
    let a = env.subject(&indicator(1));
    a.write(at(10), false, "v10", Current);
    a.write(at(20), true, "v20", Current);
    a.write(at(30), false, "v30", Rejected);
    let cur = a.current();
    assert!(
        cur.revoked && cur.json.contains("v20"),
        "the rejected version is not stored"
    );
    a.assert_history(&[(10, false, false), (20, true, true)]);

    // A newer version that is still revoked is fine.
    a.write(at(40), true, "v40", Current);
    // An older unrevoked one before the revocation is history.
    a.write(at(5), false, "v5", History);
    // An older revoked one after the revocation is history too.
    a.write(at(30), true, "v30r", History);
    a.write(at(50), false, "v50", Rejected);
    a.assert_history(&[
        (5, false, false),
        (10, false, false),
        (20, true, false),
        (30, true, false),
        (40, true, true),
    ]);
}

pub fn versioning_older_revoked_after_newer_unrevoked_is_rejected(f: Factory) {
    let env = Env::new(f);
    let a = env.subject(&indicator(1));
    a.write(at(20), false, "v20", Current);
    a.write(at(10), true, "v10", Rejected);
    a.assert_history(&[(20, false, true)]);

    // The unrevoked version need not be the current one.
    let b = env.subject(&indicator(2));
    b.write_together(&[
        (at(10), false, "b10", Current),
        (at(30), true, "b30", Current),
    ]);
    b.write(at(5), true, "b5", Rejected);
    b.write(at(20), true, "b20", History);
    b.assert_history(&[(10, false, false), (20, true, false), (30, true, true)]);
}

pub fn versioning_unrevoked_between_revoked_versions_is_rejected(f: Factory) {
    let env = Env::new(f);
    let a = env.subject(&indicator(1));
    a.write_together(&[
        (at(10), true, "v10", Current),
        (at(30), true, "v30", Current),
    ]);
    // Older than the current version but newer than a revoked one: it would un-revoke.
    a.write(at(20), false, "v20", Rejected);
    // Older than every revoked version: history.
    a.write(at(5), false, "v5", History);
    a.assert_history(&[(5, false, false), (10, true, false), (30, true, true)]);
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
    assert_counts(s, ws, 2, 3);
}

pub fn versioning_derived_same_content_is_unchanged(f: Factory) {
    let env = Env::new(f);
    let a = env.subject(&indicator(1));
    a.write_derived(at(10), 1, "row", Current);
    // Imported again later: a newer modified, the same content.
    a.write_derived(at(20), 1, "row", Unchanged);
    assert_eq!(a.versions().len(), 1);
    assert_eq!(a.current().modified.unix_nanos(), at(10).unix_nanos());

    // Changed, then changed back: the content is compared with the current version only.
    a.write_derived(at(30), 2, "row2", Current);
    a.write_derived(at(40), 1, "row", Current);
    a.write_derived(at(50), 1, "row", Unchanged);
    a.assert_history(&[(10, false, false), (30, false, false), (40, false, true)]);
}

pub fn versioning_derived_change_keeps_first_created(f: Factory) {
    let env = Env::new(f);
    let a = env.subject(&indicator(1));
    let first = ts("2020-01-01T00:00:10.123Z");
    a.write_derived(first, 1, "row", Current);
    let cur = a.current();
    assert_eq!(
        cur.json,
        json_of(&a.id, &first, &first, false, "row"),
        "a first version is stored as given"
    );
    assert_eq!(cur.created, first);

    let second = ts("2020-02-02T00:00:20.456Z");
    a.write_derived(second, 2, "row, changed", Current);
    let cur = a.current();
    assert_eq!(cur.modified.unix_nanos(), second.unix_nanos());
    assert_eq!(cur.created, first, "created is the first version's");
    assert_eq!(
        cur.json,
        json_of(&a.id, &first, &second, false, "row, changed"),
        "the stored JSON carries the first version's created, as it was written"
    );

    let third = ts("2020-03-03T00:00:30.789Z");
    a.write_derived(third, 3, "row, again", Current);
    let cur = a.current();
    assert_eq!(cur.created, first);
    assert_eq!(
        cur.json,
        json_of(&a.id, &first, &third, false, "row, again")
    );
    let created: Vec<Timestamp> = a.versions().iter().map(|v| v.created).collect();
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
