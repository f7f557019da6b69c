//! Add new and Revoke, against the embedded store.

use std::sync::Arc;

use store::sqlite::{SqliteOptions, SqliteStore};
use store::{Store, WorkspaceId};
use tiport_core::intel::{add_indicator, revoke, IntelError};

fn store() -> (tempfile::TempDir, Arc<dyn Store>, WorkspaceId) {
    let dir = tempfile::tempdir().unwrap();
    let s: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("tiport.db"), SqliteOptions::default()).unwrap(),
    );
    let ws = WorkspaceId::random();
    s.create_workspace(ws, "w").unwrap();
    (dir, s, ws)
}

const DOMAIN: &[(&str, &str)] = &[
    ("observableType", "domain-name"),
    ("observableValue", "bad.example.com"),
    ("name", "Bad domain"),
    ("validFrom", "2026-01-01T00:00:00Z"),
    ("confidence", "70"),
    ("tlpLevel", "amber"),
];

#[test]
fn an_indicator_added_by_form_is_stored_as_its_csv_row_would_be() {
    let (_d, s, ws) = store();
    let added = add_indicator(&*s, ws, "Analyst", DOMAIN, "web-1").unwrap();
    assert!(!added.unchanged);
    let stored = s.current(ws, &added.id).unwrap().unwrap();
    let json: serde_json::Value = serde_json::from_str(&stored.json).unwrap();
    assert_eq!(json["pattern"], "[domain-name:value = 'bad.example.com']");
    assert_eq!(json["name"], "Bad domain");
    assert_eq!(stored.confidence, Some(70));
    assert_eq!(stored.source, "Analyst");
    // The same observable from the same source, unchanged: the same object, no new version.
    let again = add_indicator(&*s, ws, "Analyst", DOMAIN, "web-2").unwrap();
    assert_eq!(again.id, added.id);
    assert!(again.unchanged);
}

#[test]
fn every_problem_of_the_form_is_told_by_field() {
    let (_d, s, ws) = store();
    let fields = [
        ("observableType", "ipv4-addr"),
        ("observableValue", "300.1.1.1"),
        ("validFrom", "yesterday"),
        ("confidence", "101"),
    ];
    let Err(IntelError::Invalid(messages)) = add_indicator(&*s, ws, "Analyst", &fields, "r") else {
        panic!("refused")
    };
    for field in ["observableValue", "validFrom", "confidence"] {
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with(&format!("Error for Property={field}: "))),
            "{field}: {messages:?}"
        );
    }
    assert!(matches!(
        add_indicator(&*s, ws, " ", DOMAIN, "r"),
        Err(IntelError::Source(_))
    ));
    assert_eq!(s.count(ws).unwrap().objects, 0, "nothing stored");
}

#[test]
fn a_revocation_is_a_new_version_and_final() {
    let (_d, s, ws) = store();
    let added = add_indicator(&*s, ws, "Analyst", DOMAIN, "r1").unwrap();
    let id = added.id.to_string();
    revoke(&*s, ws, &id, "r2").unwrap();
    let current = s.current(ws, &added.id).unwrap().unwrap();
    assert!(current.revoked);
    assert_eq!(
        s.count(ws).unwrap().versions,
        2,
        "the first version is kept"
    );
    assert!(matches!(
        revoke(&*s, ws, &id, "r3"),
        Err(IntelError::Rejected(_))
    ));
    assert!(matches!(
        revoke(
            &*s,
            ws,
            "indicator--00000000-0000-4000-8000-000000000000",
            "r4"
        ),
        Err(IntelError::NotFound(_))
    ));
    assert!(matches!(
        revoke(&*s, ws, "nonsense", "r5"),
        Err(IntelError::NotFound(_))
    ));
}
