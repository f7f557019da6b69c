//! `normalized_21_members`: every valid STIX 2.0 object we have, with the members appended to
//! its text, must be a valid STIX 2.1 object (compatible profile), because that is how a record
//! read as 2.0 is stored.
//!
//! The 2.0 objects come from two places: one hand-written object per 2.0 type (as real feeds
//! send them), and the STIX 2.0 cases of the OASIS validator's test suite
//! (`shared/data/oasis-conformance/validator_upstream_cases.jsonl`) that are valid as 2.0 in the
//! compatible profile (whatever the upstream verdict, which is the strict one). The seed samples
//! have no 2.0 record, so they are not used here.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use stix::{Json, Options, SpecVersion};

/// Appends the members to the object's text, as a caller storing the record does: before the
/// final `}`, after a comma unless the object is empty.
fn append(text: &str, members: &[(&str, &str)]) -> String {
    let body = text.trim_end();
    let body = body
        .strip_suffix('}')
        .expect("an object's text ends with }");
    let mut out = body.to_owned();
    let mut empty = body.trim_end().ends_with('{');
    for (name, value) in members {
        if !empty {
            out.push(',');
        }
        empty = false;
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        out.push_str(value);
    }
    out.push('}');
    out
}

/// Why a valid 2.0 object is not valid as 2.1 after appending, or `None` when it is.
fn check_upgrade(text: &str) -> Option<String> {
    let json = Json::parse(text).expect("object parses");
    let members = stix::normalized_21_members(json.as_object().expect("an object"));
    let upgraded = append(text, &members);
    let json = match Json::parse(&upgraded) {
        Ok(j) => j,
        Err(e) => return Some(format!("appended text does not parse: {e}")),
    };
    let report = stix::validate(&json, Options::default(), Some(SpecVersion::V21));
    if report.version != SpecVersion::V21 {
        return Some(format!("still read as {:?}", report.version));
    }
    (!report.is_valid()).then(|| report.messages().join(" | "))
}

fn valid_as_20(v: &Value) -> bool {
    let text = v.to_string();
    let json = Json::parse(&text).expect("parses");
    stix::validate(&json, Options::default(), Some(SpecVersion::V20)).is_valid()
}

const ID: &str = "0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061";
const TS: &str = "2016-05-12T08:17:27.000Z";

/// One valid 2.0 object of each type of `types20.rs`, and a top-level observable and a custom
/// object as 2.0 producers wrote them.
fn hand_written() -> Vec<Value> {
    let base = |ty: &str, extra: Value| {
        let mut v = json!({"type": ty, "id": format!("{ty}--{ID}"), "created": TS, "modified": TS});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    vec![
        base(
            "attack-pattern",
            json!({"name": "Spearphishing Attachment", "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}]}),
        ),
        base("campaign", json!({"name": "c", "first_seen": TS})),
        base("course-of-action", json!({"name": "Block"})),
        base(
            "identity",
            json!({"name": "ACME", "identity_class": "organization"}),
        ),
        base(
            "indicator",
            json!({"labels": ["malicious-activity"], "pattern": "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']", "valid_from": TS}),
        ),
        base(
            "indicator",
            json!({"name": "ip", "labels": ["c2"], "pattern": "[ipv4-addr:value = '198.51.100.0/24'] AND [domain-name:value = 'x.example'] WITHIN 60 SECONDS", "valid_from": TS, "valid_until": "2017-05-12T08:17:27.000Z"}),
        ),
        base("intrusion-set", json!({"name": "APT0"})),
        base("malware", json!({"name": "x", "labels": ["trojan"]})),
        base(
            "malware",
            json!({"name": "Poison Ivy", "labels": ["remote-access-trojan"], "description": "…", "external_references": [{"source_name": "mitre-attack", "external_id": "S0012"}]}),
        ),
        base(
            "observed-data",
            json!({"first_observed": TS, "last_observed": TS, "number_observed": 1, "objects": {"0": {"type": "ipv4-addr", "value": "198.51.100.3"}}}),
        ),
        base(
            "report",
            json!({"name": "r", "labels": ["threat-report"], "published": TS, "object_refs": [format!("indicator--{ID}")]}),
        ),
        base(
            "threat-actor",
            json!({"name": "t", "labels": ["crime-syndicate"]}),
        ),
        base("tool", json!({"name": "t", "labels": ["remote-access"]})),
        base(
            "vulnerability",
            json!({"name": "CVE-2016-1234", "external_references": [{"source_name": "cve", "external_id": "CVE-2016-1234"}]}),
        ),
        base(
            "relationship",
            json!({"relationship_type": "uses", "source_ref": format!("intrusion-set--{ID}"), "target_ref": format!("malware--{ID}")}),
        ),
        base(
            "sighting",
            json!({"sighting_of_ref": format!("indicator--{ID}"), "where_sighted_refs": [format!("identity--{ID}")], "count": 2}),
        ),
        json!({"type": "marking-definition", "id": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "definition": {"tlp": "green"}}),
        base("x-acme-widget", json!({"x_acme_size": 3})),
    ]
}

#[test]
fn hand_written_20_objects_become_valid_21() {
    let mut failures = Vec::new();
    for v in hand_written() {
        assert!(valid_as_20(&v), "not a valid 2.0 object: {v}");
        // Pretty-printed text too: appending does not depend on the record's layout.
        for text in [
            v.to_string(),
            serde_json::to_string_pretty(&v).unwrap() + "\n",
        ] {
            if let Some(why) = check_upgrade(&text) {
                failures.push(format!("{}: {why}", v["type"]));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The members are what the type needs, not more: a 2.0 indicator and malware without them
/// are not valid 2.1, and are with them.
#[test]
fn indicator_and_malware_need_their_members() {
    for v in hand_written() {
        let ty = v["type"].as_str().unwrap().to_owned();
        let text = v.to_string();
        let json = Json::parse(&text).unwrap();
        let members = stix::normalized_21_members(json.as_object().unwrap());
        let only_version: Vec<_> = members
            .iter()
            .copied()
            .filter(|(n, _)| *n == "spec_version")
            .collect();
        let partial = append(&text, &only_version);
        let json = Json::parse(&partial).unwrap();
        let report = stix::validate(&json, Options::default(), Some(SpecVersion::V21));
        // The member each of these types still lacks with spec_version alone.
        let lacking = match ty.as_str() {
            "indicator" => Some("pattern_type"),
            "malware" => Some("is_family"),
            _ => None,
        };
        match lacking {
            Some(prop) => assert!(
                report
                    .messages()
                    .iter()
                    .any(|m| m.contains(&format!("Property={prop}"))),
                "{:?}",
                report.messages()
            ),
            None => assert!(report.is_valid(), "{ty}: {:?}", report.messages()),
        }
    }
}

/// OASIS cases (number, member index) valid as 2.0 that appending cannot make valid as 2.1,
/// with the reason. Every entry must still fail, so that the list stays true.
const CANNOT: &[(u64, usize, &str)] = &[
    (883, 0, SPEC_VERSION_20),
    (885, 0, SPEC_VERSION_20),
    (903, 0, SPEC_VERSION_20),
];

const SPEC_VERSION_20: &str = "the object has \"spec_version\": \"2.0\" (STIX 2.0 objects have no \
    spec_version, but the 2.0 schemas allow this one): appending a second spec_version would \
    repeat a name, so nothing is appended and the object is still read as 2.0; storing it as 2.1 \
    means replacing that member, which is the caller's decision";

#[test]
fn oasis_20_cases_become_valid_21() {
    let path = test_support::shared().join("data/oasis-conformance/validator_upstream_cases.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let cannot: BTreeMap<(u64, usize), &str> =
        CANNOT.iter().map(|(c, m, why)| ((*c, *m), *why)).collect();
    let mut checked = 0;
    let mut unexpected = Vec::new();
    let mut still_failing = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("case line is JSON");
        if case["options"]["version"] != "2.0" {
            continue;
        }
        let number = case["case"].as_u64().expect("case number");
        let instance = &case["instance"];
        let members: Vec<&Value> = match (instance["type"].as_str(), instance["objects"].as_array())
        {
            (Some("bundle"), Some(objects)) => objects.iter().collect(),
            _ => vec![instance],
        };
        for (m, member) in members.into_iter().enumerate() {
            if !member.is_object() || !valid_as_20(member) {
                continue;
            }
            checked += 1;
            let outcome = check_upgrade(&member.to_string());
            match (outcome, cannot.get(&(number, m))) {
                (None, None) => {}
                (Some(_), Some(_)) => still_failing.push((number, m)),
                (None, Some(why)) => unexpected.push(format!(
                    "case {number} member {m} is listed as impossible ({why}) but now upgrades"
                )),
                (Some(why), None) => {
                    unexpected.push(format!("case {number} member {m}: {why}\n  {member}"))
                }
            }
        }
    }
    println!("{checked} valid 2.0 objects checked");
    assert!(checked >= 100, "only {checked} valid 2.0 objects found");
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    assert_eq!(still_failing.len(), CANNOT.len());
}

/// What appending members cannot fix: each object is valid as 2.0, and with the members
/// appended it is still not valid as 2.1, for the reason given.
#[test]
fn what_appending_cannot_fix() {
    let cases = [
        (
            // The member is there already; see SPEC_VERSION_20.
            json!({"type": "tool", "spec_version": "2.0", "id": format!("tool--{ID}"), "created": TS, "modified": TS, "name": "t", "labels": ["x"]}),
            "still read as V20",
        ),
        (
            // 2.1 patterning refuses two qualifiers of one kind on one observation.
            json!({"type": "indicator", "id": format!("indicator--{ID}"), "created": TS, "modified": TS, "labels": ["x"], "valid_from": TS,
                   "pattern": "[ipv4-addr:value = '198.51.100.1'] WITHIN 1 SECONDS WITHIN 2 SECONDS"}),
            "Property=pattern",
        ),
        (
            // A type 2.0 does not define is a custom object in 2.0, but 2.1 defines `location`
            // and requires a region, a country or coordinates.
            json!({"type": "location", "id": format!("location--{ID}"), "created": TS, "modified": TS, "name": "HQ"}),
            "Property=region",
        ),
    ];
    for (v, why) in cases {
        assert!(valid_as_20(&v), "not a valid 2.0 object: {v}");
        let outcome = check_upgrade(&v.to_string());
        assert!(
            outcome.as_deref().is_some_and(|o| o.contains(why)),
            "{v}: expected {why:?}, got {outcome:?}"
        );
    }
}
