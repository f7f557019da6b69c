//! Hostile and broken input: a clear exit 2 naming line and column, or a per-record error;
//! never a panic, a stack overflow or memory that grows with the input.

use crate::helpers::*;
use std::io::Write;

const GOOD: &str = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z"}"#;

fn validate_bytes(bytes: &[u8], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["validate", "-"];
    args.extend_from_slice(extra);
    run(&args, Some(bytes))
}

/// Validates `bytes` with `extra` flags, which must stop at a fatal error (exit 2) that
/// names `needle`: its standard error.
#[track_caller]
fn assert_fatal(bytes: &[u8], extra: &[&str], needle: &str) -> String {
    let out = validate_bytes(bytes, extra);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in {err}");
    err
}

/// Validates `bytes` with `extra` flags, which must find invalid records (exit 1): the JSON
/// lines of its output.
#[track_caller]
fn invalid_records(bytes: &[u8], extra: &[&str]) -> Vec<serde_json::Value> {
    let out = validate_bytes(bytes, extra);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    json_lines(&out)
}

/// The first error message of `line`, which must be about record `index`.
#[track_caller]
fn first_message(line: &serde_json::Value, index: u64) -> &str {
    assert_eq!(line["recordIndex"], index, "{line}");
    line["errorMessages"][0].as_str().unwrap()
}

#[test]
fn truncated_json_names_line_and_column() {
    let text = format!("[\n{GOOD},\n{}", &GOOD[..60]);
    assert_fatal(
        text.as_bytes(),
        &[],
        "line 3, column 61: unexpected end of input inside a string: the file is truncated",
    );
}

#[test]
fn valid_records_then_a_truncated_last_element() {
    let text = format!("[{GOOD},{GOOD},{{\"type\": \"indic");
    let out = validate_bytes(text.as_bytes(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("2 records, 2 valid, 0 invalid"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn invalid_utf8_is_a_per_record_error() {
    let mut bad = GOOD.replace("198.51.100.1", "X").into_bytes();
    let at = bad.iter().position(|&b| b == b'X').unwrap();
    bad[at] = 0xFF;
    let mut text = b"[".to_vec();
    text.extend_from_slice(&bad);
    text.extend_from_slice(format!(",{GOOD}]").as_bytes());
    let lines = invalid_records(&text, &["--output", "json"]);
    assert_eq!(lines.len(), 1);
    let msg = first_message(&lines[0], 0);
    assert!(msg.contains("Invalid UTF-8 at line 1, column"), "{msg}");
}

#[test]
fn a_utf8_byte_order_mark_is_ignored() {
    let text = format!("\u{feff}[{GOOD}]");
    let out = validate_bytes(text.as_bytes(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_million_levels_of_nesting_is_one_clear_error() {
    let mut text = format!("[{GOOD},").into_bytes();
    text.extend(std::iter::repeat_n(b'[', 1_000_000));
    assert_fatal(&text, &[], "nesting deeper than 10000 levels");
}

#[test]
fn nesting_within_the_limit_but_too_deep_to_parse_is_a_record_error() {
    let text = format!("[{GOOD},{}{}]", "[".repeat(500), "]".repeat(500));
    let lines = invalid_records(text.as_bytes(), &["--output", "json"]);
    assert!(first_message(&lines[0], 1).contains("recursion limit exceeded"));
}

/// A 100 MB string is refused as one invalid record, and the process never holds it: it runs
/// under an address-space limit far below the file's size.
#[test]
fn a_100_mb_string_does_not_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    write!(f, "[{GOOD},{{\"type\":\"note\",\"content\":\"").unwrap();
    let block = vec![b'a'; 1 << 20];
    for _ in 0..100 {
        f.write_all(&block).unwrap();
    }
    write!(f, "\"}},{GOOD}]").unwrap();
    f.into_inner().unwrap().sync_all().unwrap();
    // 120 MB of address space: the debug binary itself maps about 40 MB (it carries the HTTP
    // service too) and the reader may hold a 16 MiB record while growing its buffer; holding the
    // 100 MB string would need far more.
    let script = format!(
        "ulimit -v 120000; exec {} validate {} --output json",
        env!("CARGO_BIN_EXE_tiport"),
        path.display()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert!(first_message(&lines[0], 1).contains("larger than the limit"));
    assert!(stderr(&out).contains("3 records, 2 valid, 1 invalid"));
}

#[test]
fn numbers_beyond_64_bits() {
    // As a custom property a big number is just kept; as confidence it is out of range; a
    // number beyond f64 is malformed for the record that has it.
    let custom = GOOD.replace(
        "\"type\"",
        "\"x_big\":123456789012345678901234567890,\"type\"",
    );
    let conf = GOOD.replace(
        "\"type\"",
        "\"confidence\":123456789012345678901234567890,\"type\"",
    );
    let inf = GOOD.replace("\"type\"", "\"x_inf\":1e400,\"type\"");
    let text = format!("[{custom},{conf},{inf}]");
    let lines = invalid_records(text.as_bytes(), &["--output", "json"]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(first_message(&lines[0], 1).starts_with("Error for Property=confidence:"));
    assert!(first_message(&lines[1], 2).contains("number out of range"));
}

#[test]
fn duplicate_keys_are_a_record_error_naming_line_and_column() {
    let dup = GOOD.replace("\"type\"", "\"name\":\"a\",\"name\":\"b\",\"type\"");
    let text = format!("[{GOOD},\n{dup}]");
    for profile in [&[][..], &["--strict"][..]] {
        let mut args = vec!["--output", "json"];
        args.extend_from_slice(profile);
        let lines = invalid_records(text.as_bytes(), &args);
        assert_eq!(lines.len(), 1);
        assert_eq!(
            first_message(&lines[0], 1),
            "Error for Property=record: Malformed JSON at line 2, column 18: the member \"name\" appears more than once in one object. Actual value: (not shown)."
        );
    }
}

#[test]
fn a_top_level_value_that_is_not_an_array_or_object() {
    assert_fatal(
        b"\"hello\"",
        &["--format", "json"],
        "line 1, column 1: the top-level value is a string",
    );
    assert_fatal(
        b"  42",
        &["--format", "json"],
        "line 1, column 3: the top-level value is a number",
    );
}

#[test]
fn array_elements_that_are_not_objects_are_record_errors() {
    let text = format!("[{GOOD}, 42, \"x\", null]");
    let idx: Vec<i64> = invalid_records(text.as_bytes(), &["--output", "json"])
        .iter()
        .map(|l| l["recordIndex"].as_i64().unwrap())
        .collect();
    assert_eq!(idx, vec![1, 2, 3]);
}

#[test]
fn upload_format_requires_an_upload_body() {
    let text = format!("[{GOOD}]");
    assert_fatal(
        text.as_bytes(),
        &["--format", "upload"],
        "expected an upload-API body",
    );
    let text = format!("{{\"sourcesystem\":\"Microsoft Sentinel\",\"stixobjects\":[{GOOD}]}}");
    assert_fatal(text.as_bytes(), &["--format", "upload"], "reserved");
    let text = format!("{{\"stixobjects\":[{GOOD}]}}");
    assert_fatal(
        text.as_bytes(),
        &["--format", "upload"],
        "no \"sourcesystem\"",
    );
}

#[test]
fn an_unreadable_file_is_exit_2() {
    let out = run(&["validate", "/nonexistent/file.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot open /nonexistent/file.json"));
}

#[test]
fn csv_row_with_the_wrong_number_of_fields_is_a_record_error() {
    let csv = "threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,observableType,observableValue\n\
               Phishing,,n,d,50,,2022-07-18T12:00:00.000Z,,white,5,domain-name,a.example.com\n\
               Phishing,,n,d,50,,2022-07-18T12:00:00.000Z,,white,domain-name,b.example.com\n";
    let lines = invalid_records(csv.as_bytes(), &["--format", "csv", "--output", "json"]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["recordIndex"], 1);
    assert_eq!(lines[0]["line"], 3);
}

#[test]
fn csv_without_the_required_columns_is_one_clear_error() {
    let csv = "threatTypes,tags,name\nPhishing,,n\n";
    let err = assert_fatal(
        csv.as_bytes(),
        &["--format", "csv"],
        "line 1: cannot tell the template",
    );
    assert!(err.contains("observableType"), "{err}");
    // A csv-other header without its required validFrom.
    let csv = "threatTypes,observableType,observableValue\nPhishing,domain-name,a.example.com\n";
    let err = assert_fatal(csv.as_bytes(), &["--format", "csv"], "line 1: ");
    assert!(err.contains("validFrom"), "{err}");
}

#[test]
fn patterns_one_per_line() {
    let text = "[ipv4-addr:value = '198.51.100.1']\n[ipv4-addr:value = '999.1.1.1']\n[url:value = 'http://x'\n";
    let idx: Vec<i64> = invalid_records(
        text.as_bytes(),
        &["--format", "patterns", "--output", "json"],
    )
    .iter()
    .map(|l| l["recordIndex"].as_i64().unwrap())
    .collect();
    assert_eq!(idx, vec![1, 2]);
}
