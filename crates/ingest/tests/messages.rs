//! The messages users read in an import's error file, snapshotted: every refused row of
//! `data/refused-*.csv` (at least one of each cell rule of both CSV templates), the headers
//! that make a CSV file unreadable, and the JSON containers and records that the record reader
//! refuses. A change of wording, of a column or of a line number shows as a diff of
//! `tests/snapshots/messages__*.snap` to review (`cargo insta review`, or accept the
//! `.snap.new` file by renaming it).

use std::fmt::Write;

use ingest::csvmap::CsvReader;
use ingest::{JsonRecords, Limits, ReadError};

mod support;
use support::{now, scope};

/// Each row of a CSV file as its error file lists it: line, then every message.
fn csv_report(text: &str) -> String {
    let mut out = String::new();
    let reader = match CsvReader::new(text.as_bytes(), None, scope(), now()) {
        Ok(r) => r,
        Err(e) => return format!("the file is refused: {e}\n"),
    };
    for rec in reader {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                writeln!(out, "the file is refused: {e}").unwrap();
                break;
            }
        };
        match rec.outcome {
            Ok(m) => writeln!(out, "line {}: valid ({})", rec.line, m.pattern).unwrap(),
            Err(invalid) => {
                writeln!(out, "line {}:", rec.line).unwrap();
                for m in invalid.messages() {
                    writeln!(out, "    {m}").unwrap();
                }
            }
        }
    }
    out
}

fn data(name: &str) -> String {
    test_support::read_data(env!("CARGO_MANIFEST_DIR"), name)
}

#[test]
fn csv_other_rows() {
    insta::assert_snapshot!(csv_report(&data("refused-other.csv")));
}

#[test]
fn csv_file_rows() {
    insta::assert_snapshot!(csv_report(&data("refused-file.csv")));
}

#[test]
fn csv_headers() {
    let headers = [
        "",
        "name,description",
        "observableType,observableValue",
        "validFrom,observableType,observableValue,observableValue",
        "validFrom,observableType,observableValue,colour,size",
        "validFrom,observableType,observableValue,fileName,MD5",
        "validFrom,fileName",
        "validFrom,fileName,MD5,observableType",
        "validFrom,observableType,observableValue,,",
        "\u{feff}validFrom,observableType,observableValue",
        "{\"type\": \"indicator\"}",
    ];
    insta::assert_snapshot!(test_support::table(headers, |header| {
        csv_report(&format!(
            "{header}\n2024-01-01T00:00:00Z,domain-name,example.com\n"
        ))
    }));
}

/// What the JSON record reader says of a file: each record's verdict, then how it ended.
fn json_report(text: &str) -> String {
    let mut out = String::new();
    let limits = Limits {
        max_depth: 20,
        ..Limits::default()
    };
    let mut records = JsonRecords::new(text.as_bytes(), limits);
    let ended = records.for_each(|rec| -> Result<(), ReadError> {
        let said = match &rec.value {
            Ok(_) => "read".to_owned(),
            Err(d) => d.to_string(),
        };
        writeln!(
            out,
            "record {} at line {}, column {}: {said}",
            rec.index, rec.line, rec.column
        )
        .unwrap();
        Ok(())
    });
    match ended {
        Ok(()) => writeln!(out, "end").unwrap(),
        Err(e) => writeln!(out, "the file is refused: {e}").unwrap(),
    }
    out
}

#[test]
fn json_containers_and_records() {
    let texts = [
        "",
        "   ",
        "42",
        "\"text\"",
        "[",
        "[{\"type\": \"indicator\"},",
        "[{\"type\": \"indicator\"} {\"type\": \"indicator\"}]",
        "[{\"type\": \"indicator\"}, 7, \"x\", null, [1]]",
        "[{\"a\": [[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]}]",
        "[{\"type\": \"indicator\", \"type\": \"malware\"}]",
        "[{\"type\": \"indicator\"}] trailing",
        "{\"type\": \"bundle\", \"objects\": [{\"type\": \"indicator\"}], \"objects\": []}",
        "{\"type\": \"bundle\", \"objects\": 5}",
        "{\"sourcesystem\": \"x\", \"stixobjects\": [{\"type\": \"indicator\"}], \"stixobjects\": []}",
        "{\"sourcesystem\": \"x\", \"stixobjects\": [], \"value\": []}",
        "{\"type\": \"indicator\", \"name\": \"one object\"}",
        "\u{feff}[{\"type\": \"indicator\"}]",
        "[{\"type\": \"indicator\"}, {\"type\": \"indi\ncator\"}]",
    ];
    insta::assert_snapshot!(test_support::table(texts, json_report));
}
