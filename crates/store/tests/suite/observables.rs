//! The observable index: indicators found by a value of their pattern.

use std::net::IpAddr;

use super::*;

fn ip(s: &str, prefix: u8) -> ObservableKey {
    let addr: IpAddr = s.parse().expect("address");
    ObservableKey::ip(addr, prefix).expect("prefix fits")
}

fn host(s: &str) -> ObservableKey {
    let addr: IpAddr = s.parse().expect("address");
    ip(s, if addr.is_ipv4() { 32 } else { 128 })
}

fn with_keys(mut o: NewObject, keys: Vec<ObservableKey>) -> NewObject {
    o.observables = keys;
    o
}

fn find(s: &dyn Store, ws: WorkspaceId, key: &ObservableKey) -> Vec<String> {
    s.find_observable(ws, key, 100)
        .unwrap()
        .iter()
        .map(|id| id.to_string())
        .collect()
}

pub fn observable_text_exact_and_case_blind(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let (a, b, c) = (indicator(1), indicator(2), indicator(3));
    write(
        s,
        ws,
        vec![
            with_keys(
                obj(&b, at(1), false, "b"),
                vec![ObservableKey::text("evil.example.com")],
            ),
            with_keys(
                obj(&a, at(1), false, "a"),
                vec![
                    ObservableKey::text("Evil.Example.COM"),
                    ObservableKey::text("d41d8cd98f00b204e9800998ecf8427e"),
                ],
            ),
            with_keys(
                obj(&c, at(1), false, "c"),
                vec![ObservableKey::text("sub.evil.example.com")],
            ),
            obj(&indicator(4), at(1), false, "no keys"),
        ],
    );
    assert_eq!(
        find(s, ws, &ObservableKey::text("EVIL.example.com")),
        vec![a.clone(), b.clone()],
        "sorted ids"
    );
    assert_eq!(
        find(
            s,
            ws,
            &ObservableKey::text("D41D8CD98F00B204E9800998ECF8427E")
        ),
        vec![a.clone()]
    );
    assert_eq!(
        find(s, ws, &ObservableKey::text("sub.evil.example.com")),
        vec![c]
    );
    // Exact: no prefixes, suffixes or substrings.
    assert!(find(s, ws, &ObservableKey::text("example.com")).is_empty());
    assert!(find(s, ws, &ObservableKey::text("evil.example.co")).is_empty());
    assert!(find(s, ws, &ObservableKey::text("")).is_empty());
    // The limit keeps the first ids.
    let one = s
        .find_observable(ws, &ObservableKey::text("evil.example.com"), 1)
        .unwrap();
    assert_eq!(one, vec![sid(&a)]);
}

pub fn observable_address_in_blocks(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let (a, b, c, d) = (indicator(1), indicator(2), indicator(3), indicator(4));
    write(
        s,
        ws,
        vec![
            with_keys(
                obj(&a, at(1), false, "a"),
                vec![ip("198.51.100.0", 24), ip("2001:db8::", 32)],
            ),
            with_keys(
                obj(&b, at(1), false, "b"),
                vec![host("198.51.100.7"), host("2001:db8:0:1::5")],
            ),
            with_keys(
                obj(&c, at(1), false, "c"),
                vec![ip("10.0.0.0", 8), ip("0.0.0.0", 0)],
            ),
            // A text key that spells an address is not an address.
            with_keys(
                obj(&d, at(1), false, "d"),
                vec![ObservableKey::text("203.0.113.9")],
            ),
        ],
    );
    // v4: the host, the /24 and the /0 contain .7; only the blocks contain .8.
    assert_eq!(
        find(s, ws, &host("198.51.100.7")),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(
        find(s, ws, &host("198.51.100.8")),
        vec![a.clone(), c.clone()]
    );
    assert_eq!(find(s, ws, &host("198.51.101.1")), vec![c.clone()]);
    assert_eq!(find(s, ws, &host("10.200.3.4")), vec![c.clone()]);
    assert_eq!(find(s, ws, &host("203.0.113.9")), vec![c.clone()]);
    // A block is found by the blocks that contain it.
    assert_eq!(
        find(s, ws, &ip("198.51.100.128", 25)),
        vec![a.clone(), c.clone()]
    );
    // v6: no v4 block contains a v6 address.
    assert_eq!(
        find(s, ws, &host("2001:db8:0:1::5")),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(find(s, ws, &host("2001:db8:ffff::1")), vec![a.clone()]);
    assert!(find(s, ws, &host("2001:db9::1")).is_empty());
    assert!(find(s, ws, &host("::1")).is_empty());
    assert_eq!(find(s, ws, &ip("2001:db8:1::", 48)), vec![a.clone()]);
    assert_eq!(find(s, ws, &ObservableKey::text("203.0.113.9")), vec![d]);
}

pub fn observable_follows_current_version(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let (a, b) = (indicator(1), indicator(2));
    let evil = || ObservableKey::text("evil.example.com");
    write(
        s,
        ws,
        vec![
            with_keys(
                obj(&a, at(10), false, "a10"),
                vec![evil(), ip("192.0.2.0", 24)],
            ),
            with_keys(obj(&b, at(10), false, "b10"), vec![evil()]),
        ],
    );
    assert_eq!(find(s, ws, &evil()), vec![a.clone(), b.clone()]);

    // A newer version of a without the domain: a is no longer found by it.
    write(
        s,
        ws,
        vec![with_keys(
            obj(&a, at(20), false, "a20"),
            vec![ip("192.0.2.0", 24)],
        )],
    );
    assert_eq!(find(s, ws, &evil()), vec![b.clone()]);
    assert_eq!(find(s, ws, &host("192.0.2.1")), vec![a.clone()]);

    // History versions' keys are not indexed: an older version with a new key, and an older
    // version with the dropped key.
    write(
        s,
        ws,
        vec![
            with_keys(
                obj(&a, at(15), false, "a15"),
                vec![evil(), ObservableKey::text("history.example")],
            ),
            with_keys(
                obj(&b, at(5), false, "b5"),
                vec![ObservableKey::text("history.example")],
            ),
        ],
    );
    assert!(find(s, ws, &ObservableKey::text("history.example")).is_empty());
    assert_eq!(find(s, ws, &evil()), vec![b.clone()]);

    // An unchanged retry of the current version changes nothing.
    write(
        s,
        ws,
        vec![with_keys(obj(&a, at(20), false, "a20"), vec![evil()])],
    );
    assert_eq!(find(s, ws, &evil()), vec![b.clone()]);
    // A newer, revoked version without keys drops them; a rejected one adds nothing.
    write(s, ws, vec![obj(&b, at(30), true, "b30")]);
    assert!(find(s, ws, &evil()).is_empty(), "b30 dropped the key");
    write(
        s,
        ws,
        vec![with_keys(obj(&b, at(40), false, "b40"), vec![evil()])],
    );
    assert!(find(s, ws, &evil()).is_empty(), "b40 was rejected");

    // A newer version that adds the key back, and one that drops every key.
    write(
        s,
        ws,
        vec![with_keys(obj(&a, at(30), false, "a30"), vec![evil()])],
    );
    assert_eq!(find(s, ws, &evil()), vec![a.clone()]);
    assert!(find(s, ws, &host("192.0.2.1")).is_empty());
    write(s, ws, vec![obj(&a, at(40), false, "a40")]);
    assert!(find(s, ws, &evil()).is_empty());
}

pub fn observable_workspace_isolation(f: Factory) {
    let env = Env::new(f);
    let s = &*env.store;
    let (w1, w2) = (env.ws, env.workspace("two"));
    let a = indicator(1);
    write(
        s,
        w1,
        vec![with_keys(
            obj(&a, at(1), false, "a"),
            vec![ObservableKey::text("one.example"), ip("192.0.2.0", 24)],
        )],
    );
    write(
        s,
        w2,
        vec![with_keys(
            obj(&indicator(2), at(1), false, "b"),
            vec![ObservableKey::text("two.example"), host("192.0.2.9")],
        )],
    );
    assert_eq!(
        find(s, w1, &ObservableKey::text("one.example")),
        vec![a.clone()]
    );
    assert!(find(s, w2, &ObservableKey::text("one.example")).is_empty());
    assert!(find(s, w1, &ObservableKey::text("two.example")).is_empty());
    assert_eq!(find(s, w1, &host("192.0.2.9")), vec![a.clone()]);
    assert_eq!(find(s, w2, &host("192.0.2.9")), vec![indicator(2)]);
    assert!(find(s, w2, &host("192.0.2.10")).is_empty());

    // The same id in w2 with other keys leaves w1's index alone, and the reverse.
    write(
        s,
        w2,
        vec![with_keys(
            obj(&a, at(5), false, "a in two"),
            vec![ObservableKey::text("three.example")],
        )],
    );
    assert_eq!(
        find(s, w1, &ObservableKey::text("one.example")),
        vec![a.clone()]
    );
    assert!(find(s, w1, &ObservableKey::text("three.example")).is_empty());
    write(s, w1, vec![obj(&a, at(9), false, "a keyless")]);
    assert_eq!(find(s, w2, &ObservableKey::text("three.example")), vec![a]);
}

/// Name keys: a search for the beginning of a name, in the order of the names, resumed past a
/// hit; only current versions; only the workspace asked.
pub fn observable_names_by_prefix(f: Factory) {
    let env = Env::new(f);
    let (s, ws) = (&*env.store, env.ws);
    let other = env.workspace("other");
    let (a, b, c) = (indicator(1), indicator(2), indicator(3));
    let named = |id: &str, modified: Timestamp, name: &str| {
        with_keys(
            obj(id, modified, false, name),
            ObservableKey::name(name).into_iter().collect(),
        )
    };
    write(
        s,
        ws,
        vec![
            named(&a, at(1), "Emotet C2 server"),
            named(&b, at(1), "Emotet"),
            named(&c, at(1), "Phishing domain"),
        ],
    );
    write(s, other, vec![named(&a, at(1), "Emotet elsewhere")]);
    let names = |text: &str, past: Option<(&[u8], i64)>, limit: usize| -> Vec<NameHit> {
        s.find_names(ws, text, past, limit).unwrap()
    };
    let ids = |hits: &[NameHit]| -> Vec<String> { hits.iter().map(|h| h.id.to_string()).collect() };
    // In the order of the names: "emotet" before "emotet c2 server".
    let emotet = names("EMOTET", None, 10);
    assert_eq!(ids(&emotet), vec![b.clone(), a.clone()]);
    assert_eq!(
        emotet[0].key,
        ObservableKey::Name("emotet".into()).to_bytes()
    );
    assert_eq!(ids(&names("emotet  c2 s", None, 10)), vec![a.clone()]);
    assert_eq!(ids(&names("c2", None, 10)), Vec::<String>::new());
    assert_eq!(ids(&names("   ", None, 10)), Vec::<String>::new());
    // Pages: a limit of one, then past the first hit.
    let first = names("e", None, 1);
    assert_eq!(ids(&first), vec![b.clone()]);
    let next = names("e", Some((&first[0].key, first[0].seq)), 10);
    assert_eq!(ids(&next), vec![a.clone()]);
    assert!(names("e", Some((&next[0].key, next[0].seq)), 10).is_empty());
    // A new version with another name: the old name no longer finds it.
    write(s, ws, vec![named(&c, at(2), "Credential harvesting")]);
    assert_eq!(ids(&names("phish", None, 10)), Vec::<String>::new());
    assert_eq!(ids(&names("cred", None, 10)), vec![c.clone()]);
    // Name keys are not observables.
    assert!(find(s, ws, &ObservableKey::text("credential harvesting")).is_empty());
}
