//! The messages users read, snapshotted: every refused pattern of `data/refused-patterns.txt`
//! and every failure case stix2-patterns ships (`data/stix2-patterns-cases.tsv`), with what each
//! profile and version says. A change of wording, of a column or of a verdict shows as a diff
//! of `tests/snapshots/messages__*.snap` to review (`cargo insta review`, or accept the
//! `.snap.new` file by renaming it); a pattern that no longer fails shows as `(valid)`.

use std::fmt::Write;

use stix_pattern::{validate, Options, Profile, SpecVersion};

const PROFILES: [(&str, Options); 4] = [
    (
        "2.1 compatible",
        Options::new(Profile::Compatible, SpecVersion::V21),
    ),
    (
        "2.1 strict",
        Options::new(Profile::Strict, SpecVersion::V21),
    ),
    (
        "2.0 compatible",
        Options::new(Profile::Compatible, SpecVersion::V20),
    ),
    (
        "2.0 strict",
        Options::new(Profile::Strict, SpecVersion::V20),
    ),
];

/// What each profile says of each pattern, one block per pattern. Profiles that say the same
/// as the one before are folded into it, so the snapshot shows where they differ.
fn report<'a>(patterns: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for pattern in patterns {
        writeln!(out, "{pattern}").unwrap();
        let mut blocks: Vec<(Vec<String>, Vec<&str>)> = Vec::new();
        for (name, opts) in PROFILES {
            let said = match validate(pattern, opts) {
                Ok(_) => vec!["(valid)".to_owned()],
                Err(errors) => errors.iter().map(ToString::to_string).collect(),
            };
            match blocks.last_mut() {
                Some((last, names)) if *last == said => names.push(name),
                _ => blocks.push((said, vec![name])),
            }
        }
        for (said, names) in blocks {
            writeln!(out, "  {}:", names.join(", ")).unwrap();
            for line in said {
                writeln!(out, "    {line}").unwrap();
            }
        }
    }
    out
}

/// The lines of the data file `name` that are not `#` comments.
fn data_lines(name: &str) -> Vec<String> {
    let text = test_support::read_data(env!("CARGO_MANIFEST_DIR"), name);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn refused_patterns() {
    let patterns = data_lines("refused-patterns.txt");
    insta::assert_snapshot!(report(patterns.iter().map(String::as_str)));
}

#[test]
fn stix2_patterns_failure_cases() {
    let lines = data_lines("stix2-patterns-cases.tsv");
    let patterns = lines
        .iter()
        .filter_map(|l| match l.splitn(4, '\t').collect::<Vec<_>>()[..] {
            [_, "fail", _, pattern] => Some(pattern),
            _ => None,
        });
    insta::assert_snapshot!(report(patterns));
}
