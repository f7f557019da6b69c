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
