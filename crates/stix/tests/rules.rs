//! The rules, one by one, in both profiles: each type's required properties and each rule that
//! relates properties. Records start from a valid one and break one thing, so that a failure
//! names exactly the rule under test.

use proptest::prelude::*;
use serde_json::{json, Value};
use stix::{Json, Options, Profile, SpecVersion};

/// Asserts that `errors` refuses `property` for the rule `rule` names (a fragment of its
/// message), not merely that there is some error: `why` says what the case breaks.
#[track_caller]
fn refused(errors: &[String], property: &str, rule: &str, why: &str) {
    let prefix = format!("Error for Property={property}: ");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&prefix) && e.contains(rule)),
        "{why}: expected an error for {property} saying {rule:?}, got {errors:?}"
    );
}

fn run(record: &Value, profile: Profile) -> Vec<String> {
    let text = record.to_string();
    let json = Json::parse(&text).expect("test record parses");
    let messages = stix::validate(
        &json,
        Options {
            profile,
            ..Options::default()
        },
        None,
    )
    .messages();
    // Every problem once: a message repeated is noise the reader must see through.
    let mut seen = std::collections::HashSet::new();
    for m in &messages {
        assert!(seen.insert(m), "reported twice: {m} (for {record})");
    }
    messages
}

fn strict(record: &Value) -> Vec<String> {
    run(record, Profile::Strict)
}

fn compatible(record: &Value) -> Vec<String> {
    run(record, Profile::Compatible)
}

fn indicator() -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--dbc48d87-b5e9-4380-85ae-e1184abf5ff4",
        "created": "2022-07-27T12:00:00.000Z",
        "modified": "2022-07-27T12:00:00.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.5']",
        "pattern_type": "stix",
        "valid_from": "2022-07-20T12:00:00.000Z"
    })
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().expect("object").remove(key);
    v
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

/// A minimal valid 2.1 object of each domain, relationship and meta type, with the properties
/// the type requires beyond the common ones.
fn minimal(ty: &str) -> Value {
    let mut v = json!({
        "type": ty,
        "spec_version": "2.1",
        "id": format!("{ty}--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"),
        "created": "2016-05-12T08:17:27.000Z",
        "modified": "2016-05-12T08:17:27.000Z",
    });
    let refs = json!(["malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"]);
    let extra = match ty {
        "attack-pattern" | "campaign" | "course-of-action" | "identity" | "incident"
        | "infrastructure" | "intrusion-set" | "threat-actor" | "tool" | "vulnerability" => {
            json!({"name": "x"})
        }
        "grouping" => json!({"context": "unspecified", "object_refs": refs}),
        "indicator" => return indicator(),
        "location" => json!({"country": "de"}),
        "malware" => json!({"is_family": false}),
        "malware-analysis" => json!({"product": "av", "result": "malicious"}),
        "note" => json!({"content": "x", "object_refs": refs}),
        "observed-data" => json!({
            "first_observed": "2016-05-12T08:17:27.000Z",
            "last_observed": "2016-05-12T08:17:27.000Z",
            "number_observed": 1,
            "object_refs": ["ipv4-addr--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"]
        }),
        "opinion" => json!({"opinion": "agree", "object_refs": refs}),
        "report" => {
            json!({"name": "x", "published": "2016-05-12T08:17:27.000Z", "object_refs": refs})
        }
        "relationship" => json!({
            "relationship_type": "uses",
            "source_ref": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "target_ref": "tool--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"
        }),
        "sighting" => json!({"sighting_of_ref": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"}),
        "language-content" => json!({
            "object_ref": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "contents": {"de": {"name": "x"}}
        }),
        "extension-definition" => json!({
            "name": "x", "schema": "https://example.com/s", "version": "1.0",
            "extension_types": ["property-extension"]
        }),
        other => panic!("no minimal record for {other}"),
    };
    for (k, x) in extra.as_object().expect("object") {
        v[k] = x.clone();
    }
    v
}

const TYPES: &[(&str, &[&str])] = &[
    ("attack-pattern", &["name"]),
    ("campaign", &["name"]),
    ("course-of-action", &["name"]),
    ("grouping", &["context", "object_refs"]),
    ("identity", &["name"]),
    ("incident", &["name"]),
    ("indicator", &["pattern", "pattern_type", "valid_from"]),
    ("infrastructure", &["name"]),
    ("intrusion-set", &["name"]),
    ("location", &[]),
    ("malware", &[]),
    ("malware-analysis", &["product"]),
    ("note", &["content", "object_refs"]),
    (
        "observed-data",
        &["first_observed", "last_observed", "number_observed"],
    ),
    ("opinion", &["opinion", "object_refs"]),
    ("report", &["name", "published", "object_refs"]),
    ("threat-actor", &["name"]),
    ("tool", &["name"]),
    ("vulnerability", &["name"]),
    (
        "relationship",
        &["relationship_type", "source_ref", "target_ref"],
    ),
    ("sighting", &["sighting_of_ref"]),
    ("language-content", &["object_ref", "contents"]),
    (
        "extension-definition",
        &["name", "schema", "version", "extension_types"],
    ),
];

#[test]
fn minimal_records_of_every_type_are_valid_in_both_profiles() {
    for (ty, _) in TYPES {
        let v = minimal(ty);
        assert_eq!(strict(&v), Vec::<String>::new(), "{ty} strict");
        assert_eq!(compatible(&v), Vec::<String>::new(), "{ty} compatible");
    }
}

#[test]
fn each_required_property_is_required() {
    for (ty, required) in TYPES {
        for key in required
            .iter()
            .chain(&["id", "type", "created", "modified"])
        {
            let v = without(minimal(ty), key);
            let missing = format!(
                "Error for Property={key}: Required property is missing. Actual value: NULL."
            );
            assert!(
                strict(&v).contains(&missing),
                "{ty} strict without {key}: {:?}",
                strict(&v)
            );
            if *key != "type" {
                assert!(
                    compatible(&v).contains(&missing),
                    "{ty} compatible without {key}: {:?}",
                    compatible(&v)
                );
            } else {
                assert!(!compatible(&v).is_empty(), "{ty} compatible without type");
            }
        }
        let v = without(minimal(ty), "spec_version");
        refused(
            &strict(&v),
            "spec_version",
            "Required property is missing",
            "{ty}: strict requires spec_version",
        );
    }
}

#[test]
fn compatible_accepts_what_the_seeds_send() {
    let v = with(indicator(), "confidence", json!("95"));
    let v = with(v, "lang", json!(""));
    let v = with(v, "external_references", json!([]));
    let v = with(v, "object_marking_refs", json!([]));
    let v = with(v, "x_custom", json!({"anything": [1, 2]}));
    let v = with(
        v,
        "extensions",
        json!({"extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e": {"extension_type": "property-extension", "rank": 5}}),
    );
    assert_eq!(compatible(&v), Vec::<String>::new());
    // The strict profile refuses the numeric string, the empty lang and the empty lists.
    assert!(strict(&v).len() >= 4, "{:?}", strict(&v));
}

#[test]
fn both_profiles_refuse_what_cannot_be_stored() {
    // Each case sets one property of a valid indicator, which both profiles must then refuse.
    let cases = [
        ("confidence", json!(101)),
        ("confidence", json!("-1")),
        ("id", json!("indicator--not-a-uuid")),
        ("id", json!("malware--dbc48d87-b5e9-4380-85ae-e1184abf5ff4")),
        ("created", json!("2022-02-30T00:00:00Z")),
        ("modified", json!("yesterday")),
        ("valid_until", json!("2022-07-20T12:00:00.000Z")),
        ("valid_until", json!("2021-07-20T12:00:00.000Z")),
        ("modified", json!("2021-07-27T12:00:00.000Z")),
    ];
    for (prop, value) in cases {
        let v = with(indicator(), prop, value);
        for (name, errors) in [("strict", strict(&v)), ("compatible", compatible(&v))] {
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(&format!("Error for Property={prop}:"))),
                "{name} should refuse {prop} in {v}: {errors:?}"
            );
        }
    }
}

#[test]
fn cross_property_rules() {
    let loc = minimal("location");
    refused(
        &strict(&without(loc.clone(), "country")),
        "region",
        "One of region, country, or latitude and longitude",
        "location needs a place",
    );
    let lat_only = with(loc.clone(), "latitude", json!(10.0));
    refused(
        &strict(&lat_only),
        "longitude",
        "when latitude is present",
        "latitude needs longitude",
    );
    let precision = with(loc, "precision", json!(1.0));
    refused(
        &strict(&precision),
        "precision",
        "Requires latitude and longitude",
        "precision needs coordinates",
    );
    let family = with(minimal("malware"), "is_family", json!(true));
    refused(
        &strict(&family),
        "name",
        "Required property is missing",
        "a malware family needs a name",
    );
    let ma = without(minimal("malware-analysis"), "result");
    refused(
        &strict(&ma),
        "result",
        "One of result or analysis_sco_refs",
        "malware-analysis needs result or analysis_sco_refs",
    );
    let od = with(
        minimal("observed-data"),
        "objects",
        json!({"0": {"type": "ipv4-addr", "value": "1.2.3.4"}}),
    );
    refused(
        &strict(&od),
        "object_refs",
        "Exactly one of objects and object_refs",
        "objects and object_refs are exclusive",
    );
    let last = with(
        minimal("campaign"),
        "first_seen",
        json!("2020-01-02T00:00:00Z"),
    );
    let last = with(last, "last_seen", json!("2020-01-01T00:00:00Z"));
    refused(
        &strict(&last),
        "last_seen",
        "later than or equal to first_seen",
        "last_seen before first_seen",
    );
    let rel = with(
        minimal("relationship"),
        "source_ref",
        json!("sighting--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"),
    );
    refused(
        &strict(&rel),
        "source_ref",
        "Must not reference an object of type relationship, sighting",
        "relationships do not link sightings",
    );
    let rel = with(minimal("relationship"), "relationship_type", json!("Uses"));
    refused(
        &strict(&rel),
        "relationship_type",
        "lowercase letters, digits and hyphens",
        "relationship_type is lowercase",
    );
    let ext = with(
        minimal("extension-definition"),
        "extension_properties",
        json!(["x_y"]),
    );
    refused(
        &strict(&ext),
        "extension_properties",
        "toplevel-property-extension",
        "extension_properties only for toplevel extensions",
    );
}

#[test]
fn external_references_and_markings_in_strict() {
    let bad_capec = with(
        indicator(),
        "external_references",
        json!([{"source_name": "capec", "external_id": "163"}]),
    );
    refused(
        &strict(&bad_capec),
        "external_references[0]",
        "CAPEC-N form",
        "",
    );
    let bare = with(
        indicator(),
        "external_references",
        json!([{"source_name": "somewhere"}]),
    );
    refused(
        &strict(&bare),
        "external_references[0]",
        "one of external_id, description or url",
        "",
    );
    let good = with(
        indicator(),
        "external_references",
        json!([{"source_name": "cve", "external_id": "CVE-2016-1234"}]),
    );
    assert_eq!(strict(&good), Vec::<String>::new());
    let gm = with(
        indicator(),
        "granular_markings",
        json!([{"marking_ref": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "selectors": ["description"]}]),
    );
    refused(
        &strict(&gm),
        "granular_markings[0].selectors[0]",
        "does not select a property",
        "selector must select a present property",
    );
    let gm = with(gm, "description", json!("d"));
    assert_eq!(strict(&gm), Vec::<String>::new());
    let lang_only = with(
        indicator(),
        "granular_markings",
        json!([{"lang": "en", "selectors": ["pattern"]}]),
    );
    refused(
        &strict(&lang_only),
        "granular_markings[0].marking_ref",
        "Required property is missing",
        "the validator's schema requires marking_ref",
    );
}

#[test]
fn tlp_marking_definitions() {
    let green = json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp",
        "name": "TLP:GREEN", "definition": {"tlp": "green"}
    });
    assert_eq!(strict(&green), Vec::<String>::new());
    refused(
        &strict(&with(green.clone(), "definition", json!({"tlp": "red"}))),
        "definition",
        "exactly the ones the STIX specification defines",
        "",
    );
    let statement = json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        "created": "2017-01-20T00:00:00.000Z", "definition_type": "statement",
        "definition": {"statement": "Copyright"}
    });
    assert_eq!(strict(&statement), Vec::<String>::new());
    refused(
        &strict(&without(statement, "definition")),
        "definition",
        "Required property is missing",
        "",
    );
}

#[test]
fn cyber_observables_in_strict() {
    let ip = json!({"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd", "value": "198.51.100.3"});
    assert_eq!(strict(&ip), Vec::<String>::new());
    refused(
        &strict(&with(ip.clone(), "value", json!("999.1.1.1"))),
        "value",
        "IPv4 address or CIDR block",
        "",
    );
    let nt = json!({"type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--280d1c0d-51d1-5ee8-951f-1fb434a38686", "protocols": ["tcp"], "src_ref": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"});
    assert_eq!(strict(&nt), Vec::<String>::new());
    refused(
        &strict(&without(nt.clone(), "src_ref")),
        "src_ref",
        "At least one of src_ref, dst_ref",
        "src_ref or dst_ref",
    );
    refused(
        &strict(&with(nt, "src_port", json!(70000))),
        "src_port",
        "integer in range",
        "",
    );
    let email = json!({"type": "email-message", "spec_version": "2.1", "id": "email-message--d3f4ef30-b14e-59c5-92d5-946e150e4ca3", "is_multipart": false, "body": "hi"});
    assert_eq!(strict(&email), Vec::<String>::new());
    refused(
        &strict(&with(email, "body_multipart", json!([{"body": "x"}]))),
        "body_multipart",
        "Must not be present when is_multipart is false",
        "",
    );
    let file = json!({"type": "file", "spec_version": "2.1", "id": "file--ff1e0780-358c-5808-a8c7-d0fca4ef6ef4", "name": "a.zip", "extensions": {"archive-ext": {"contains_refs": ["file--ff1e0780-358c-5808-a8c7-d0fca4ef6ef4"]}}});
    assert_eq!(strict(&file), Vec::<String>::new());
    refused(
        &strict(&with(
            file.clone(),
            "extensions",
            json!({"archive-ext": {}}),
        )),
        "extensions.archive-ext",
        "Must not be empty",
        "",
    );
    // `run` fails on a message given twice, as this one once was in 2.1.
    refused(
        &strict(&with(
            file,
            "extensions",
            json!({"raster-image-ext": {"exif_tags": "Make=Canon"}}),
        )),
        "extensions.raster-image-ext.exif_tags",
        "Must be a dictionary",
        "a dictionary property given as a string",
    );
    let process = json!({"type": "process", "spec_version": "2.1", "id": "process--ff1e0780-358c-5808-a8c7-d0fca4ef6ef4", "pid": 1});
    refused(
        &strict(&process),
        "id",
        "version 4 UUID",
        "a process id must be a UUIDv4",
    );
}

#[test]
fn stix_20_records() {
    let malware20 = json!({
        "type": "malware", "id": "malware--fdd60b30-b67c-41e3-b0b9-f01faf20d111",
        "created": "2016-05-12T08:17:27.000Z", "modified": "2016-05-12T08:17:27.000Z",
        "name": "x", "labels": ["trojan"]
    });
    let text = malware20.to_string();
    let json = Json::parse(&text).expect("parses");
    let compatible = stix::validate(&json, Options::default(), None);
    assert!(
        compatible.is_valid() && compatible.upgraded_from_20,
        "{:?}",
        compatible.messages()
    );
    assert!(
        !stix::validate(&json, Options::strict(), None).is_valid(),
        "strict reads it as 2.1"
    );
    let as20 = stix::validate(&json, Options::strict(), Some(SpecVersion::V20));
    assert!(as20.is_valid(), "{:?}", as20.messages());
    let no_labels = without(malware20, "labels");
    let text = no_labels.to_string();
    let json = Json::parse(&text).expect("parses");
    assert!(!stix::validate(&json, Options::strict(), Some(SpecVersion::V20)).is_valid());
}

/// Member names the validator gives a meaning to, so that arbitrary objects reach its rules.
const MEMBER_NAMES: &[&str] = &[
    "type",
    "id",
    "objects",
    "extensions",
    "granular_markings",
    "selectors",
    "hashes",
    "external_references",
    "body_multipart",
];

/// Arbitrary JSON, shallow enough for the parser's depth limit.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9_:.\\-\\[\\]' =]{0,24}".prop_map(Value::from),
        prop_oneof![
            Just("indicator"),
            Just("file"),
            Just("observed-data"),
            Just("marking-definition"),
            Just("2.1"),
            Just("2016-05-12T08:17:27.000Z"),
            Just("id"),
            Just("objects"),
            Just("indicator--dbc48d87-b5e9-4380-85ae-e1184abf5ff4"),
            Just("[0]"),
        ]
        .prop_map(Value::from),
    ];
    // Each listed member name is as likely as a random one, as when each was an arm of its own.
    let listed = u32::try_from(MEMBER_NAMES.len()).unwrap();
    leaf.prop_recursive(4, 48, 6, move |inner| {
        let name = prop_oneof![
            listed => prop::sample::select(MEMBER_NAMES).prop_map(str::to_owned),
            1 => "[a-z_\\-]{1,12}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((name, inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn validation_never_panics(v in arb_json(), base in any::<bool>()) {
        // Half the records start from a valid indicator so that deep rules are reached.
        let record = if base {
            let mut r = indicator();
            if let Value::Object(extra) = v { for (k, x) in extra { r[k] = x; } }
            r
        } else { v };
        let text = record.to_string();
        let json = Json::parse(&text).expect("serde_json output parses");
        for profile in [Profile::Strict, Profile::Compatible] {
            for version in [None, Some(SpecVersion::V20), Some(SpecVersion::V21)] {
                let _ = stix::validate(&json, Options {
        profile,
        ..Options::default()
    }, version);
            }
        }
    }

    #[test]
    fn parse_never_panics_on_text(s in "\\PC{0,200}") {
        if let Ok(json) = Json::parse(&s) {
            let _ = stix::validate(&json, Options::strict(), None);
        }
    }
}
