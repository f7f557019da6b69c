//! Workspaces: creation, lookup, and isolation.

use super::Expect::*;
use super::*;

pub fn workspace_create_get_list(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    let before = Timestamp::now();
    let a = WorkspaceId::random();
    let wa = s.create_workspace(a, "Alpha").unwrap();
    assert_eq!((wa.id, wa.name.as_str()), (a, "Alpha"));
    assert!(wa.created >= at(0) && wa.created.unix_seconds() >= before.unix_seconds() - 1);
    assert_eq!(
        s.workspace(a).unwrap(),
        Some(wa.clone()),
        "read back as created"
    );

    let b = WorkspaceId::random();
    let wb = s.create_workspace(b, "Beta").unwrap();
    assert_eq!(s.workspace(b).unwrap(), Some(wb.clone()));

    let mut listed = s.workspaces().unwrap();
    listed.sort_by_key(|w| w.id);
    let mut expected = vec![
        s.workspace(env.ws).unwrap().expect("the env's workspace"),
        wa,
        wb,
    ];
    expected.sort_by_key(|w| w.id);
    assert_eq!(listed, expected);

    assert_eq!(s.workspace(WorkspaceId::random()).unwrap(), None);
}

pub fn workspace_duplicate_id_conflicts(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    let a = WorkspaceId::random();
    s.create_workspace(a, "Alpha").unwrap();
    assert_conflict(s.create_workspace(a, "Other"));
    assert_conflict(s.create_workspace(env.ws, "Again"));
    assert_eq!(
        s.workspace(a).unwrap().unwrap().name,
        "Alpha",
        "the first one stays"
    );
    assert_eq!(s.workspaces().unwrap().len(), 2);
}

pub fn workspace_unknown_is_not_found(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    let u = WorkspaceId::random();
    let id = sid(&indicator(1));
    assert_not_found(s.write(u, &req("r"), vec![obj(&indicator(1), at(1), false, "a")]));
    assert_not_found(s.current(u, &id));
    assert_not_found(s.versions(u, &id));
    assert_not_found(s.count(u));
    assert_not_found(s.scan_current(u, &ObjectFilter::default(), &mut |_| true));
    assert_not_found(s.find_observable(u, &ObservableKey::text("x"), 10));
    assert_not_found(s.create_import(&new_import(u, at(0), "me")));
    assert_not_found(s.import(u, ImportId::random()));
    assert_not_found(s.imports(
        u,
        ImportSort::Created,
        Order::Desc,
        &ImportPage::first(1000),
    ));
    s.create_principal(&Principal {
        id: "alice".into(),
        kind: PrincipalKind::User,
        name: "Alice".into(),
        secret_hash: None,
        created: at(0),
    })
    .unwrap();
    assert_not_found(s.assign_role(u, "alice", Role::Reader));
    // Unknown imports are NotFound too.
    assert_not_found(s.begin_import(ImportId::random(), "me").map(|_| ()));
    assert_not_found(s.finish_import(
        ImportId::random(),
        &ImportFinish::new(ImportStatus::Failed, 0, at(0)),
    ));

    // None of that created the workspace or wrote anywhere.
    assert_eq!(s.workspace(u).unwrap(), None);
    assert_eq!(s.count(env.ws).unwrap(), Counts::default());
}

pub fn workspace_isolation(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    let (w1, w2, w3) = (env.ws, env.workspace("two"), env.workspace("three"));
    let a = indicator(1);
    let id = sid(&a);
    let (one, two) = (Subject::new(s, w1, &a), Subject::new(s, w2, &a));

    // The same id and modified in two workspaces is two objects.
    one.write(at(10), false, "one", Current);
    two.write(at(10), false, "two", Current);
    assert!(one.current().json.contains(r#""name":"one""#));
    assert!(two.current().json.contains(r#""name":"two""#));

    // A newer version in one does not touch the other.
    two.write(at(20), false, "two-b", Current);
    assert_eq!(one.current().modified.unix_nanos(), at(10).unix_nanos());
    assert_eq!(one.versions().len(), 1);
    assert_eq!(two.versions().len(), 2);

    // Nor does revocation: revoked in w1, a later unrevoked version is fine in w2.
    one.write(at(30), true, "one-revoked", Current);
    two.write(at(40), false, "two-c", Current);
    assert!(!two.current().revoked);

    // An older version in w2 is history there, whatever w1 holds.
    two.write(at(30), false, "two-old", History);

    assert_counts(s, w1, 1, 2);
    assert_counts(s, w2, 1, 4);
    assert_eq!(s.count(w3).unwrap(), Counts::default());
    assert_eq!(s.current(w3, &id).unwrap(), None);
    assert!(s.versions(w3, &id).unwrap().is_empty());

    let mut seen = Vec::new();
    s.scan_current(w1, &ObjectFilter::default(), &mut |o| {
        seen.push(o.json);
        true
    })
    .unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("one-revoked"));
    assert_eq!(count_current(s, w3), 0);
}
