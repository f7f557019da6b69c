//! The messages users read, snapshotted: what both profiles say of every OASIS validator test
//! case (`shared/data/oasis-conformance/validator_upstream_cases.jsonl`) that draws a message,
//! and what the JSON reader says of malformed text. A change of wording, of a property path or
//! of a verdict shows as a diff of `tests/snapshots/messages__*.snap` to review (`cargo insta
//! review`, or accept the `.snap.new` file by renaming it).

use std::fmt::Write;

use stix::{Json, Options, SpecVersion};

/// The messages for one case's instance under `opts`: a bundle's members one by one, as the
/// reference validator and an import read them.
fn messages(
    instance: &serde_json::Value,
    version: Option<SpecVersion>,
    opts: Options,
) -> Vec<String> {
    let text = instance.to_string();
    let json = Json::parse(&text).expect("instance parses");
    let members: Vec<&Json> = match (json.get("type").and_then(Json::as_str), json.get("objects")) {
        (Some("bundle"), Some(Json::Array(objects))) => objects.iter().collect(),
        _ => vec![&json],
    };
    members
        .into_iter()
        .flat_map(|m| stix::validate(m, opts, version).messages())
        .collect()
}

#[test]
fn oasis_validator_cases() {
    let path = test_support::shared_file("data/oasis-conformance/validator_upstream_cases.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut cases = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let version = match case["options"]["version"].as_str() {
            Some("2.0") => Some(SpecVersion::V20),
            Some("2.1") => Some(SpecVersion::V21),
            _ => None,
        };
        let strict = messages(&case["instance"], version, Options::strict());
        let compatible = messages(&case["instance"], version, Options::default());
        cases += 1;
        if strict.is_empty() && compatible.is_empty() {
            continue;
        }
        let version = case["options"]["version"]
            .as_str()
            .unwrap_or("no version given");
        writeln!(out, "case {} ({version})", case["case"]).unwrap();
        let blocks = if strict == compatible {
            vec![("both profiles", strict)]
        } else {
            vec![("strict", strict), ("compatible", compatible)]
        };
        for (name, said) in blocks {
            writeln!(out, "  {name}:").unwrap();
            if said.is_empty() {
                writeln!(out, "    (valid)").unwrap();
            }
            for m in said {
                writeln!(out, "    {m}").unwrap();
            }
        }
    }
    assert!(
        cases >= 900,
        "expected the 958 upstream cases, read {cases}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn malformed_json() {
    let texts = [
        "",
        "{",
        "{\"type\": \"indicator\",}",
        "{\"type\": 'indicator'}",
        "[1, 2",
        "{\"a\": tru}",
        "{\"a\": 1}}",
        "{\"a\": \"\\x\"}",
        "{\"a\": \"\u{1}\"}",
        "{\"a\": 01}",
        "{\"a\": 1e999}",
        "\u{feff}{}",
    ];
    let repeated = "[".repeat(200);
    let cases = texts.iter().copied().chain([repeated.as_str()]);
    insta::assert_snapshot!(test_support::table(cases, |text| match Json::parse(text) {
        Ok(_) => "(parses)".to_owned(),
        Err(e) => e.to_string(),
    }));
}
