//! Web sessions: kept by the hash of their token, shared by every handle (and node) of a
//! store, ended by sign-out or expiry.

use super::*;

fn user(s: &dyn Store, id: &str) {
    s.create_principal(&Principal {
        id: id.into(),
        kind: PrincipalKind::User,
        name: id.into(),
        secret_hash: None,
        created: ts("2024-02-03T04:05:06.789Z"),
    })
    .unwrap();
}

fn session(id_hash: &str, principal: &str, expires: &str) -> Session {
    Session {
        id_hash: id_hash.into(),
        principal: principal.into(),
        workspace: None,
        csrf: format!("csrf-of-{id_hash}"),
        created: ts("2024-02-03T04:00:00.000Z"),
        expires: ts(expires),
    }
}

pub fn session_create_read_switch_end(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    user(s, "alice");
    let a = session("aa01", "alice", "2024-02-03T16:00:00.000Z");
    s.create_session(&a).unwrap();
    assert_eq!(s.session("aa01").unwrap(), Some(a.clone()));
    assert_eq!(s.session("AA01").unwrap(), None, "hashes are exact");
    assert_eq!(s.session("bb02").unwrap(), None);

    // Another handle on the same data (another process or node) sees it.
    let other = env.reopen();
    assert_eq!(other.session("aa01").unwrap(), Some(a.clone()));

    s.set_session_workspace("aa01", env.ws).unwrap();
    assert_eq!(s.session("aa01").unwrap().unwrap().workspace, Some(env.ws));
    assert!(matches!(
        s.set_session_workspace("bb02", env.ws),
        Err(StoreError::NotFound(_))
    ));

    assert!(s.delete_session("aa01").unwrap());
    assert_eq!(s.session("aa01").unwrap(), None);
    assert_eq!(other.session("aa01").unwrap(), None);
    assert!(!s.delete_session("aa01").unwrap(), "ended once");
}

pub fn session_expired_are_deleted(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    user(s, "alice");
    user(s, "bob");
    s.create_session(&session("old1", "alice", "2024-02-03T10:00:00.000Z"))
        .unwrap();
    s.create_session(&session("old2", "bob", "2024-02-03T11:59:59.999Z"))
        .unwrap();
    let live = session("live", "alice", "2024-02-03T12:00:00.000Z");
    s.create_session(&live).unwrap();

    let now = ts("2024-02-03T12:00:00.000Z");
    assert_eq!(s.delete_expired_sessions(now).unwrap(), 2);
    assert_eq!(s.session("old1").unwrap(), None);
    assert_eq!(s.session("old2").unwrap(), None);
    assert_eq!(
        s.session("live").unwrap(),
        Some(live),
        "expires at now: not yet"
    );
    assert_eq!(s.delete_expired_sessions(now).unwrap(), 0);
}
