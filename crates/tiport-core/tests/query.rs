//! Lists of current objects in their orders, and the searches by observable and by name,
//! against the embedded store; objects come in as the web form's Add new brings them (a CSV row
//! of the all-other-indicators template).

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::sqlite::{SqliteOptions, SqliteStore};
use store::{Store, WorkspaceId};
use tiport_core::intel::add_indicator;
use tiport_core::query::{list, list_within, search, ListParams, Page, QueryError};

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    ws: WorkspaceId,
}

/// A store with, added in this order, indicators of these (domain, name).
fn env(indicators: &[(&str, &str)]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("tiport.db"), SqliteOptions::default()).unwrap(),
    );
    let ws = WorkspaceId::random();
    store.create_workspace(ws, "w").unwrap();
    for (domain, name) in indicators {
        let fields = [
            ("observableType", "domain-name"),
            ("observableValue", domain),
            ("name", name),
            ("validFrom", "2026-01-01T00:00:00Z"),
        ];
        add_indicator(&*store, ws, "Analyst", &fields, "test").unwrap();
    }
    Env {
        _dir: dir,
        store,
        ws,
    }
}

fn names(page: &Page) -> Vec<String> {
    page.objects
        .iter()
        .map(|o| {
            let json: serde_json::Value = serde_json::from_str(&o.json).unwrap();
            json["name"].as_str().unwrap_or("").to_owned()
        })
        .collect()
}

fn params(pairs: &[(&str, &str)]) -> ListParams {
    let query: String = pairs.iter().map(|(k, v)| format!("{k}={v}&")).collect();
    serde_urlencoded::from_str(&query).unwrap()
}

/// Every page of `ask` (given the cursor), each page's names.
fn pages(ask: impl Fn(Option<&str>) -> Result<Page, QueryError>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = ask(cursor.as_deref()).unwrap();
        out.push(names(&page));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
        assert!(out.len() < 50, "pages without end");
    }
}

const EMOTET: &[(&str, &str)] = &[
    ("c2.example", "Emotet C2 server"),
    ("loader.example", "Emotet"),
    ("emotet-c2.example", "emotet-c2.example"),
    ("quiet.example", "Phishing lure"),
];

#[test]
fn a_search_finds_observables_then_names_by_their_start() {
    let e = env(EMOTET);
    let find = |text: &str, limit: &str| {
        pages(|cursor| {
            let mut p = params(&[("limit", limit)]);
            p.cursor = cursor.map(str::to_owned);
            search(&*e.store, e.ws, text, &p, None)
        })
    };
    // Names in their order ("emotet" < "emotet c2 server" < "emotet-c2.example"), case-blind.
    let all = vec!["Emotet", "Emotet C2 server", "emotet-c2.example"];
    assert_eq!(find("EMOTET", "100"), vec![all.clone()]);
    // One a page, every one once.
    assert_eq!(
        find("emotet", "1"),
        vec![vec![all[0]], vec![all[1]], vec![all[2]]]
    );
    // The observable first; found again by its name, it is not listed twice.
    assert_eq!(
        find("emotet-c2.example", "100"),
        vec![vec!["emotet-c2.example"]]
    );
    // A page the observables fill exactly is followed by one of names (here none left).
    assert_eq!(
        find("emotet-c2.example", "1"),
        vec![vec!["emotet-c2.example".to_owned()], vec![]]
    );
    // An observable that is no name's start: only the observable.
    assert_eq!(find("c2.example", "100"), vec![vec!["Emotet C2 server"]]);
    // From the name's start only; several words; nothing found is an empty page.
    assert_eq!(find("motet", "100"), vec![Vec::<String>::new()]);
    assert_eq!(find("emotet  c2", "100"), vec![vec!["Emotet C2 server"]]);
    assert_eq!(find("phishing", "100"), vec![vec!["Phishing lure"]]);
}

#[test]
fn the_api_searches_names_apart_and_refuses_what_does_not_go_together() {
    let e = env(EMOTET);
    let ask = |pairs: &[(&str, &str)]| list(&*e.store, e.ws, &params(pairs));
    assert_eq!(
        names(&ask(&[("name", "emotet")]).unwrap()),
        ["Emotet", "Emotet C2 server", "emotet-c2.example"]
    );
    // The name search does not look at observables.
    assert!(ask(&[("name", "loader")]).unwrap().objects.is_empty());
    let refused = |pairs: &[(&str, &str)], says: &str| {
        let Err(QueryError::BadParameter(m)) = ask(pairs) else {
            panic!("{pairs:?} must be refused");
        };
        assert!(m.contains(says), "{m}");
    };
    refused(&[("name", "c2"), ("observable", "c2.example")], "not both");
    refused(&[("name", "c2"), ("sort", "stored")], "own order");
    refused(&[("sort", "modified")], "id or stored");
    refused(&[("order", "sideways")], "asc or desc");
    // A cursor of one order is refused by another.
    let by_stored = ask(&[("sort", "stored"), ("limit", "1")]).unwrap();
    let next = by_stored.next.unwrap();
    refused(&[("cursor", &next)], "sort or search differs");
    refused(
        &[("name", "c2"), ("cursor", &next)],
        "sort or search differs",
    );
}

#[test]
fn lists_sort_by_id_either_way_and_by_when_stored() {
    let e = env(EMOTET);
    let walk = |pairs: &[(&str, &str)]| {
        pages(|cursor| {
            let mut p = params(pairs);
            p.cursor = cursor.map(str::to_owned);
            list(&*e.store, e.ws, &p)
        })
        .concat()
    };
    let newest_first = [
        "Phishing lure",
        "emotet-c2.example",
        "Emotet",
        "Emotet C2 server",
    ];
    assert_eq!(walk(&[("sort", "stored"), ("limit", "3")]), newest_first);
    assert_eq!(
        walk(&[("sort", "stored"), ("order", "desc"), ("limit", "1")]),
        newest_first
    );
    let mut oldest_first = newest_first.to_vec();
    oldest_first.reverse();
    assert_eq!(
        walk(&[("sort", "stored"), ("order", "asc"), ("limit", "2")]),
        oldest_first
    );
    let by_id = walk(&[("limit", "3")]);
    let mut descending = walk(&[("sort", "id"), ("order", "desc"), ("limit", "1")]);
    descending.reverse();
    assert_eq!(by_id, descending);
    assert_eq!(by_id.len(), 4);
    // A filter keeps its order's pages.
    assert_eq!(
        walk(&[("sort", "stored"), ("type", "indicator"), ("limit", "1")]),
        newest_first
    );
}

/// With a deadline, a page looks at objects until then (one at least), says so when it stops
/// there, and its cursor goes on past what it looked at: the pages together are the list
/// without one. A deadline already past makes every page look at one object.
#[test]
fn a_page_with_a_deadline_stops_there_and_the_pages_still_hold_everything() {
    let many: Vec<(String, String)> = (0..12)
        .map(|i| {
            (
                format!("d{i}.example"),
                format!("{} {i}", if i % 5 == 0 { "Rare" } else { "Common" }),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(d, n)| (d.as_str(), n.as_str())).collect();
    let e = env(&refs);
    for (pairs, text) in [
        (vec![("sort", "stored")], None),
        (vec![("sort", "id"), ("order", "desc")], None),
        (vec![], Some("rare")),
        (vec![], Some("d5.example")),
    ] {
        let whole = {
            let p = params(&pairs);
            match text {
                None => list(&*e.store, e.ws, &p).unwrap(),
                Some(t) => search(&*e.store, e.ws, t, &p, None).unwrap(),
            }
        };
        let whole = names(&whole);
        let mut paged = Vec::new();
        let mut spent = 0;
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let mut p = params(&pairs);
            p.cursor = cursor.clone();
            let now = Some(Instant::now());
            let page = match text {
                None => list_within(&*e.store, e.ws, &p, now).unwrap(),
                Some(t) => search(&*e.store, e.ws, t, &p, now).unwrap(),
            };
            assert!(page.objects.len() <= 1);
            spent += usize::from(page.out_of_time);
            paged.extend(names(&page));
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(paged, whole, "{pairs:?} {text:?}");
        if whole.len() > 1 {
            assert!(spent > 0, "{pairs:?} {text:?}: the time must run out");
        }
    }
    // A filter nothing passes: pages of nothing that say they looked.
    let mut p = params(&[("sort", "id"), ("source", "Nobody")]);
    let first = list_within(&*e.store, e.ws, &p, Some(Instant::now())).unwrap();
    assert!(first.objects.is_empty() && first.out_of_time && first.next.is_some());
    p.cursor = first.next;
    let second = list_within(&*e.store, e.ws, &p, Some(Instant::now())).unwrap();
    assert!(second.objects.is_empty() && second.out_of_time);
    // With time enough, one page says nothing matches.
    p.cursor = None;
    let later = Some(Instant::now() + Duration::from_secs(60));
    let all = list_within(&*e.store, e.ws, &p, later).unwrap();
    assert!(all.objects.is_empty() && !all.out_of_time && all.next.is_none());
}
