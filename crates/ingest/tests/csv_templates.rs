//! The CSV templates end to end: header handling, every cell rule, the mapping to indicators,
//! and the generated corpus, whose injected invalid rows must be found exactly.

use ingest::csvmap::{
    neutralize_cell, template_text, CsvError, CsvReader, CsvRecord, IdScope, MappedIndicator,
    Template,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use stix::Timestamp;

mod support;
use support::{now, scope};

/// The seed's example, verbatim (`data/seed-samples/bulk-import-example.csv`).
const SEED: &str = "threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,observableType,observableValue\n\
Phishing,\"demo, csv\",MDTI article - Franken-Phish domainname,Entity appears in MDTI article Franken-phish,100,,2022-07-18T12:00:00.000Z,,white,5,domain-name,1776769042.tailspintoys.com\n";

const HEADER: &str = "threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,observableType,observableValue";
const FILE_HEADER: &str = "threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,fileName,MD5,SHA-1,SHA-256,SHA-512";

fn reader(text: &str, template: Option<Template>) -> Result<CsvReader<&[u8]>, CsvError> {
    CsvReader::new(text.as_bytes(), template, scope(), now())
}

fn records(text: &str) -> Vec<CsvRecord> {
    reader(text, None)
        .expect("header is fine")
        .collect::<Result<Vec<_>, _>>()
        .expect("no fatal error")
}

fn valid(rec: &CsvRecord) -> &MappedIndicator {
    match &rec.outcome {
        Ok(m) => m,
        Err(inv) => panic!("row {} is invalid: {:?}", rec.index, inv.messages()),
    }
}

/// The messages of an invalid row.
fn messages(rec: &CsvRecord) -> Vec<String> {
    match &rec.outcome {
        Ok(m) => panic!("row {} is valid: {}", rec.index, m.json),
        Err(inv) => inv.messages(),
    }
}

/// The columns an invalid row's problems name.
fn columns(rec: &CsvRecord) -> Vec<String> {
    match &rec.outcome {
        Ok(m) => panic!("row {} is valid: {}", rec.index, m.json),
        Err(inv) => inv.errors.iter().map(|d| d.property().to_owned()).collect(),
    }
}

/// One csv-other data row from named cells; unnamed cells are empty, validFrom and the
/// observable default to a valid domain indicator.
fn row(cells: &[(&str, &str)]) -> String {
    let mut m: BTreeMap<&str, &str> = BTreeMap::from([
        ("validFrom", "2023-01-01T00:00:00Z"),
        ("observableType", "domain-name"),
        ("observableValue", "example.com"),
    ]);
    for (k, v) in cells {
        m.insert(k, v);
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER.split(',').map(|h| m.get(h).copied().unwrap_or("")))
        .unwrap();
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

/// Named cells of a test row.
type Cells<'a> = &'a [(&'a str, &'a str)];

fn one(cells: Cells) -> CsvRecord {
    let text = format!("{HEADER}\n{}", row(cells));
    let mut recs = records(&text);
    assert_eq!(recs.len(), 1);
    recs.remove(0)
}

fn parsed(m: &MappedIndicator) -> Value {
    serde_json::from_str(&m.json).expect("mapped JSON parses")
}

#[test]
fn seed_example_maps_to_one_indicator() {
    let recs = records(SEED);
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0].index, recs[0].line), (0, 2));
    let m = valid(&recs[0]);
    assert_eq!(
        m.pattern,
        "[domain-name:value = '1776769042.tailspintoys.com']"
    );
    let v = parsed(m);
    assert_eq!(v["type"], "indicator");
    assert_eq!(v["spec_version"], "2.1");
    assert_eq!(v["id"], m.id.as_str());
    assert!(m.id.starts_with("indicator--"));
    assert_eq!(v["pattern"], m.pattern.as_str());
    assert_eq!(v["pattern_type"], "stix");
    assert_eq!(v["labels"], json!(["demo", "csv"]));
    assert_eq!(v["indicator_types"], json!(["Phishing"]));
    assert_eq!(v["name"], "MDTI article - Franken-Phish domainname");
    assert_eq!(
        v["description"],
        "Entity appears in MDTI article Franken-phish"
    );
    assert_eq!(v["confidence"], 100);
    assert_eq!(v["valid_from"], "2022-07-18T12:00:00.000Z");
    assert_eq!(
        v["object_marking_refs"],
        json!(["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"])
    );
    assert_eq!(v["x_tiport_severity"], 5);
    assert_eq!(v["created"], "2024-05-01T10:00:00.000Z");
    assert_eq!(v["modified"], "2024-05-01T10:00:00.000Z");
    assert!(v.get("revoked").is_none());
    assert!(v.get("valid_until").is_none());
    // The mapped indicator is valid STIX in both profiles.
    let tree = stix::Json::parse(&m.json).unwrap();
    assert!(stix::validate(&tree, stix::Options::default(), None).is_valid());
    assert!(stix::validate(&tree, stix::Options::strict(), None).is_valid());
}

/// The same row imported at two times: the JSON differs only in `created`/`modified`, which
/// `stamps` covers exactly, so `content()` is equal and the store can tell the row is unchanged.
#[test]
fn reimport_at_another_time_has_equal_content() {
    let text = format!(
        "{HEADER}\n{}",
        row(&[
            ("name", "n \"quoted\""),
            ("tags", "a,b"),
            ("confidence", "80"),
            ("tlpLevel", "amber")
        ])
    );
    let at = |t: &str| -> MappedIndicator {
        let mut r =
            CsvReader::new(text.as_bytes(), None, scope(), Timestamp::parse(t).unwrap()).unwrap();
        let rec = r.next().expect("one row").expect("no fatal error");
        valid(&rec).clone()
    };
    let a = at("2024-05-01T10:00:00.000Z");
    // Another time, and another length of fraction, so the ranges differ in length too.
    let b = at("2025-01-02T03:04:05.678901Z");
    assert_ne!(a.json, b.json);
    assert_eq!(a.id, b.id);
    assert_eq!(a.content(), b.content());
    assert_eq!(
        &a.json[a.stamps.clone()],
        r#""created":"2024-05-01T10:00:00.000Z","modified":"2024-05-01T10:00:00.000Z","#
    );
    assert_eq!(
        &b.json[b.stamps.clone()],
        r#""created":"2025-01-02T03:04:05.678901Z","modified":"2025-01-02T03:04:05.678901Z","#
    );
    // Without the range, the rest is the same object minus the two timestamps.
    let (before, after) = a.content();
    let rest: Value = serde_json::from_str(&format!("{before}{after}")).unwrap();
    let mut expected = parsed(&a);
    let o = expected.as_object_mut().unwrap();
    o.remove("created");
    o.remove("modified");
    assert_eq!(rest, expected);

    // A changed cell is a changed content.
    let changed = format!(
        "{HEADER}\n{}",
        row(&[
            ("name", "n \"quoted\""),
            ("tags", "a,b"),
            ("confidence", "81"),
            ("tlpLevel", "amber")
        ])
    );
    let mut r = CsvReader::new(changed.as_bytes(), None, scope(), now()).unwrap();
    let c = valid(&r.next().unwrap().unwrap()).clone();
    assert_eq!(c.id, a.id);
    assert_ne!(c.content(), a.content());
}

#[test]
fn the_seed_file_itself_matches_the_copy() {
    let path = test_support::seed_samples().join("bulk-import-example.csv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(text, SEED);
}

/// The generator's corruptions (its manifest's kinds) and more like them: the cells set, and
/// the one column the row's only message must name.
const INVALID_CELLS: &[(&str, Cells<'static>, &str)] = &[
    ("missing_validFrom", &[("validFrom", "")], "validFrom"),
    (
        "bad_timestamp",
        &[("validFrom", "2023-13-45T25:61:00Z")],
        "validFrom",
    ),
    ("bad_timestamp", &[("validFrom", "31/12/2023")], "validFrom"),
    (
        "bad_timestamp",
        &[("validFrom", "2023-07-01 25:00")],
        "validFrom",
    ),
    ("bad_timestamp", &[("validFrom", "not-a-date")], "validFrom"),
    (
        "validUntil_before_validFrom",
        &[
            ("validFrom", "2023-05-01T00:00:00.000Z"),
            ("validUntil", "2023-04-01T00:00:00.000Z"),
        ],
        "validUntil",
    ),
    (
        "validUntil_equal_to_validFrom",
        &[
            ("validFrom", "2023-05-01T00:00:00Z"),
            ("validUntil", "2023-05-01T00:00:00.000Z"),
        ],
        "validUntil",
    ),
    (
        "confidence_out_of_range",
        &[("confidence", "101")],
        "confidence",
    ),
    (
        "confidence_out_of_range",
        &[("confidence", "150")],
        "confidence",
    ),
    (
        "confidence_out_of_range",
        &[("confidence", "-5")],
        "confidence",
    ),
    (
        "confidence_out_of_range",
        &[("confidence", "1000")],
        "confidence",
    ),
    (
        "confidence_out_of_range",
        &[("confidence", "high")],
        "confidence",
    ),
    (
        "bad_observableType",
        &[("observableType", "ip-address")],
        "observableType",
    ),
    (
        "bad_observableType",
        &[("observableType", "IPv4")],
        "observableType",
    ),
    (
        "bad_observableType",
        &[("observableType", "domain")],
        "observableType",
    ),
    (
        "bad_observableType",
        &[("observableType", "hostname")],
        "observableType",
    ),
    (
        "bad_observableType",
        &[("observableType", "file")],
        "observableType",
    ),
    (
        "malformed_observableValue",
        &[
            ("observableType", "ipv4-addr"),
            ("observableValue", "300.17.1.1"),
        ],
        "observableValue",
    ),
    (
        "malformed_observableValue",
        &[
            ("observableType", "ipv6-addr"),
            ("observableValue", "2001:db8:::zz"),
        ],
        "observableValue",
    ),
    (
        "malformed_observableValue",
        &[
            ("observableType", "domain-name"),
            ("observableValue", "bad domain with spaces.com"),
        ],
        "observableValue",
    ),
    (
        "malformed_observableValue",
        &[("observableType", "url"), ("observableValue", "not a url")],
        "observableValue",
    ),
    (
        "malformed_observableValue",
        &[
            ("observableType", "email-addr"),
            ("observableValue", "no-at-sign.example.com"),
        ],
        "observableValue",
    ),
    (
        "malformed_observableValue",
        &[
            ("observableType", "windows-registry-key"),
            ("observableValue", "SOFTWARE\\Run"),
        ],
        "observableValue",
    ),
    (
        "missing_observableValue",
        &[("observableValue", "")],
        "observableValue",
    ),
    (
        "missing_observableType",
        &[("observableType", "")],
        "observableType",
    ),
    ("bad_revoked", &[("revoked", "yes")], "revoked"),
    ("bad_revoked", &[("revoked", "0x1")], "revoked"),
    ("bad_revoked", &[("revoked", "maybe")], "revoked"),
    ("bad_tlp", &[("tlpLevel", "purple")], "tlpLevel"),
    ("bad_severity", &[("severity", "11")], "severity"),
    ("bad_severity", &[("severity", "high")], "severity"),
    (
        "bad_validUntil",
        &[("validUntil", "tomorrow")],
        "validUntil",
    ),
];

#[test]
fn every_invalid_kind_of_the_generator_names_its_column() {
    let cases = INVALID_CELLS;
    for (kind, cells, column) in cases {
        let rec = one(cells);
        assert_eq!(columns(&rec), vec![column.to_string()], "{kind}: {cells:?}");
        let msg = &messages(&rec)[0];
        assert!(
            msg.starts_with(&format!("Error for Property={column}: "))
                && msg.contains(". Actual value: "),
            "{kind}: {msg}"
        );
    }
}

#[test]
fn messages_read_as_the_upload_api_words_them() {
    let rec = one(&[("validFrom", "")]);
    assert_eq!(
        messages(&rec),
        ["Error for Property=validFrom: Required property is missing. Actual value: NULL."]
    );
    let rec = one(&[("confidence", "101")]);
    assert_eq!(
        messages(&rec),
        ["Error for Property=confidence: Must be an integer from 0 to 100. Actual value: 101."]
    );
    let rec = one(&[
        ("observableType", "ipv4-addr"),
        ("observableValue", "300.1.1.1"),
    ]);
    assert_eq!(
        messages(&rec),
        [
            "Error for Property=observableValue: Must be an IPv4 address or CIDR block such as \
          203.0.113.7 or 198.51.100.0/24. Actual value: 300.1.1.1."
        ]
    );
}

#[test]
fn every_problem_of_a_row_is_reported() {
    let rec = one(&[
        ("validFrom", "yesterday"),
        ("confidence", "high"),
        ("revoked", "maybe"),
        ("tlpLevel", "purple"),
        ("severity", "-1"),
        ("observableType", "url"),
        ("observableValue", "not a url"),
    ]);
    assert_eq!(
        columns(&rec),
        [
            "confidence",
            "revoked",
            "validFrom",
            "tlpLevel",
            "severity",
            "observableValue"
        ]
    );
}

#[test]
fn accepted_cell_forms() {
    let cases: &[&[(&str, &str)]] = &[
        &[("revoked", "TRUE")],
        &[("revoked", "False")],
        &[("tlpLevel", "AMBER+STRICT")],
        &[("tlpLevel", "Clear")],
        &[("confidence", "0")],
        &[("severity", "10")],
        &[
            ("validFrom", "2023-07-01T12:00:00+02:00"),
            ("validUntil", "2023-07-01T10:00:01Z"),
        ],
        &[
            ("observableType", "IPV4-ADDR"),
            ("observableValue", "198.51.100.0/24"),
        ],
        &[
            ("observableType", "ipv6-addr"),
            ("observableValue", "2001:db8::/32"),
        ],
        &[
            ("observableType", "url"),
            ("observableValue", "https://1.2.3.4/a.php?id=1&ref=x"),
        ],
        &[
            ("observableType", "email-addr"),
            ("observableValue", "a.b12@mail.example.org"),
        ],
        &[
            ("observableType", "user-account"),
            ("observableValue", "svc_backup"),
        ],
        &[
            ("observableType", "windows-registry-key"),
            (
                "observableValue",
                "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
            ),
        ],
        &[("tags", " , ,")],
        &[("observableValue", "  example.com  ")],
    ];
    for cells in cases {
        valid(&one(cells));
    }
}

#[test]
fn mapping_of_optional_cells() {
    let rec = one(&[
        ("threatTypes", "C2, Botnet,"),
        ("revoked", "TRUE"),
        ("tlpLevel", "amber+strict"),
        ("validFrom", "2023-07-01T12:00:00+02:00"),
        ("validUntil", "2024-01-01T00:00:00.5Z"),
        ("observableType", "user-account"),
        ("observableValue", "jdoe"),
    ]);
    let m = valid(&rec);
    assert_eq!(m.pattern, "[user-account:account_login = 'jdoe']");
    let v = parsed(m);
    assert_eq!(v["indicator_types"], json!(["C2", "Botnet"]));
    assert_eq!(v["revoked"], true);
    assert_eq!(
        v["object_marking_refs"],
        json!([stix::Tlp::AmberStrict.marking_id()])
    );
    assert_eq!(v["valid_from"], "2023-07-01T10:00:00.000Z");
    assert_eq!(v["valid_until"], "2024-01-01T00:00:00.500Z");
    for absent in [
        "labels",
        "confidence",
        "name",
        "description",
        "x_tiport_severity",
    ] {
        assert!(v.get(absent).is_none(), "{absent}");
    }
    let rec = one(&[
        ("observableType", "windows-registry-key"),
        ("observableValue", "HKCU\\Software\\It's"),
    ]);
    let m = valid(&rec);
    assert_eq!(
        m.pattern,
        r"[windows-registry-key:key = 'HKCU\\Software\\It\'s']"
    );
}

#[test]
fn pattern_escaping_round_trips_through_the_pattern_parser() {
    for value in [
        r"HKLM\Software\O'Brien\\x",
        r"HKLM\'\\'",
        r"HKEY_USERS\a'b",
        "o'neil",
        r"back\slash",
        "quote'",
    ] {
        let ty = if value.starts_with("HK") {
            "windows-registry-key"
        } else {
            "user-account"
        };
        let rec = one(&[("observableType", ty), ("observableValue", value)]);
        let m = valid(&rec);
        let p = stix_pattern::parse(&m.pattern).expect("pattern parses");
        let obs = p.observables();
        assert_eq!(obs.len(), 1, "{}", m.pattern);
        assert_eq!(
            obs[0].value,
            stix_pattern::Literal::String(value.into()),
            "{}",
            m.pattern
        );
    }
}

#[test]
fn column_count_errors_are_per_row() {
    let text = format!(
        "{HEADER}\n{}a,b,c\n{}{},extra\n",
        row(&[]),
        row(&[("observableValue", "second.example.com")]),
        row(&[]).trim_end()
    );
    let recs = records(&text);
    assert_eq!(recs.len(), 4);
    valid(&recs[0]);
    assert_eq!(
        messages(&recs[1]),
        ["Error for Property=row: Has 3 fields but the header has 12 columns; look for a missing or extra comma, or an unclosed quote. Actual value: 3."]
    );
    assert_eq!(recs[1].line, 3);
    match &recs[1].outcome {
        Err(inv) => assert_eq!(inv.cells, ["a", "b", "c"]),
        Ok(_) => unreachable!(),
    }
    valid(&recs[2]);
    assert_eq!(columns(&recs[3]), ["row"]);
    assert!(messages(&recs[3])[0].contains("Has 13 fields"));
    assert_eq!(
        recs.iter().map(|r| (r.index, r.line)).collect::<Vec<_>>(),
        [(0, 2), (1, 3), (2, 4), (3, 5)]
    );
}

#[test]
fn multi_line_quoted_cells_keep_line_numbers_right() {
    let notes = row(&[(
        "description",
        "Line one of analyst notes,\nline two with \"quotes\".\n\nline four",
    )]);
    let text = format!(
        "{HEADER}\r\n{}{notes}{}",
        row(&[]),
        row(&[("confidence", "bad")])
    );
    let recs = records(&text);
    assert_eq!(
        recs.iter().map(|r| (r.index, r.line)).collect::<Vec<_>>(),
        [(0, 2), (1, 3), (2, 7)]
    );
    let v = parsed(valid(&recs[1]));
    assert_eq!(
        v["description"],
        "Line one of analyst notes,\nline two with \"quotes\".\n\nline four"
    );
    assert_eq!(columns(&recs[2]), ["confidence"]);
}

#[test]
fn comment_rows_blank_rows_bom_and_crlf() {
    let text = format!(
        "\u{feff}\"# the template's comment row, left in\",,\r\n{HEADER}\r\n# another comment\r\n\r\n{}\r\n,,,,,,,,,,,\r\n{}",
        row(&[]).trim_end(),
        row(&[("observableValue", "two.example.com")]).trim_end()
    );
    let r = reader(&text, None).unwrap();
    assert_eq!(r.header_line(), 2);
    assert_eq!(r.header()[0], "threatTypes");
    let recs: Vec<_> = r.map(Result::unwrap).collect();
    assert_eq!(
        recs.iter().map(|r| (r.index, r.line)).collect::<Vec<_>>(),
        [(0, 5), (1, 7)]
    );
    assert!(recs.iter().all(|r| r.outcome.is_ok()));
    // After the first data row, a row starting with '#' is data, not a comment.
    let text = format!("{HEADER}\n{}#x,,,,,,,,,,,\n", row(&[]));
    let recs = records(&text);
    assert_eq!(recs.len(), 2);
    assert!(columns(&recs[1]).contains(&"validFrom".to_string()));
}

#[test]
fn header_is_found_by_name_in_any_order_and_case() {
    let text = "  OBSERVABLEVALUE , observabletype,validfrom,Tags\nexample.org,domain-name,2023-01-01T00:00:00Z,\"a, b\"\n";
    let recs = records(text);
    let v = parsed(valid(&recs[0]));
    assert_eq!(v["pattern"], "[domain-name:value = 'example.org']");
    assert_eq!(v["labels"], json!(["a", "b"]));
}

#[test]
fn header_problems_are_one_fatal_error() {
    let err = |text: &str, t: Option<Template>| reader(text, t).err().expect("fatal").to_string();
    assert_eq!(err("", None), "line 1: empty file, expected a header row");
    assert_eq!(
        err("\n\n", None),
        "line 1: empty file, expected a header row"
    );
    assert!(
        err("# only a comment\n", None).contains("expected a header row after the comment rows")
    );

    let missing = err("threatTypes,observableType,observableValue\n", None);
    assert!(
        missing.starts_with("line 1: missing required column 'validFrom' for the csv-other template; found columns: threatTypes, observableType, observableValue"),
        "{missing}"
    );
    let missing = err("validFrom,observableType\n", None);
    assert!(
        missing.contains("missing required column 'observableValue'"),
        "{missing}"
    );
    let missing = err("validFrom,fileName\n", None);
    assert!(
        missing.contains("for the csv-file template") && missing.contains("at least one"),
        "{missing}"
    );

    let unknown = err(&format!("{HEADER},foo\n"), None);
    assert!(
        unknown.starts_with("line 1: unknown column 'foo' for the csv-other template"),
        "{unknown}"
    );
    let unknown = err(&format!("# comment\n{HEADER},foo,bar\n"), None);
    assert!(
        unknown.starts_with("line 2: unknown columns 'foo', 'bar'"),
        "{unknown}"
    );

    let dup = err(&format!("{HEADER},validFrom\n"), None);
    assert!(
        dup.contains("column 'validFrom' appears twice (columns 7 and 13)"),
        "{dup}"
    );

    let wrong = err(&format!("{FILE_HEADER}\n"), Some(Template::CsvOther));
    assert_eq!(
        wrong,
        "line 1: this file has the columns of the csv-file template, but it is being imported as csv-other; import it as csv-file or use the csv-other template"
    );
    let wrong = err(SEED, Some(Template::CsvFile));
    assert!(
        wrong.contains("columns of the csv-other template"),
        "{wrong}"
    );

    let mixed = err("validFrom,observableType,observableValue,SHA-256\n", None);
    assert!(mixed.contains("mixes columns"), "{mixed}");
    let neither = err("validFrom,name\n", None);
    assert!(neither.contains("cannot tell the template"), "{neither}");
    let data = err("Phishing,demo,x,y\n", None);
    assert!(data.contains("not a template header"), "{data}");
    let semi = err(&format!("{}\n", HEADER.replace(',', ";")), None);
    assert!(semi.contains("seems to use ';'"), "{semi}");
}

#[test]
fn header_only_is_zero_records() {
    assert!(records(&format!("{HEADER}\n")).is_empty());
    assert!(records(&format!("\"# comment\"\n{HEADER}\n# c\n")).is_empty());
    let r = reader(FILE_HEADER, None).unwrap();
    assert_eq!(r.template(), Template::CsvFile);
    assert_eq!(r.count(), 0);
}

#[test]
fn invalid_utf8_is_a_per_row_error_naming_the_column() {
    let mut bytes = format!("{HEADER}\n").into_bytes();
    bytes
        .extend_from_slice(b",,bad \xff name,,,,2023-01-01T00:00:00Z,,,,domain-name,example.com\n");
    bytes.extend_from_slice(row(&[]).as_bytes());
    let recs: Vec<_> = CsvReader::new(&bytes[..], None, scope(), now())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(columns(&recs[0]), ["name"]);
    assert!(messages(&recs[0])[0].contains("not valid UTF-8"));
    match &recs[0].outcome {
        Err(inv) => assert_eq!(inv.cells[2], "bad \u{fffd} name"),
        Ok(_) => unreachable!(),
    }
    valid(&recs[1]);
}

#[test]
fn unnamed_header_columns_must_stay_empty() {
    let text = format!(
        "{HEADER},\n{},\n{},oops\n",
        row(&[]).trim_end(),
        row(&[]).trim_end()
    );
    let recs = records(&text);
    valid(&recs[0]);
    assert_eq!(columns(&recs[1]), ["column 13"]);
}

#[test]
fn csv_file_rows_or_their_hashes() {
    let md5 = "5f2b7c3e9a1d4e6f8b0c2d4e6f8a0b1c";
    let sha256 = "3b5d7f9e1c2a4b6d8f0e2c4a6b8d0f1e3c5a7b9d1f3e5c7a9b1d3f5e7c9a1b3d";
    let text = format!(
        "{FILE_HEADER}\n\
         Malware,,Dropper,,80,,2024-01-15T09:30:00Z,,green,7,invoice.pdf.exe,{md5},,{sha256},\n\
         ,,,,,,2024-01-15T09:30:00Z,,,,,,,,\n\
         ,,,,,,2024-01-15T09:30:00Z,,,,,{md5}0,zz,,\n"
    );
    let recs = records(&text);
    let m = valid(&recs[0]);
    assert_eq!(
        m.pattern,
        format!("[file:hashes.MD5 = '{md5}' OR file:hashes.'SHA-256' = '{sha256}']")
    );
    let v = parsed(m);
    assert_eq!(v["x_tiport_file_name"], "invoice.pdf.exe");
    assert_eq!(v["x_tiport_severity"], 7);
    assert!(!m.pattern.contains("invoice"));
    assert_eq!(
        messages(&recs[1]),
        ["Error for Property=MD5/SHA-1/SHA-256/SHA-512: At least one hash is required. Actual value: NULL."]
    );
    assert_eq!(columns(&recs[2]), ["MD5", "SHA-1"]);
    assert!(messages(&recs[2])[0].contains("Must be an MD5 hash: 32 hexadecimal characters"));
}

#[test]
fn csv_file_hash_columns_accept_producer_spellings() {
    let text = "validFrom,sha256,Sha1\n2024-01-15T09:30:00Z,3B5D7F9E1C2A4B6D8F0E2C4A6B8D0F1E3C5A7B9D1F3E5C7A9B1D3F5E7C9A1B3D,\n";
    let recs = records(text);
    assert_eq!(
        valid(&recs[0]).pattern,
        "[file:hashes.'SHA-256' = '3B5D7F9E1C2A4B6D8F0E2C4A6B8D0F1E3C5A7B9D1F3E5C7A9B1D3F5E7C9A1B3D']"
    );
}

#[test]
fn templates_round_trip() {
    for t in [Template::CsvOther, Template::CsvFile] {
        let text = template_text(t);
        assert!(text.starts_with("\"# tiport "), "{t}");
        assert!(text.contains("may be deleted or left in"));
        // Left in, the comment row is skipped; the example row is valid.
        let r = reader(text, None).unwrap();
        assert_eq!(r.template(), t);
        assert_eq!(r.header_line(), 2);
        let recs: Vec<_> = r.map(Result::unwrap).collect();
        assert_eq!(recs.len(), 1, "{t}");
        assert_eq!(recs[0].line, 3);
        valid(&recs[0]);
        // Forced, and with the comment row deleted, the same.
        let without = text.split_once('\n').unwrap().1;
        let recs: Vec<_> = reader(without, Some(t))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(recs.len(), 1);
        valid(&recs[0]);
    }
    // The csv-other example is the seed's row.
    assert!(template_text(Template::CsvOther).ends_with(SEED));
}

#[test]
fn ids_are_deterministic_per_workspace_source_and_pattern() {
    let id = |text: &str, workspace: &str, source: &str| {
        let scope = IdScope {
            workspace: workspace.into(),
            source: source.into(),
        };
        let mut r = CsvReader::new(text.as_bytes(), None, scope, now()).unwrap();
        valid(&r.next().unwrap().unwrap()).id.clone()
    };
    let a = id(SEED, "ws", "src");
    assert_eq!(a, id(SEED, "ws", "src"));
    assert_ne!(a, id(SEED, "ws", "other source"));
    assert_ne!(a, id(SEED, "other ws", "src"));
    // Other cells do not change the id: the pattern is the indicator's identity.
    let renamed = SEED.replace("MDTI article - Franken-Phish domainname", "renamed");
    assert_eq!(a, id(&renamed, "ws", "src"));
    let other = SEED.replace("1776769042.tailspintoys.com", "example.com");
    assert_ne!(a, id(&other, "ws", "src"));
    // A UUIDv5 (RFC 4122 variant), so the strict profile accepts it too.
    let sid = stix::StixId::parse(&a).unwrap();
    assert_eq!(sid.uuid_version(), 5);
    assert!(sid.is_rfc4122_variant());
    // Fixed forever: a change here would turn every re-import of a file imported before into
    // duplicates. The literal is what Python's uuid.uuid5 gives for the namespace and the name
    // "ws\nsrc\n[domain-name:value = '1776769042.tailspintoys.com']", computed outside tiport.
    assert_eq!(a, "indicator--521059a5-5380-5ad8-948a-f02fc090d0cc");
}

#[test]
fn neutralize_cell_is_exported() {
    assert_eq!(neutralize_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
    assert_eq!(neutralize_cell("ok"), "ok");
}

#[test]
fn generated_corpus_invalid_rows_are_exactly_the_injected_ones() {
    let script = test_support::shared().join("tools/gen_corpus.py");
    assert!(
        script.exists(),
        "{} is missing (set TIPORT_SHARED)",
        script.display()
    );
    let dir = std::env::temp_dir().join(format!("tiport-csv-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, manifest) = (dir.join("c.csv"), dir.join("c.manifest.json"));
    let status = std::process::Command::new("python3")
        .arg(&script)
        .args(["csv", "--mb", "2", "--seed", "3", "--invalid-rate", "0.01"])
        .arg("--out")
        .arg(&out)
        .arg("--manifest")
        .arg(&manifest)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let injected: BTreeMap<usize, String> = manifest["injected"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.as_str().unwrap().to_owned()))
        .collect();
    let total = manifest["summary"]["records"].as_u64().unwrap() as usize;

    let file = std::fs::File::open(&out).unwrap();
    let r = CsvReader::new(std::io::BufReader::new(file), None, scope(), now()).unwrap();
    let mut invalid = BTreeMap::new();
    let mut count = 0;
    let mut multi_line = 0;
    let mut last_line = 1;
    for rec in r {
        let rec = rec.unwrap();
        assert_eq!(rec.index, count);
        assert!(rec.line > last_line);
        multi_line += usize::from(rec.line > last_line + 1);
        last_line = rec.line;
        count += 1;
        if let Err(inv) = rec.outcome {
            invalid.insert(rec.index, inv.errors);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(count, total);
    assert!(multi_line > 0, "the corpus has multi-line descriptions");
    let found: Vec<usize> = invalid.keys().copied().collect();
    let expected: Vec<usize> = injected.keys().copied().collect();
    assert_eq!(found, expected, "invalid rows found vs injected");
    for (i, kind) in &injected {
        let cols: Vec<&str> = invalid[i].iter().map(|d| d.property()).collect();
        let want = test_support::corpus_csv_column(kind);
        assert_eq!(cols, [want], "row {i} ({kind})");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(r) = CsvReader::new(&bytes[..], None, scope(), now()) {
            for rec in r {
                let _ = rec;
            }
        }
    }

    #[test]
    fn arbitrary_rows_under_a_valid_header_never_panic(body in "[a-z0-9,\"'\\\\#:./ \n-]{0,300}") {
        let text = format!("{HEADER}\n{body}");
        for rec in reader(&text, None).unwrap() {
            let rec = rec.unwrap();
            if let Ok(m) = rec.outcome {
                prop_assert!(serde_json::from_str::<Value>(&m.json).is_ok());
            }
        }
    }

    #[test]
    fn any_user_account_value_round_trips(value in "[ -~]{1,40}") {
        let value = value.trim();
        prop_assume!(!value.is_empty());
        let rec = one(&[("observableType", "user-account"), ("observableValue", value)]);
        let m = valid(&rec);
        let p = stix_pattern::parse(&m.pattern).unwrap();
        prop_assert_eq!(&p.observables()[0].value, &stix_pattern::Literal::String(value.into()));
    }
}

#[test]
fn line_numbers_survive_crlf_blank_lines_and_a_missing_final_newline() {
    let r = |extra: &[(&str, &str)]| row(extra).trim_end().to_owned();
    let text = format!(
        "{HEADER}\r\n\r\n\r\n{}\r\n{}\r\n\n{}",
        r(&[]),
        r(&[("description", "a\r\nb\r\nc")]),
        r(&[("confidence", "x")])
    );
    let recs = records(&text);
    assert_eq!(
        recs.iter().map(|r| (r.index, r.line)).collect::<Vec<_>>(),
        [(0, 4), (1, 5), (2, 9)]
    );
}

#[test]
fn a_runaway_row_keeps_a_bounded_number_of_cells() {
    let text = format!("{HEADER}\nx{}\n", ",".repeat(100_000));
    let recs = records(&text);
    assert_eq!(recs.len(), 1);
    match &recs[0].outcome {
        Err(inv) => {
            assert_eq!(inv.cells.len(), 12 + 16);
            // "x" and the commas joined into the last cell.
            assert_eq!(inv.cells.concat().len(), 1 + 100_000 - (12 + 16 - 1));
            assert!(inv.messages()[0].contains("Has 100001 fields but the header has 12 columns"));
        }
        Ok(_) => unreachable!(),
    }
}
