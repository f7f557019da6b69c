//! The fuzz targets: one function per parser that takes arbitrary bytes, runs the parser the
//! way tiport runs it on input from outside, and checks what must hold whatever the input.
//! A target returns normally for every input; a panic (an assertion here, or a bug below) is
//! a finding.
//!
//! # Key decision: the targets are plain functions in a plain crate
//!
//! cargo-fuzz needs a nightly toolchain, which these machines cannot install. The same
//! functions run two ways instead: under libFuzzer, built on the stable toolchain with
//! coverage instrumentation by `scripts/fuzz.sh` (the `fuzz/` crate, outside the workspace,
//! so that its instrumented build does not touch the workspace's), and in the test suite,
//! where `tests/smoke.rs` runs each over the committed corpus (`fuzz/corpus/<target>/`, which
//! holds every input libFuzzer kept and every finding) and over seeded mutations of it, so a
//! fixed bug stays fixed on every run of the README's test command.
//!
//! | target | parser | checks |
//! | --- | --- | --- |
//! | [`pattern`] | `stix_pattern::parse`, the checks of both profiles, observable extraction | the canonical text reads back as the same pattern |
//! | [`json_records`] | `ingest::JsonRecords` (arrays, bundles, upload bodies, single objects) and `stix::validate` | records come in order, inside the input, each valid or explained |
//! | [`csv_mapper`] | `ingest::csvmap::CsvReader` (both templates) | every mapped row is a valid STIX indicator; every refused row is explained; neutralized cells start with no formula |
//! | [`upload_body`] | `tiport_core::upload::read` (the upload API's body, short of the store) | at most the allowed objects; every record accounted for once |

use std::collections::HashSet;

use ingest::csvmap::{CsvReader, IdScope};
use ingest::{JsonRecords, Limits};
use stix::{Json, Options, Profile, SpecVersion};

/// A fuzz target: arbitrary bytes in; returns normally for every input.
pub type Target = fn(&[u8]);

/// Every target, by name (the names of `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*`).
pub const TARGETS: &[(&str, Target)] = &[
    ("pattern", pattern),
    ("json_records", json_records),
    ("csv_mapper", csv_mapper),
    ("upload_body", upload_body),
];

/// A STIX pattern: parsed, checked in every profile and version, its observables extracted;
/// a pattern that parses prints as text that parses to the same pattern.
pub fn pattern(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = stix_pattern::parse(src) else {
        return;
    };
    for profile in [
        stix_pattern::Profile::Compatible,
        stix_pattern::Profile::Strict,
    ] {
        for version in [SpecVersion::V20, SpecVersion::V21] {
            let _ = p.check(stix_pattern::Options { profile, version });
        }
    }
    let _ = p.observables();
    let canonical = p.to_string();
    let again = stix_pattern::parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical text {canonical:?} of {src:?} does not parse: {e}"));
    assert_eq!(
        again.to_string(),
        canonical,
        "canonical text is not stable for {src:?}"
    );
}

/// A JSON file of records, as an import reads it, with small limits so that the limits' paths
/// are reached too.
pub fn json_records(data: &[u8]) {
    let limits = Limits {
        max_record_bytes: 64 << 10,
        max_depth: 64,
    };
    let mut records = JsonRecords::new(data, limits);
    let mut expected = 0usize;
    let _ = records.for_each(|rec| -> Result<(), ingest::ReadError> {
        assert_eq!(rec.index, expected, "records out of order");
        expected += 1;
        assert!(rec.line >= 1 && rec.column >= 1);
        assert!(rec.bytes.len() <= data.len());
        if let Ok(json) = &rec.value {
            for profile in [Profile::Compatible, Profile::Strict] {
                let report = stix::validate(
                    json,
                    Options {
                        profile,
                        observables: true,
                    },
                    rec.container_version,
                );
                // A refusal always says why.
                assert!(report.is_valid() || !report.messages().is_empty());
            }
        }
        Ok(())
    });
}

/// A CSV file of either template, as an import reads it.
pub fn csv_mapper(data: &[u8]) {
    let scope = IdScope {
        workspace: "00000000-0000-4000-8000-000000000000".into(),
        source: "fuzz".into(),
    };
    let now = stix::Timestamp::parse("2024-01-01T00:00:00.000Z").expect("constant");
    let Ok(reader) = CsvReader::new(data, None, scope, now) else {
        return;
    };
    let mut ids = HashSet::new();
    for (n, row) in reader.enumerate() {
        let Ok(row) = row else {
            return;
        };
        assert_eq!(row.index, n, "rows out of order");
        match row.outcome {
            Ok(mapped) => {
                let json = Json::parse(&mapped.json)
                    .unwrap_or_else(|e| panic!("mapped JSON does not parse: {e}: {}", mapped.json));
                let report = stix::validate(&json, Options::default(), Some(SpecVersion::V21));
                assert!(
                    report.is_valid(),
                    "a mapped row is not a valid indicator: {:?}\n{}",
                    report.messages(),
                    mapped.json
                );
                assert!(stix::StixId::parse(&mapped.id).is_ok());
                let (before, after) = mapped.content();
                assert!(before.len() + after.len() < mapped.json.len());
                let _ = ids.insert(mapped.id);
            }
            Err(bad) => {
                assert!(!bad.errors.is_empty(), "a refused row says nothing");
                for cell in &bad.cells {
                    let safe = ingest::csvmap::neutralize_cell(cell);
                    assert!(
                        !safe.starts_with(['=', '+', '-', '@', '\t', '\r', '\0']),
                        "{safe:?}"
                    );
                }
            }
        }
    }
}

/// The upload API's body, as the service reads it before storing.
pub fn upload_body(data: &[u8]) {
    const MAX: usize = 20;
    match tiport_core::upload::read(data, MAX) {
        Ok(read) => {
            assert!(read.count <= MAX);
            assert_eq!(read.valid.len() + read.errors.len(), read.count);
            let mut seen = HashSet::new();
            for o in &read.valid {
                assert!(seen.insert(o.record), "record {} twice", o.record);
            }
            for e in &read.errors {
                assert!(
                    seen.insert(e.record_index),
                    "record {} twice",
                    e.record_index
                );
                assert!(!e.error_messages.is_empty());
            }
            assert!(!read.source.as_str().is_empty());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
