//! The generated corpora imported in both modes: exactly the injected invalid records are
//! listed, by line or index, with the column or property each names.

use super::*;

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
                    column: test_support::corpus_csv_column(kind),
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

/// Imports `file` in valid-only mode (`extra` names it or not): it partly succeeds, storing
/// all but the `invalid` of its `records`; the caller checks the error file and the objects.
fn valid_only_keeps_the_valid(
    name: &str,
    file: &Path,
    extra: &[&str],
    records: u64,
    invalid: u64,
) -> Imported {
    let imp = Imported::new(name, file, "Generated", extra, 1);
    assert_summary(
        &imp.summary,
        "partially-succeeded",
        (records, records - invalid, invalid),
    );
    imp.record();
    imp
}

/// Imports `file` all-or-nothing: it fails and stores nothing, and still counts the `invalid`
/// of its `records`; the caller checks the error file.
fn all_or_nothing_stores_nothing(name: &str, file: &Path, records: u64, invalid: u64) -> Imported {
    let extra = ["--mode", "all-or-nothing"];
    let imp = Imported::new(name, file, "Generated", &extra, 1);
    assert_summary(&imp.summary, "failed", (records, 0, invalid));
    assert_eq!(imp.record()["mode"], "all-or-nothing");
    assert_eq!(imp.objects(), Vec::<Value>::new());
    imp
}

#[test]
fn generated_csv_valid_only_imports_the_valid_rows_and_lists_the_invalid_by_line() {
    let file = test_data("indicators_1mb_invalid.csv");
    let (records, expected, repeats) =
        expected_csv_errors(&file, &test_data("indicators_1mb_invalid.manifest.json"));
    assert!(repeats > 0, "the corpus has repeated observables");
    let invalid = expected.len() as u64;
    let extra = ["--mode", "valid-only"];
    let imp = valid_only_keeps_the_valid("generated csv", &file, &extra, records, invalid);

    let errors = error_file(imp.dir(), imp.id());
    assert_eq!(errors.file_name().unwrap(), "errors.csv");
    check_csv_error_file(&errors, &expected);

    assert!(
        stderr(&imp.out).contains(&format!("{repeats} row(s) repeat the observable")),
        "{}",
        stderr(&imp.out)
    );
    let objects = imp.objects();
    assert_eq!(objects.len() as u64, records - invalid - repeats);
    assert!(objects.iter().all(|o| o["type"] == "indicator"));
}

#[test]
fn generated_csv_all_or_nothing_imports_nothing_and_still_lists_the_invalid() {
    let file = test_data("indicators_1mb_invalid.csv");
    let (records, expected, _) =
        expected_csv_errors(&file, &test_data("indicators_1mb_invalid.manifest.json"));
    let invalid = expected.len() as u64;
    let imp = all_or_nothing_stores_nothing("generated csv aon", &file, records, invalid);
    check_csv_error_file(&error_file(imp.dir(), imp.id()), &expected);
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
    let imp = valid_only_keeps_the_valid("generated json", &file, &[], records, invalid);
    check_json_error_file(&error_file(imp.dir(), imp.id()), &injected);

    let exported: BTreeSet<String> = imp
        .objects()
        .iter()
        .map(|o| str_of(o, "id").to_owned())
        .collect();
    assert_eq!(exported, valid_ids);
}

#[test]
fn generated_json_all_or_nothing_imports_nothing_and_still_lists_the_invalid() {
    let (file, records, injected, _) = generated_json();
    let invalid = injected.len() as u64;
    let imp = all_or_nothing_stores_nothing("generated json aon", &file, records, invalid);
    check_json_error_file(&error_file(imp.dir(), imp.id()), &injected);
}
