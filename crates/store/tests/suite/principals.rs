//! Principals and their roles per workspace.

use super::*;

fn principal(id: &str, kind: PrincipalKind) -> Principal {
    Principal {
        id: id.into(),
        kind,
        name: format!("The {id}"),
        secret_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into()),
        created: ts("2024-02-03T04:05:06.789Z"),
    }
}

pub fn principal_create_get_conflict(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    let client = principal("client-1", PrincipalKind::Client);
    let mut user = principal("alice", PrincipalKind::User);
    user.secret_hash = None;
    s.create_principal(&client).unwrap();
    s.create_principal(&user).unwrap();
    assert_eq!(s.principal("client-1").unwrap(), Some(client.clone()));
    assert_eq!(s.principal("alice").unwrap(), Some(user));
    assert_eq!(s.principal("bob").unwrap(), None);
    // Ids are exact.
    assert_eq!(s.principal("Alice").unwrap(), None);

    // Listed by kind, oldest first.
    let mut later = principal("client-0", PrincipalKind::Client);
    later.created = ts("2024-02-03T04:05:07.000Z");
    s.create_principal(&later).unwrap();
    assert_eq!(
        s.principals(PrincipalKind::Client).unwrap(),
        vec![client.clone(), later]
    );
    assert_eq!(s.principals(PrincipalKind::External).unwrap(), vec![]);

    let mut again = principal("client-1", PrincipalKind::User);
    again.name = "Impostor".into();
    assert_conflict(s.create_principal(&again));
    assert_eq!(
        s.principal("client-1").unwrap(),
        Some(client),
        "the first one stays"
    );
}

pub fn principal_roles(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    let (w1, w2) = (env.ws, env.workspace("two"));
    s.create_principal(&principal("alice", PrincipalKind::User))
        .unwrap();
    s.create_principal(&principal("client-1", PrincipalKind::Client))
        .unwrap();

    assert_eq!(
        s.role(w1, "alice").unwrap(),
        None,
        "no role until one is assigned"
    );
    s.assign_role(w1, "alice", Role::Reader).unwrap();
    assert_eq!(s.role(w1, "alice").unwrap(), Some(Role::Reader));
    // Assigning replaces.
    s.assign_role(w1, "alice", Role::Contributor).unwrap();
    assert_eq!(s.role(w1, "alice").unwrap(), Some(Role::Contributor));
    s.assign_role(w1, "alice", Role::Reader).unwrap();
    assert_eq!(s.role(w1, "alice").unwrap(), Some(Role::Reader));

    // Per workspace and per principal.
    assert_eq!(s.role(w2, "alice").unwrap(), None);
    s.assign_role(w2, "alice", Role::Contributor).unwrap();
    assert_eq!(s.role(w2, "alice").unwrap(), Some(Role::Contributor));
    assert_eq!(s.role(w1, "alice").unwrap(), Some(Role::Reader));
    assert_eq!(s.role(w1, "client-1").unwrap(), None);
    s.assign_role(w1, "client-1", Role::Contributor).unwrap();
    assert_eq!(s.role(w1, "client-1").unwrap(), Some(Role::Contributor));
    assert_eq!(s.role(w1, "alice").unwrap(), Some(Role::Reader));

    // Unknown workspaces and principals have no role.
    assert_eq!(s.role(WorkspaceId::random(), "alice").unwrap(), None);
    assert_eq!(s.role(w1, "nobody").unwrap(), None);
    // Roles cannot be given to unknown principals or on unknown workspaces.
    assert_not_found(s.assign_role(w1, "nobody", Role::Reader));
    assert_not_found(s.assign_role(WorkspaceId::random(), "alice", Role::Reader));
    assert_eq!(s.role(w1, "nobody").unwrap(), None);
}

pub fn settings_first_value_wins(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    assert_eq!(s.setting("tenant_id").unwrap(), None);
    assert_eq!(s.init_setting("tenant_id", "first").unwrap(), "first");
    assert_eq!(s.init_setting("tenant_id", "second").unwrap(), "first");
    assert_eq!(s.setting("tenant_id").unwrap().as_deref(), Some("first"));
    // Another handle (another node) sees it, and cannot replace it either.
    let other = env.reopen();
    assert_eq!(other.init_setting("tenant_id", "third").unwrap(), "first");
    assert_eq!(other.setting("missing").unwrap(), None);
}

pub fn roles_of_lists_a_principals_workspaces(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    let w2 = env.workspace("second");
    let p = Principal {
        id: "client-1".into(),
        kind: PrincipalKind::Client,
        name: "feed".into(),
        secret_hash: Some("hash".into()),
        created: at(1),
    };
    s.create_principal(&p).unwrap();
    assert!(s.roles_of("client-1").unwrap().is_empty());
    s.assign_role(env.ws, "client-1", Role::Contributor)
        .unwrap();
    s.assign_role(w2, "client-1", Role::Reader).unwrap();
    let mut got = s.roles_of("client-1").unwrap();
    got.sort_by_key(|(w, _)| w.to_string());
    let mut want = vec![(env.ws, Role::Contributor), (w2, Role::Reader)];
    want.sort_by_key(|(w, _)| w.to_string());
    assert_eq!(got, want);
    assert!(s.roles_of("nobody").unwrap().is_empty());
}
