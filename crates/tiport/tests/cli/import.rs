//! `tiport import`, `tiport export`, `tiport import-status` and `tiport workspace create`,
//! driven as an analyst would drive them: each test has its own empty data directory.

use crate::helpers::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

const CSV_OTHER_HEADER: [&str; 12] = [
    "threatTypes",
    "tags",
    "name",
    "description",
    "confidence",
    "revoked",
    "validFrom",
    "validUntil",
    "tlpLevel",
    "severity",
    "observableType",
    "observableValue",
];

/// The exit code, with the output in the message when it is not the one expected.
#[track_caller]
fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} is not a string in {v}"))
}

fn count(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} is not a count in {v}"))
}

/// The import record keys of the HTTP API, in order.
const RECORD_KEYS: [&str; 11] = [
    "id", "source", "fileName", "format", "mode", "status", "total", "imported", "invalid",
    "created", "finished",
];

/// Checks an import record against the summary line the import printed.
#[track_caller]
fn assert_record_matches(record: &Value, summary: &Value) {
    let keys: Vec<&str> = record
        .as_object()
        .expect("record is an object")
        .keys()
        .map(String::as_str)
        .collect();
    // The API's keys, plus the counts behind `imported`, plus a message when there is one
    // (why it failed, or what it merged).
    let mut want = RECORD_KEYS.to_vec();
    want.extend(["unchanged", "upgraded"]);
    if record.get("message").is_some() {
        want.push("message");
        assert!(record["message"].is_string(), "{record}");
    }
    want.sort_unstable();
    assert_eq!(keys, want, "{record}");
    if record["status"] == "failed" && record["total"] == 0 {
        assert!(
            record["message"].is_string(),
            "a file that failed before any record says why: {record}"
        );
    }
    for k in ["id", "status", "total", "imported", "invalid"] {
        assert_eq!(
            record[k], summary[k],
            "{k}: record {record}, summary {summary}"
        );
    }
    assert!(
        record["finished"].is_string(),
        "a finished import has its end time: {record}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. The seed's examples

#[test]
fn seed_csv_example_imports_one_indicator_and_exports_it() {
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "seed csv");
    let file = seed_samples().join("bulk-import-example.csv");
    let (out, summary) = import(dir.path(), &ws, &file, "Seed CSV", &[]);
    assert_exit(&out, 0);
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(
        (
            count(&summary, "total"),
            count(&summary, "imported"),
            count(&summary, "invalid")
        ),
        (1, 1, 0)
    );
    let id = str_of(&summary, "id");
    let record = import_record(dir.path(), &ws, id);
    assert_record_matches(&record, &summary);
    assert_eq!(record["source"], "Seed CSV");
    assert_eq!(record["fileName"], "bulk-import-example.csv");
    assert_eq!(record["format"], "csv");
    assert_eq!(record["mode"], "valid-only");
    assert!(!dir
        .path()
        .join("imports")
        .join(id)
        .join("errors.csv")
        .exists());

    let objects = export_objects(dir.path(), &ws);
    assert_eq!(objects.len(), 1, "{objects:?}");
    let ind = &objects[0];
    assert_eq!(ind["type"], "indicator");
    assert_eq!(ind["spec_version"], "2.1");
    assert!(str_of(ind, "id").starts_with("indicator--"));
    assert_eq!(
        ind["pattern"],
        "[domain-name:value = '1776769042.tailspintoys.com']"
    );
    assert_eq!(ind["pattern_type"], "stix");
    assert_eq!(ind["name"], "MDTI article - Franken-Phish domainname");
    assert_eq!(
        ind["description"],
        "Entity appears in MDTI article Franken-phish"
    );
    assert_eq!(ind["indicator_types"], serde_json::json!(["Phishing"]));
    assert_eq!(ind["labels"], serde_json::json!(["demo", "csv"]));
    assert_eq!(ind["confidence"], 100);
    assert_eq!(ind["valid_from"], "2022-07-18T12:00:00.000Z");
    // TLP:WHITE (STIX 2.1's predefined marking definition).
    assert_eq!(
        ind["object_marking_refs"],
        serde_json::json!(["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"])
    );

    let out = run_in(
        dir.path(),
        &["export", "--workspace", &ws, "--format", "csv"],
    );
    assert_exit(&out, 0);
    let mut rdr = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(
        rdr.headers().unwrap(),
        &csv::StringRecord::from(CSV_OTHER_HEADER.to_vec())
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    let row: BTreeMap<&str, &str> = CSV_OTHER_HEADER
        .iter()
        .copied()
        .zip(rows[0].iter())
        .collect();
    assert_eq!(row["observableType"], "domain-name");
    assert_eq!(row["observableValue"], "1776769042.tailspintoys.com");
    assert_eq!(row["validFrom"], "2022-07-18T12:00:00.000Z");
    assert_eq!(row["tags"], "demo, csv");
    assert_eq!(row["threatTypes"], "Phishing");
    assert_eq!(row["confidence"], "100");
    assert_eq!(row["severity"], "5");
    assert!(
        ["white", "clear"].contains(&row["tlpLevel"]),
        "{:?}",
        row["tlpLevel"]
    );
}

#[test]
fn seed_json_example_imports_two_objects_and_exports_them_as_sent() {
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "seed json");
    let file = seed_samples().join("bulk-import-example.json");
    let (out, summary) = import(dir.path(), &ws, &file, "Seed JSON", &[]);
    assert_exit(&out, 0);
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(
        (
            count(&summary, "total"),
            count(&summary, "imported"),
            count(&summary, "invalid")
        ),
        (2, 2, 0)
    );
    let record = import_record(dir.path(), &ws, str_of(&summary, "id"));
    assert_record_matches(&record, &summary);
    assert_eq!(record["format"], "json");

    let seed: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut objects = export_objects(dir.path(), &ws);
    objects.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let mut want = seed.clone();
    want.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    // Every property kept, the compatible profile's "95" and "" included.
    assert_eq!(objects, want);

    let out = run_in(
        dir.path(),
        &["export", "--workspace", &ws, "--format", "csv"],
    );
    assert_exit(&out, 0);
    let mut rdr = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(
        rdr.headers().unwrap(),
        &csv::StringRecord::from(CSV_OTHER_HEADER.to_vec())
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    // Indicators only: the attack pattern has no row.
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row: BTreeMap<&str, &str> = CSV_OTHER_HEADER
        .iter()
        .copied()
        .zip(rows[0].iter())
        .collect();
    assert_eq!(row["observableType"], "ipv4-addr");
    assert_eq!(row["observableValue"], "198.168.100.5");
    assert_eq!(row["validFrom"], "2016-07-20T12:00:00.000Z");
    assert_eq!(row["name"], "Sample IPv4 indicator");
    assert_eq!(row["confidence"], "95");
}

// ---------------------------------------------------------------------------------------------
// 2. Generated corpora with injected invalid records

/// `injected` of a gen_corpus.py manifest: record index → kind.
pub(crate) fn manifest(path: &Path) -> (u64, BTreeMap<u64, String>) {
    let m: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let records = m["summary"]["records"].as_u64().expect("summary.records");
    let injected = m["injected"]
        .as_object()
        .expect("injected")
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.as_str().unwrap().to_owned()))
        .collect();
    (records, injected)
}

/// The 1-based file line on which each CSV record (the header first) starts, counted here
/// from the bytes: a line break inside a quoted cell does not start a record.
fn csv_record_lines(text: &str) -> Vec<u64> {
    let mut starts = Vec::new();
    let (mut line, mut quoted, mut at_start) = (1u64, false, true);
    for c in text.chars() {
        if at_start {
            starts.push(line);
            at_start = false;
        }
        match c {
            '"' => quoted = !quoted,
            '\n' => {
                line += 1;
                at_start = !quoted;
            }
            _ => {}
        }
    }
    starts
}

/// What the error file should say about one invalid row of the generated CSV.
#[derive(Debug)]
struct CsvExpect {
    /// Injected by the generator: the column its messages must name, and the row's cells.
    column: &'static str,
    cells: Vec<String>,
}

/// The column a gen_corpus.py CSV corruption breaks.
fn column_of_kind(kind: &str) -> &'static str {
    match kind {
        "missing_validFrom" | "bad_timestamp" => "validFrom",
        "validUntil_before_validFrom" => "validUntil",
        "confidence_out_of_range" => "confidence",
        "bad_observableType" => "observableType",
        "malformed_observableValue" | "missing_observableValue" => "observableValue",
        "bad_revoked" => "revoked",
        other => panic!("unknown injected kind {other}: update this test"),
    }
}

/// The invalid rows of the generated CSV, by file line: the injected ones, and the valid rows
/// whose observable an earlier valid row already has (the same indicator id twice in one file
/// is refused, naming the first row's line).
/// The generated CSV's rows, the invalid ones by file line, and how many valid rows repeat
/// an earlier valid row's observable (merged into its indicator, so they are imported but make
/// no object of their own).
fn expected_csv_errors(file: &Path, manifest_path: &Path) -> (u64, BTreeMap<u64, CsvExpect>, u64) {
    let (records, injected) = manifest(manifest_path);
    let text = std::fs::read_to_string(file).unwrap();
    let lines = csv_record_lines(&text);
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rdr.headers().unwrap(),
        &csv::StringRecord::from(CSV_OTHER_HEADER.to_vec())
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, records);
    assert_eq!(lines.len(), rows.len() + 1, "header plus one start per row");
    let mut first: HashMap<(String, String), u64> = HashMap::new();
    let mut expected = BTreeMap::new();
    let mut repeats = 0;
    for (i, row) in rows.iter().enumerate() {
        let line = lines[i + 1];
        if let Some(kind) = injected.get(&(i as u64)) {
            let cells = row.iter().map(str::to_owned).collect();
            expected.insert(
                line,
                CsvExpect {
                    column: column_of_kind(kind),
                    cells,
                },
            );
            continue;
        }
        let key = (row[10].to_owned(), row[11].to_owned());
        match first.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => repeats += 1,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(line);
            }
        }
    }
    (records, expected, repeats)
}

/// Reads a CSV error file and checks it against `expected`: the header, one row per invalid
/// row with its line, and no cell a spreadsheet would run as a formula.
fn check_csv_error_file(path: &Path, expected: &BTreeMap<u64, CsvExpect>) {
    let text = std::fs::read(path).unwrap();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_slice());
    let header = rdr.headers().unwrap().clone();
    let mut want_header = vec!["line", "errorMessages"];
    want_header.extend(CSV_OTHER_HEADER);
    assert_eq!(header, csv::StringRecord::from(want_header));
    let mut neutralized = 0;
    let mut seen = BTreeSet::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        for cell in rec.iter().chain(header.iter()) {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "a cell a spreadsheet would execute: {cell:?} in {rec:?}"
            );
        }
        let line: u64 = rec[0]
            .parse()
            .unwrap_or_else(|_| panic!("line cell {:?} of {rec:?}", &rec[0]));
        assert!(seen.insert(line), "line {line} listed twice");
        let messages = &rec[1];
        match expected.get(&line) {
            None => panic!("line {line} is listed but is not invalid: {rec:?}"),
            Some(CsvExpect { column, cells }) => {
                assert!(
                    messages.contains(&format!("Property={column}")),
                    "line {line}: messages should name {column}: {messages}"
                );
                let got: Vec<&str> = rec.iter().skip(2).collect();
                let want: Vec<String> = cells
                    .iter()
                    .map(|c| {
                        if c.starts_with(['=', '+', '-', '@']) {
                            neutralized += 1;
                            format!("'{c}")
                        } else {
                            c.clone()
                        }
                    })
                    .collect();
                assert_eq!(got, want, "line {line}: the row's cells, neutralized");
            }
        }
    }
    let want: BTreeSet<u64> = expected.keys().copied().collect();
    assert_eq!(seen, want, "the error file lists exactly the invalid rows");
    assert!(
        neutralized > 0,
        "the corpus should hold cells to neutralize (such as a confidence of -5)"
    );
}

#[test]
fn generated_csv_valid_only_imports_the_valid_rows_and_lists_the_invalid_by_line() {
    let file = test_data("indicators_1mb_invalid.csv");
    let (records, expected, repeats) =
        expected_csv_errors(&file, &test_data("indicators_1mb_invalid.manifest.json"));
    assert!(repeats > 0, "the corpus has repeated observables");
    let invalid = expected.len() as u64;
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "generated csv");
    let (out, summary) = import(
        dir.path(),
        &ws,
        &file,
        "Generated",
        &["--mode", "valid-only"],
    );
    assert_exit(&out, 1);
    assert_eq!(summary["status"], "partially-succeeded");
    assert_eq!(count(&summary, "total"), records);
    assert_eq!(count(&summary, "invalid"), invalid);
    assert_eq!(count(&summary, "imported"), records - invalid);
    let id = str_of(&summary, "id");
    assert_record_matches(&import_record(dir.path(), &ws, id), &summary);

    let errors = error_file(dir.path(), id);
    assert_eq!(errors.file_name().unwrap(), "errors.csv");
    check_csv_error_file(&errors, &expected);

    assert!(
        stderr(&out).contains(&format!("{repeats} row(s) repeat the observable")),
        "{}",
        stderr(&out)
    );
    let objects = export_objects(dir.path(), &ws);
    assert_eq!(objects.len() as u64, records - invalid - repeats);
    assert!(objects.iter().all(|o| o["type"] == "indicator"));
}

#[test]
fn generated_csv_all_or_nothing_imports_nothing_and_still_lists_the_invalid() {
    let file = test_data("indicators_1mb_invalid.csv");
    let (records, expected, _) =
        expected_csv_errors(&file, &test_data("indicators_1mb_invalid.manifest.json"));
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "generated csv aon");
    let (out, summary) = import(
        dir.path(),
        &ws,
        &file,
        "Generated",
        &["--mode", "all-or-nothing"],
    );
    assert_exit(&out, 1);
    assert_eq!(summary["status"], "failed");
    assert_eq!(count(&summary, "total"), records);
    assert_eq!(count(&summary, "imported"), 0);
    assert_eq!(count(&summary, "invalid"), expected.len() as u64);
    let id = str_of(&summary, "id");
    let record = import_record(dir.path(), &ws, id);
    assert_record_matches(&record, &summary);
    assert_eq!(record["mode"], "all-or-nothing");
    check_csv_error_file(&error_file(dir.path(), id), &expected);
    assert_eq!(export_objects(dir.path(), &ws), Vec::<Value>::new());
}

/// The generated JSON corpus: one object per line after the opening `[`, so record `i` is on
/// line `i + 2`. Returns the ids of the records the manifest does not mark invalid.
fn generated_json() -> (
    std::path::PathBuf,
    u64,
    BTreeMap<u64, String>,
    BTreeSet<String>,
) {
    let file = test_data("stix_2mb_invalid.json");
    let (records, injected) = manifest(&test_data("stix_2mb_invalid.manifest.json"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut valid_ids = BTreeSet::new();
    let mut n = 0u64;
    for (i, line) in text.lines().enumerate().skip(1) {
        let line = line.trim_end_matches(',');
        if line == "]" {
            break;
        }
        let index = (i - 1) as u64;
        let v: Value = serde_json::from_str(line).unwrap();
        if !injected.contains_key(&index) {
            valid_ids.insert(str_of(&v, "id").to_owned());
        }
        n += 1;
    }
    assert_eq!(n, records);
    (file, records, injected, valid_ids)
}

fn check_json_error_file(path: &Path, injected: &BTreeMap<u64, String>) {
    assert_eq!(path.file_name().unwrap(), "errors.json");
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("a JSON array");
    let mut seen = BTreeSet::new();
    for e in &entries {
        let obj = e.as_object().expect("an entry is an object");
        assert!(
            obj.keys()
                .all(|k| ["recordIndex", "line", "errorMessages"].contains(&k.as_str())),
            "{e}"
        );
        let index = e["recordIndex"].as_u64().expect("recordIndex");
        assert!(seen.insert(index), "record {index} listed twice");
        if let Some(line) = e.get("line") {
            assert_eq!(line.as_u64(), Some(index + 2), "{e}");
        }
        let msgs = e["errorMessages"].as_array().expect("errorMessages");
        assert!(!msgs.is_empty(), "{e}");
        for m in msgs {
            assert!(
                m.as_str().unwrap_or("").starts_with("Error for Property="),
                "{e}"
            );
        }
    }
    let want: BTreeSet<u64> = injected.keys().copied().collect();
    assert_eq!(
        seen, want,
        "the error file lists exactly the injected records"
    );
}

#[test]
fn generated_json_valid_only_imports_the_valid_records_and_lists_the_invalid_by_index() {
    let (file, records, injected, valid_ids) = generated_json();
    let invalid = injected.len() as u64;
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "generated json");
    let (out, summary) = import(dir.path(), &ws, &file, "Generated", &[]);
    assert_exit(&out, 1);
    assert_eq!(summary["status"], "partially-succeeded");
    assert_eq!(count(&summary, "total"), records);
    assert_eq!(count(&summary, "invalid"), invalid);
    assert_eq!(count(&summary, "imported"), records - invalid);
    let id = str_of(&summary, "id");
    assert_record_matches(&import_record(dir.path(), &ws, id), &summary);
    check_json_error_file(&error_file(dir.path(), id), &injected);

    let exported: BTreeSet<String> = export_objects(dir.path(), &ws)
        .iter()
        .map(|o| str_of(o, "id").to_owned())
        .collect();
    assert_eq!(exported, valid_ids);
}

#[test]
fn generated_json_all_or_nothing_imports_nothing_and_still_lists_the_invalid() {
    let (file, records, injected, _) = generated_json();
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "generated json aon");
    let (out, summary) = import(
        dir.path(),
        &ws,
        &file,
        "Generated",
        &["--mode", "all-or-nothing"],
    );
    assert_exit(&out, 1);
    assert_eq!(summary["status"], "failed");
    assert_eq!(count(&summary, "total"), records);
    assert_eq!(count(&summary, "imported"), 0);
    assert_eq!(count(&summary, "invalid"), injected.len() as u64);
    let id = str_of(&summary, "id");
    assert_record_matches(&import_record(dir.path(), &ws, id), &summary);
    check_json_error_file(&error_file(dir.path(), id), &injected);
    assert_eq!(export_objects(dir.path(), &ws), Vec::<Value>::new());
}

// ---------------------------------------------------------------------------------------------
// 3. Importing the same CSV again

/// The csv-other template as `tiport template` prints it (comment row, header, example row),
/// with more rows: every observable type of the generated corpus, quoting, a CIDR block.
fn hand_written_csv(dir: &Path) -> std::path::PathBuf {
    let out = run(&["template", "csv-other"], None);
    assert_exit(&out, 0);
    let mut text = stdout(&out);
    text.push_str(concat!(
        "Botnet,\"c2, botnet\",C2 address,\"Seen beaconing, every 60s\",80,false,",
        "2024-01-01T00:00:00.000Z,2025-01-01T00:00:00.000Z,amber,7,ipv4-addr,203.0.113.7\n",
        ",,,,,,2024-02-01T00:00:00Z,,,,ipv6-addr,2001:db8::1\n",
        "Malware,,Payload URL,,,,2024-03-01T00:00:00.000Z,,red,,url,https://example.com/a?q='x'\n",
        ",,,,,,2024-04-01T00:00:00.000Z,,green,,email-addr,user@example.com\n",
        ",,Net block,,,,2024-05-01T00:00:00.000Z,,,,ipv4-addr,198.51.100.0/24\n",
    ));
    let path = dir.join("indicators.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn reimporting_the_same_csv_keeps_the_ids_and_makes_no_new_versions() {
    let files = data_dir();
    let file = hand_written_csv(files.path());
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "reimport");
    let (out, first) = import(dir.path(), &ws, &file, "Analyst", &[]);
    assert_exit(&out, 0);
    assert_eq!(first["status"], "succeeded");
    assert_eq!(
        (count(&first, "total"), count(&first, "imported")),
        (6, 6),
        "the template's comment row is skipped"
    );
    let before = export_objects(dir.path(), &ws);
    assert_eq!(before.len(), 6);
    let url = before
        .iter()
        .find(|o| o["name"] == "Payload URL")
        .expect("the URL indicator");
    assert_eq!(
        url["pattern"],
        r"[url:value = 'https://example.com/a?q=\'x\'']"
    );

    let (out, second) = import(dir.path(), &ws, &file, "Analyst", &[]);
    assert_exit(&out, 0);
    assert_eq!(second["status"], "succeeded");
    assert_ne!(second["id"], first["id"]);
    assert_eq!(count(&second, "total"), 6);
    assert_eq!(count(&second, "imported"), 6);
    assert_eq!(count(&second, "invalid"), 0);
    let after = export_objects(dir.path(), &ws);
    // Same ids, same created and modified, same everything: no new version became current.
    assert_eq!(after, before);
    assert_eq!(import_records(dir.path(), &ws, None).len(), 2);

    // Another source is another feed: its own indicators, the first source's untouched.
    let (out, other) = import(dir.path(), &ws, &file, "Other feed", &[]);
    assert_exit(&out, 0);
    assert_eq!(count(&other, "imported"), 6);
    let all = export_objects(dir.path(), &ws);
    assert_eq!(all.len(), 12);
    for o in &before {
        assert!(all.contains(o), "{o} changed");
    }
}

#[test]
fn reimporting_the_generated_csv_changes_nothing() {
    let file = test_data("indicators_1mb_invalid.csv");
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "reimport generated");
    let (out, first) = import(dir.path(), &ws, &file, "Generated", &[]);
    assert_exit(&out, 1);
    let before = export_objects(dir.path(), &ws);
    let (out, second) = import(dir.path(), &ws, &file, "Generated", &[]);
    assert_exit(&out, 1);
    for k in ["status", "total", "imported", "invalid"] {
        assert_eq!(first[k], second[k], "{k}");
    }
    assert_eq!(export_objects(dir.path(), &ws), before);
}

// ---------------------------------------------------------------------------------------------
// 4. SIGKILL in the middle of an all-or-nothing import

/// A JSON array of `n` valid indicators, one per line.
fn big_json(path: &Path, n: u32) {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(b"[\n").unwrap();
    for i in 0..n {
        if i > 0 {
            w.write_all(b",\n").unwrap();
        }
        write!(
            w,
            concat!(
                r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--5eed0000-0000-4000-8000-{:012x}","#,
                r#""created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","#,
                r#""name":"generated indicator {}","description":"Made by the SIGKILL test, one of many.","#,
                r#""indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '10.{}.{}.{}']","#,
                r#""pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","labels":["kill-test"],"confidence":50}}"#
            ),
            i,
            i,
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        )
        .unwrap();
    }
    w.write_all(b"\n]\n").unwrap();
    w.flush().unwrap();
}

/// The position of the process's read-only descriptor of a file named `name`, if it has one.
fn read_position(pid: u32, name: &str) -> Option<u64> {
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let fd = fd.ok()?;
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        if target.file_name().and_then(|n| n.to_str()) != Some(name) {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .ok()?;
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_owned())
        };
        let flags = u32::from_str_radix(&field("flags:")?, 8).ok()?;
        if flags & 3 == 0 {
            return field("pos:")?.parse().ok();
        }
    }
    None
}

#[test]
fn sigkill_mid_import_leaves_nothing_and_the_import_failed() {
    let files = data_dir();
    let file = files.path().join("big.json");
    big_json(&file, 50_000);
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size > 20_000_000, "{size}");

    let dir = data_dir();
    let ws = create_workspace(dir.path(), "sigkill");
    let mut child = tiport()
        .args([
            "import",
            file.to_str().unwrap(),
            "--workspace",
            &ws,
            "--source",
            "Killed",
            "--mode",
            "all-or-nothing",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the import reads its kept copy of the file past the middle: by then it has
    // handed thousands of objects to the store inside its transaction.
    let started = std::time::Instant::now();
    let pos = loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the import ended ({status}) before it could be killed mid-file; make the \
                 file bigger. stdout: {} stderr: {}",
                stdout(&out),
                stderr(&out)
            );
        }
        if let Some(pos) = read_position(child.id(), "file-big.json") {
            if pos >= size / 2 {
                break pos;
            }
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the import did not get halfway in 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    eprintln!("killing at {pos} of {size} after {:?}", started.elapsed());
    child.kill().unwrap(); // SIGKILL
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), None, "killed by a signal");
    assert_eq!(stdout(&out), "", "no summary from a killed import");
    assert!(
        pos < size,
        "killed before the end of the file ({pos} of {size})"
    );

    // The next command that opens the store finds the import abandoned.
    let out = run_in(dir.path(), &["export", "--workspace", &ws]);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("1 interrupted import(s) marked failed"),
        "{}",
        stderr(&out)
    );
    let bundle: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        bundle["objects"],
        serde_json::json!([]),
        "nothing of the file"
    );

    let records = import_records(dir.path(), &ws, None);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["imported"], 0, "{r}");
    assert_eq!(r["fileName"], "big.json");
    assert_eq!(r["mode"], "all-or-nothing");
    assert!(r["finished"].is_string(), "{r}");

    // The store works on: the next import succeeds, and still nothing of the killed one.
    let (out, summary) = import(
        dir.path(),
        &ws,
        &seed_samples().join("bulk-import-example.json"),
        "After",
        &[],
    );
    assert_exit(&out, 0);
    assert_eq!(summary["imported"], 2);
    assert_eq!(export_objects(dir.path(), &ws).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 5. Bad input: a clear message, a correct import record, nothing stored

/// Imports `bytes` as a file named `name` into a fresh workspace, expects exit `code` and
/// `needle` on stderr, and returns the data directory, workspace and summary.
fn import_bad(
    name: &str,
    bytes: &[u8],
    extra: &[&str],
    code: i32,
    needle: &str,
) -> (tempfile::TempDir, String, Value) {
    let files = data_dir();
    let path = files.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "bad input");
    let (out, summary) = import(dir.path(), &ws, &path, "Bad", extra);
    assert_exit(&out, code);
    assert!(
        stderr(&out).contains(needle),
        "expected {needle:?} on stderr: {}",
        stderr(&out)
    );
    let record = import_record(dir.path(), &ws, str_of(&summary, "id"));
    assert_record_matches(&record, &summary);
    assert_eq!(record["fileName"], name);
    (dir, ws, summary)
}

/// A failed import that stored nothing.
#[track_caller]
fn assert_failed_empty(dir: &Path, ws: &str, summary: &Value) {
    assert_eq!(summary["status"], "failed", "{summary}");
    assert_eq!(summary["imported"], 0, "{summary}");
    assert_eq!(export_objects(dir, ws), Vec::<Value>::new());
}

fn seed_csv() -> Vec<u8> {
    std::fs::read(seed_samples().join("bulk-import-example.csv")).unwrap()
}

fn seed_json() -> Vec<u8> {
    std::fs::read(seed_samples().join("bulk-import-example.json")).unwrap()
}

#[test]
fn binary_file_is_neither_csv_nor_json() {
    // Deterministic noise, zero bytes included.
    let mut x: u32 = 0x9E37_79B9;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    assert!(bytes.contains(&0));
    let (dir, ws, summary) = import_bad("blob.bin", &bytes, &[], 2, "neither CSV nor JSON");
    assert_failed_empty(dir.path(), &ws, &summary);
}

#[test]
fn csv_imported_as_json_is_refused() {
    let (dir, ws, summary) = import_bad(
        "indicators.csv",
        &seed_csv(),
        &["--format", "json"],
        2,
        "not JSON",
    );
    assert_failed_empty(dir.path(), &ws, &summary);
    let r = import_record(dir.path(), &ws, str_of(&summary, "id"));
    assert_eq!(r["format"], "json");
}

#[test]
fn json_imported_as_csv_is_refused() {
    let (dir, ws, summary) = import_bad(
        "objects.json",
        &seed_json(),
        &["--format", "csv"],
        2,
        "holds JSON",
    );
    assert_failed_empty(dir.path(), &ws, &summary);
    let r = import_record(dir.path(), &ws, str_of(&summary, "id"));
    assert_eq!(r["format"], "csv");
}

#[test]
fn empty_file_is_refused() {
    let (dir, ws, summary) = import_bad("empty.csv", b"", &[], 2, "the file is empty");
    assert_failed_empty(dir.path(), &ws, &summary);
    assert_eq!(summary["total"], 0);
}

#[test]
fn header_only_csv_is_refused() {
    let csv = seed_csv();
    let header = &csv[..=csv.iter().position(|&b| b == b'\n').unwrap()];
    let (dir, ws, summary) = import_bad("header.csv", header, &[], 2, "header but no data rows");
    assert_failed_empty(dir.path(), &ws, &summary);
    assert_eq!(summary["total"], 0);
}

#[test]
fn csv_without_a_required_column_is_one_error_for_the_file() {
    let text = "threatTypes,validFrom,observableType\nBotnet,2024-01-01T00:00:00Z,ipv4-addr\n";
    let (dir, ws, summary) = import_bad("columns.csv", text.as_bytes(), &[], 2, "observableValue");
    assert_failed_empty(dir.path(), &ws, &summary);
}

#[test]
fn valid_records_then_a_truncated_last_element_store_nothing() {
    let seed: Vec<Value> = serde_json::from_slice(&seed_json()).unwrap();
    let text = format!(
        "[\n{},\n{},\n{{\"type\": \"indic",
        serde_json::to_string(&seed[0]).unwrap(),
        serde_json::to_string(&seed[1]).unwrap()
    );
    // valid-only: even the mode that keeps valid records keeps nothing of a broken file.
    let (dir, ws, summary) = import_bad("cut.json", text.as_bytes(), &[], 2, "line 4, column 16");
    assert_failed_empty(dir.path(), &ws, &summary);
    let entries: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(error_file(dir.path(), str_of(&summary, "id"))).unwrap(),
    )
    .unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["errorMessages"].to_string().contains("line 4, column 16")),
        "{entries:?}"
    );
}

#[test]
fn two_rows_with_the_same_observable_are_merged_and_said_so() {
    let mut text = String::from_utf8(seed_csv()).unwrap();
    // Line 3: the same observable under another name.
    text.push_str(
        "Phishing,,Same domain again,,50,,2023-01-01T00:00:00.000Z,,green,,domain-name,1776769042.tailspintoys.com\n",
    );
    let files = data_dir();
    let path = files.path().join("dup.csv");
    std::fs::write(&path, text).unwrap();
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "dup");
    let (out, summary) = import(dir.path(), &ws, &path, "Dup", &[]);
    assert_exit(&out, 0);
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(
        (
            count(&summary, "total"),
            count(&summary, "imported"),
            count(&summary, "invalid")
        ),
        (2, 2, 0)
    );
    assert!(
        stderr(&out).contains("line 3 repeats line 2"),
        "the merge is told: {}",
        stderr(&out)
    );
    let id = str_of(&summary, "id");
    assert_record_matches(&import_record(dir.path(), &ws, id), &summary);
    assert!(
        !error_file_exists(dir.path(), id),
        "a merged row is not an invalid one"
    );
    // One indicator, with the first row's values.
    let objects = export_objects(dir.path(), &ws);
    assert_eq!(objects.len(), 1);
    assert_eq!(
        objects[0]["name"],
        "MDTI article - Franken-Phish domainname"
    );
}

/// No import was created: no record, no directory of files.
#[track_caller]
fn assert_no_import(dir: &Path, ws: &str) {
    assert_eq!(import_records(dir, ws, None), Vec::<Value>::new());
    let imports = dir.join("imports");
    let entries = std::fs::read_dir(&imports).map(|d| d.count()).unwrap_or(0);
    assert_eq!(entries, 0, "{}", imports.display());
}

#[test]
fn csv_over_the_size_limit_is_refused_before_anything_is_recorded() {
    let files = data_dir();
    let path = files.path().join("big.csv");
    std::fs::write(&path, seed_csv()).unwrap();
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "limit");
    let out = run_in(
        dir.path(),
        &[
            "import",
            path.to_str().unwrap(),
            "--workspace",
            &ws,
            "--source",
            "Big",
            "--max-csv-bytes",
            "100",
        ],
    );
    assert_exit(&out, 2);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("limited to 100 bytes"),
        "{}",
        stderr(&out)
    );
    assert_no_import(dir.path(), &ws);
    assert_eq!(export_objects(dir.path(), &ws), Vec::<Value>::new());
}

#[test]
fn unknown_workspace_and_missing_file_exit_2() {
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "known");
    let file = seed_samples().join("bulk-import-example.csv");
    let unknown = "0b1f8e3c-3c5e-4f0c-9d55-8d2c2f0c1a11";
    let out = run_in(
        dir.path(),
        &[
            "import",
            file.to_str().unwrap(),
            "--workspace",
            unknown,
            "--source",
            "S",
        ],
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&format!("workspace {unknown} not found")),
        "{}",
        stderr(&out)
    );
    let out = run_in(dir.path(), &["export", "--workspace", unknown]);
    assert_exit(&out, 2);
    let out = run_in(dir.path(), &["import-status", "--workspace", unknown]);
    assert_exit(&out, 2);

    let missing = dir.path().join("no-such-file.csv");
    let out = run_in(
        dir.path(),
        &[
            "import",
            missing.to_str().unwrap(),
            "--workspace",
            &ws,
            "--source",
            "S",
        ],
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("cannot open"), "{}", stderr(&out));
    assert_no_import(dir.path(), &ws);

    let out = run_in(
        dir.path(),
        &[
            "import-status",
            "--workspace",
            &ws,
            "0b1f8e3c-3c5e-4f0c-9d55-8d2c2f0c1a12",
        ],
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// 6. Workspaces

#[test]
fn workspace_create_prints_id_and_name_and_refuses_a_taken_id() {
    let dir = data_dir();
    let id = "7d2b3c4e-1f2a-4b3c-8d4e-5f6a7b8c9d0e";
    let out = run_in(
        dir.path(),
        &[
            "workspace",
            "create",
            "--name",
            "SOC \"blue\" team",
            "--id",
            id,
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("{{\"id\":\"{id}\",\"name\":\"SOC \\\"blue\\\" team\"}}\n")
    );

    let out = run_in(
        dir.path(),
        &["workspace", "create", "--name", "again", "--id", id],
    );
    assert_exit(&out, 2);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    // Without --id: a fresh UUID.
    let out = run_in(dir.path(), &["workspace", "create", "--name", "second"]);
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let other = str_of(&v, "id");
    assert_eq!(other.len(), 36);
    assert_ne!(other, id);
    assert_eq!(v.as_object().unwrap().len(), 2);

    let out = run_in(
        dir.path(),
        &["workspace", "create", "--name", "x", "--id", "not-a-uuid"],
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("UUID"), "{}", stderr(&out));
}

/// A row the store refuses (it would un-revoke a revoked indicator) is an invalid record with
/// its line, and a later row with the same observable is refused with it.
#[test]
fn a_row_the_store_refuses_is_listed_with_its_line() {
    let header = CSV_OTHER_HEADER.join(",");
    let row = |revoked: &str, name: &str| {
        format!(
            "Botnet,,{name},,80,{revoked},2024-01-01T00:00:00.000Z,,green,,ipv4-addr,198.51.100.7\n"
        )
    };
    let files = data_dir();
    let first = files.path().join("revoke.csv");
    std::fs::write(&first, format!("{header}\n{}", row("true", "gone"))).unwrap();
    let second = files.path().join("unrevoke.csv");
    std::fs::write(
        &second,
        format!("{header}\n{}{}", row("false", "back"), row("", "again")),
    )
    .unwrap();
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "revocation");
    let (out, summary) = import(dir.path(), &ws, &first, "Feed", &[]);
    assert_exit(&out, 0);
    assert_eq!(summary["status"], "succeeded");

    let (out, summary) = import(dir.path(), &ws, &second, "Feed", &[]);
    assert_exit(&out, 1);
    assert_eq!(summary["status"], "failed", "{summary}");
    assert_eq!(
        (
            count(&summary, "total"),
            count(&summary, "imported"),
            count(&summary, "invalid")
        ),
        (2, 0, 2)
    );
    let id = str_of(&summary, "id");
    assert_record_matches(&import_record(dir.path(), &ws, id), &summary);
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(error_file(dir.path(), id))
        .unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(&rows[0][0], "2", "the refused row's line");
    assert!(rows[0][1].contains("Property=revoked"), "{:?}", &rows[0][1]);
    assert!(rows[0][1].contains("1 later row(s)"), "{:?}", &rows[0][1]);
    // The indicator is still the revoked one.
    let objects = export_objects(dir.path(), &ws);
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["revoked"], true);
    assert_eq!(objects[0]["name"], "gone");
}

/// A STIX 2.0 record (no `spec_version`, an indicator with `labels` and no `pattern_type`) is
/// stored as 2.1 with the members 2.1 requires added, and the import record counts it.
#[test]
fn stix_20_records_are_stored_as_21_and_counted() {
    let v20 = serde_json::json!([{
        "type": "indicator",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "labels": ["malicious-activity"],
        "pattern": "[ipv4-addr:value = '198.51.100.9']",
        "valid_from": "2016-01-01T00:00:00Z"
    }, {
        "type": "malware",
        "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
        "created": "2016-04-06T20:07:09.000Z",
        "modified": "2016-04-06T20:07:09.000Z",
        "name": "Poison Ivy",
        "labels": ["remote-access-trojan"]
    }]);
    let files = data_dir();
    let path = files.path().join("v20.json");
    std::fs::write(&path, v20.to_string()).unwrap();
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "v20");
    let (out, summary) = import(dir.path(), &ws, &path, "Old feed", &[]);
    assert_exit(&out, 0);
    let record = import_record(dir.path(), &ws, str_of(&summary, "id"));
    assert_record_matches(&record, &summary);
    assert_eq!(record["upgraded"], 2, "{record}");
    assert!(
        stderr(&out).contains("2 read as STIX 2.0"),
        "{}",
        stderr(&out)
    );
    let objects = export_objects(dir.path(), &ws);
    assert_eq!(objects.len(), 2);
    for o in &objects {
        assert_eq!(o["spec_version"], "2.1", "{o}");
    }
    let indicator = objects.iter().find(|o| o["type"] == "indicator").unwrap();
    assert_eq!(indicator["pattern_type"], "stix");
    // Exported as 2.1 has it: 2.0's `labels` of an indicator are 2.1's `indicator_types`.
    assert_eq!(indicator["indicator_types"][0], "malicious-activity");
    let malware = objects.iter().find(|o| o["type"] == "malware").unwrap();
    assert_eq!(malware["is_family"], true);
    // The stored JSON is the producer's, with the 2.1 members appended.
    let out = run_in(dir.path(), &["export", "--workspace", &ws, "--original"]);
    let bundle: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let indicator = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "indicator")
        .unwrap()
        .clone();
    assert_eq!(
        indicator["labels"][0], "malicious-activity",
        "the original JSON is kept"
    );
    assert_eq!(indicator["pattern_type"], "stix");
}
