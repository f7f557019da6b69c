//! Runs every pass/fail case packaged with stix2-patterns 2.1.2 (see `data/README.md`) and
//! checks that this crate's verdict (compatible profile, the case's STIX version) agrees, except
//! for the deliberate differences listed below, each with its reason.

use stix_pattern::{validate, Options, Profile, SpecVersion};

const CASES: &str = include_str!("data/stix2-patterns-cases.tsv");

/// Cases where this crate deliberately disagrees with stix2-patterns: (version, pattern, reason).
const DIFFERENCES: &[(&str, &str, &str)] = &[
    // stix2-patterns checks the field ranges of t'' literals but not the calendar, and its tests
    // pin that down as "syntactically valid". A timestamp that names no instant cannot be
    // matched or compared meaningfully, and STIX timestamps are RFC 3339 instants, so we reject
    // them (in both profiles).
    (
        "2.0",
        "[x:created = t'2024-02-30T12:00:00Z']",
        "February 2024 has 29 days",
    ),
    (
        "2.0",
        "[x:created = t'2024-04-31T12:00:00Z']",
        "April has 30 days",
    ),
    (
        "2.0",
        "[x:created = t'2023-02-29T12:00:00Z']",
        "2023 is not a leap year",
    ),
    (
        "2.1",
        "[x:created = t'2024-02-30T12:00:00Z']",
        "February 2024 has 29 days",
    ),
    (
        "2.1",
        "[x:created = t'2024-04-31T12:00:00Z']",
        "April has 30 days",
    ),
    (
        "2.1",
        "[x:created = t'2023-02-29T12:00:00Z']",
        "2023 is not a leap year",
    ),
];

struct Case<'a> {
    version: SpecVersion,
    version_text: &'a str,
    pass: bool,
    list: &'a str,
    pattern: &'a str,
}

fn cases() -> Vec<Case<'static>> {
    CASES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let mut f = line.splitn(4, '\t');
            let (v, verdict, list, pattern) = (
                f.next().unwrap(),
                f.next().unwrap(),
                f.next().unwrap(),
                f.next().unwrap(),
            );
            Case {
                version: match v {
                    "2.0" => SpecVersion::V20,
                    "2.1" => SpecVersion::V21,
                    other => panic!("unknown version {other}"),
                },
                version_text: v,
                pass: match verdict {
                    "pass" => true,
                    "fail" => false,
                    other => panic!("unknown verdict {other}"),
                },
                list,
                pattern,
            }
        })
        .collect()
}

#[test]
fn agrees_with_stix2_patterns() {
    let cases = cases();
    assert!(cases.len() > 150, "the data file looks truncated");
    let mut problems = Vec::new();
    for case in &cases {
        let opts = Options {
            profile: Profile::Compatible,
            version: case.version,
        };
        let ours = validate(case.pattern, opts);
        let difference = DIFFERENCES
            .iter()
            .find(|(v, p, _)| *v == case.version_text && *p == case.pattern);
        let expected = match difference {
            Some(_) => !case.pass,
            None => case.pass,
        };
        if ours.is_ok() != expected {
            problems.push(format!(
                "{} {} ({}): reference says {}, we say {:?}",
                case.version_text,
                case.pattern,
                case.list,
                if case.pass { "pass" } else { "fail" },
                ours.as_ref()
                    .map(|_| ())
                    .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>())
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_difference_is_a_case() {
    let cases = cases();
    for (v, p, _) in DIFFERENCES {
        assert!(
            cases
                .iter()
                .any(|c| c.version_text == *v && c.pattern == *p),
            "stale difference: {v} {p}"
        );
    }
}
