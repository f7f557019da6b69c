//! The seeds' own examples, verbatim, as the seeds say they are answered.

use crate::helpers::*;
use serde_json::{json, Value};

const INPUTS: &[&str] = &[
    "bulk-import-example.csv",
    "bulk-import-example.json",
    "upload-request-attack-pattern.json",
    "upload-request-identity-threat-actor-relationship.json",
    "upload-request-indicator.json",
    "upload-request-two-indicators.json",
];

#[test]
fn every_seed_input_is_valid_in_the_compatible_profile() {
    for name in INPUTS {
        let path = seed_samples().join(name);
        let out = run(&["validate", path.to_str().unwrap()], None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: stdout {} stderr {}",
            stdout(&out),
            stderr(&out)
        );
        assert_eq!(stdout(&out), "", "{name}");
    }
}

#[test]
fn upload_bodies_validate_as_upload_format() {
    for name in INPUTS.iter().filter(|n| n.starts_with("upload-")) {
        let path = seed_samples().join(name);
        let out = run(
            &["validate", path.to_str().unwrap(), "--format", "upload"],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
    }
}

/// The seed: "if you send an array with four indicators, and the first three are good but the
/// fourth doesn't have an id", the answer is the seed's error body.
#[test]
fn four_indicators_the_fourth_without_id_gives_the_seed_response() {
    let two: Value = serde_json::from_str(
        &std::fs::read_to_string(seed_samples().join("upload-request-two-indicators.json"))
            .unwrap(),
    )
    .unwrap();
    let objs = two["stixobjects"].as_array().unwrap();
    let mut four = vec![objs[0].clone(), objs[1].clone()];
    let mut third = objs[0].clone();
    third["id"] = json!("indicator--2f5f9b3c-35a2-4a5e-9a0c-3c2b3b3f7e11");
    four.push(third);
    let mut fourth = objs[1].clone();
    fourth.as_object_mut().unwrap().remove("id");
    four.push(fourth);
    let body = json!({"sourcesystem": "test", "stixobjects": four});
    let out = run(
        &["validate", "-", "--format", "upload", "--output", "json"],
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let errors = json_lines(&out);
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(seed_samples().join("upload-validation-error-response.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json!({ "errors": errors }), expected);
}

#[test]
fn strict_profile_refuses_what_compatible_accepts_from_the_seeds() {
    // The bulk JSON example sends "confidence": "95", "lang": "" and empty lists, which STIX
    // forbids and the compatible profile accepts.
    let path = seed_samples().join("bulk-import-example.json");
    let out = run(
        &[
            "validate",
            path.to_str().unwrap(),
            "--strict",
            "--output",
            "json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["recordIndex"], 0);
    let msgs: Vec<&str> = lines[0]["errorMessages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for prop in ["confidence", "lang", "external_references"] {
        assert!(
            msgs.iter()
                .any(|m| m.starts_with(&format!("Error for Property={prop}:"))),
            "{prop} not reported: {msgs:?}"
        );
    }
}

/// STIX 2.0 as real feeds send it: a 2.0 bundle's members are 2.0, and an object without
/// `spec_version` that is only valid as 2.0 is read as 2.0 (and counted as such).
#[test]
fn stix_20_objects_are_accepted_and_recognised() {
    let indicator20 = json!({
        "type": "indicator",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "labels": ["malicious-activity"],
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "valid_from": "2016-01-01T00:00:00Z"
    });
    let bare = json!([indicator20.clone()]);
    let out = run(
        &["validate", "-", "--format", "json"],
        Some(bare.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("1 valid, 0 invalid, 1 read as STIX 2.0"),
        "{}",
        stderr(&out)
    );
    // Written out, because a bundle declares its version before its objects (json! would sort
    // the keys).
    let bundle = format!(
        r#"{{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","spec_version":"2.0","objects":[{indicator20}]}}"#
    );
    let out = run(&["validate", "-", "--strict"], Some(bundle.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Without `labels` the object is valid neither as 2.0 nor as 2.1 (no pattern_type).
    let mut broken = indicator20;
    broken.as_object_mut().unwrap().remove("labels");
    let out = run(
        &["validate", "-", "--output", "json"],
        Some(json!([broken]).to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert!(lines[0]["errorMessages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m
            .as_str()
            .unwrap()
            .starts_with("Error for Property=pattern_type:")));
}
