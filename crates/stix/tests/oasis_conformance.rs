//! Conformance of the strict profile with the OASIS reference validator.
//!
//! The cases are the OASIS cti-stix-validator test suite, harvested as data
//! (`shared/data/oasis-conformance/validator_upstream_cases.jsonl`). Most upstream cases ran with
//! the validator's `--strict` (SHOULD rules as errors), which is not our strict profile, so the
//! expected verdicts are not taken from the file: this test asks the reference validator itself,
//! stix2-validator 3.3.2 with its default options and the case's STIX version, through
//! `shared/tools/oracle_validate.py`, and compares its verdict with
//! `stix::validate(instance, Options::strict(), version)`.
//!
//! The reference validator lives in a Python virtualenv made by
//! `shared/tools/reference-tools.sh`; the README's test command creates it. Its location is the
//! environment variable `TIPORT_REFERENCE_VENV`, or `<repo>/.reference-venv`.

use std::collections::BTreeMap;
use std::process::Command;

use stix::{Json, Options, SpecVersion};

/// Cases where we deliberately or knowingly disagree with the reference validator, with the
/// reason. Every entry must still disagree (a fixed one must be removed from the list), so the
/// list stays true.
const KNOWN: &[(u32, &str)] = &[
    (
        23,
        "a bundle without `objects` is validated by the reference validator as one object; \
         stix::validate refuses a bundle as a record (a bundle is a container, and its members \
         are the records)",
    ),
    (
        436,
        "a bundle without `objects` is validated by the reference validator as one object; \
         stix::validate refuses a bundle as a record (a bundle is a container, and its members \
         are the records)",
    ),
];

/// The share of cases that must agree.
const MIN_AGREEMENT: f64 = 0.99;

struct Case {
    number: u32,
    version: Option<String>,
    instance: serde_json::Value,
}

fn load_cases() -> Vec<Case> {
    let path = test_support::shared().join("data/oasis-conformance/validator_upstream_cases.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("case line is JSON");
            Case {
                number: v["case"].as_u64().expect("case number") as u32,
                version: v["options"]["version"].as_str().map(str::to_owned),
                instance: v["instance"].clone(),
            }
        })
        .collect()
}

/// The reference validator's verdict per case: valid iff every record of the case is.
fn oracle_verdicts(cases: &[Case]) -> BTreeMap<u32, bool> {
    let python = test_support::reference_python();
    let script = test_support::shared().join("tools/oracle_validate.py");
    let root = std::env::temp_dir().join(format!("stix-conformance-{}", std::process::id()));
    let mut verdicts = BTreeMap::new();
    let mut groups: BTreeMap<Option<&str>, Vec<&Case>> = BTreeMap::new();
    for case in cases {
        groups
            .entry(case.version.as_deref())
            .or_default()
            .push(case);
        // A case with no records (an empty bundle) is valid; records found below refine it.
        verdicts.insert(case.number, true);
    }
    for (version, group) in groups {
        let dir = root.join(version.unwrap_or("default"));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        for case in &group {
            let file = dir.join(format!("case_{:05}.json", case.number));
            std::fs::write(&file, case.instance.to_string()).expect("write case");
        }
        let mut cmd = Command::new(&python);
        cmd.arg(&script).arg(&dir).arg("--no-warnings");
        if let Some(v) = version {
            cmd.arg("--version").arg(v);
        }
        let out = cmd.output().expect("run oracle_validate.py");
        assert!(
            out.status.success(),
            "oracle_validate.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8(out.stdout).expect("utf-8").lines() {
            let rec: serde_json::Value = serde_json::from_str(line).expect("oracle line is JSON");
            let file = rec["file"].as_str().expect("file");
            let number: u32 = file
                .rsplit("case_")
                .next()
                .and_then(|s| s.strip_suffix(".json"))
                .and_then(|s| s.parse().ok())
                .expect("case number in file name");
            let valid = rec["valid"].as_bool().expect("valid");
            *verdicts.get_mut(&number).expect("known case") &= valid;
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    verdicts
}

/// Our verdict: a bundle's members are validated one by one, as the oracle does.
fn our_verdict(case: &Case) -> (bool, Vec<String>) {
    let text = case.instance.to_string();
    let json = Json::parse(&text).expect("instance parses");
    let version = match case.version.as_deref() {
        Some("2.0") => Some(SpecVersion::V20),
        Some("2.1") => Some(SpecVersion::V21),
        _ => None,
    };
    let members: Vec<&Json> = match (json.get("type").and_then(Json::as_str), json.get("objects")) {
        (Some("bundle"), Some(Json::Array(objects))) => objects.iter().collect(),
        _ => vec![&json],
    };
    let mut messages = Vec::new();
    for member in members {
        let report = stix::validate(member, Options::strict(), version);
        messages.extend(report.messages());
    }
    (messages.is_empty(), messages)
}

#[test]
fn strict_profile_agrees_with_the_reference_validator() {
    let cases = load_cases();
    assert!(cases.len() >= 900, "expected the 958 upstream cases");
    let oracle = oracle_verdicts(&cases);
    let known: BTreeMap<u32, &str> = KNOWN.iter().copied().collect();
    let mut agree = 0usize;
    let mut unexpected = Vec::new();
    let mut known_seen = Vec::new();
    for case in &cases {
        let expected = oracle[&case.number];
        let (ours, messages) = our_verdict(case);
        if ours == expected {
            agree += 1;
            continue;
        }
        match known.get(&case.number) {
            Some(reason) => known_seen.push((case.number, *reason)),
            None => unexpected.push(format!(
                "case {} (version {:?}): reference says {}, we say {}{}\n  instance: {}",
                case.number,
                case.version,
                if expected { "valid" } else { "invalid" },
                if ours { "valid" } else { "invalid" },
                if messages.is_empty() {
                    String::new()
                } else {
                    format!("\n  our errors: {messages:?}")
                },
                case.instance
            )),
        }
    }
    let total = cases.len();
    let share = agree as f64 / total as f64;
    println!(
        "conformance: {agree}/{total} cases agree ({:.2}%); {} known differences, {} unexpected",
        share * 100.0,
        known_seen.len(),
        unexpected.len()
    );
    for (n, reason) in &known_seen {
        println!("  known difference, case {n}: {reason}");
    }
    for u in &unexpected {
        println!("{u}");
    }
    let stale: Vec<u32> = known
        .keys()
        .copied()
        .filter(|n| !known_seen.iter().any(|(k, _)| k == n))
        .collect();
    assert!(
        stale.is_empty(),
        "KNOWN lists cases that now agree; remove them: {stale:?}"
    );
    assert!(
        unexpected.is_empty(),
        "{} disagreements not in KNOWN (see output above)",
        unexpected.len()
    );
    assert!(
        share >= MIN_AGREEMENT,
        "agreement {:.2}% is below {:.0}%",
        share * 100.0,
        MIN_AGREEMENT * 100.0
    );
}
