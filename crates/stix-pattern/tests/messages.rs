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
        Options {
            profile: Profile::Compatible,
            version: SpecVersion::V21,
        },
    ),
    (
        "2.1 strict",
        Options {
            profile: Profile::Strict,
            version: SpecVersion::V21,
        },
    ),
    (
        "2.0 compatible",
        Options {
            profile: Profile::Compatible,
            version: SpecVersion::V20,
        },
    ),
    (
        "2.0 strict",
        Options {
            profile: Profile::Strict,
            version: SpecVersion::V20,
        },
    ),
];

/// What each profile says of each pattern, one block per pattern. Profiles that say the same
/// as the one before are folded into it, so the snapshot shows where they differ.
fn report<'a>(patterns: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for pattern in patterns {
        writeln!(out, "{pattern}").unwrap();
        let mut previous: Option<(Vec<String>, Vec<&str>)> = None;
        let mut blocks = Vec::new();
        for (name, opts) in PROFILES {
            let said = match validate(pattern, opts) {
                Ok(_) => vec!["(valid)".to_owned()],
                Err(errors) => errors.iter().map(ToString::to_string).collect(),
            };
            match &mut previous {
                Some((last, names)) if *last == said => names.push(name),
                _ => {
                    if let Some(p) = previous.take() {
                        blocks.push(p);
                    }
                    previous = Some((said, vec![name]));
                }
            }
        }
        blocks.extend(previous);
        for (said, names) in blocks {
            writeln!(out, "  {}:", names.join(", ")).unwrap();
            for line in said {
                writeln!(out, "    {line}").unwrap();
            }
        }
    }
    out
}

fn data(name: &str) -> String {
    test_support::read_data(env!("CARGO_MANIFEST_DIR"), name)
}

#[test]
fn refused_patterns() {
    let text = data("refused-patterns.txt");
    let patterns = text.lines().filter(|l| !l.starts_with('#'));
    insta::assert_snapshot!(report(patterns));
}

#[test]
fn stix2_patterns_failure_cases() {
    let text = data("stix2-patterns-cases.tsv");
    let patterns = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| match l.splitn(4, '\t').collect::<Vec<_>>()[..] {
            [_, "fail", _, pattern] => Some(pattern),
            _ => None,
        });
    insta::assert_snapshot!(report(patterns));
}
