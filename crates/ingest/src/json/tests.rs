//! The reader's tests: records and their positions, containers, every fatal error's message,
//! per-record errors, and input that arrives in pieces or moves the buffer.

use super::*;

/// Records as (index, line, column, text), the error that stopped reading, the container.
type Collected = (Vec<(usize, u64, u64, String)>, Option<String>, Container);

fn collect(text: &[u8]) -> Collected {
    let mut r = JsonRecords::new(text, Limits::default());
    let mut out = Vec::new();
    let result = r.for_each(|rec| {
        out.push((
            rec.index,
            rec.line,
            rec.column,
            String::from_utf8_lossy(rec.bytes).into_owned(),
        ));
        Ok::<(), ReadError>(())
    });
    (
        out,
        result.err().map(|e| e.to_string()),
        r.container().clone(),
    )
}

/// Each record's index and value (or message).
fn values(text: &[u8], limits: Limits) -> Vec<(usize, Result<String, String>)> {
    let mut r = JsonRecords::new(text, limits);
    let mut out = Vec::new();
    r.for_each(|rec| {
        out.push((
            rec.index,
            rec.value.map(|v| v.to_string()).map_err(|d| d.to_string()),
        ));
        Ok::<(), ReadError>(())
    })
    .unwrap();
    out
}

#[test]
fn array_records_with_positions() {
    let (recs, err, c) = collect(b"[\n  {\"a\": \"x]}\"},\n  {\"b\": [1, {\"c\": 2}]}\n]\n");
    assert_eq!(err, None);
    assert_eq!(c.shape, Some(Shape::Array));
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0], (0, 2, 3, "{\"a\": \"x]}\"}".into()));
    assert_eq!(recs[1].1, 3);
    assert_eq!(recs[1].3, "{\"b\": [1, {\"c\": 2}]}");
}

#[test]
fn bundle_and_upload_bodies() {
    let (recs, err, c) = collect(
        br#"{"type":"bundle","id":"bundle--x","spec_version":"2.0","objects":[{"a":1},{"b":2}]}"#,
    );
    assert_eq!(err, None);
    assert_eq!(c.shape, Some(Shape::Bundle));
    assert_eq!(c.records_version(), Some(SpecVersion::V20));
    assert_eq!(recs.len(), 2);
    let (recs, err, c) = collect(br#"{"SourceSystem":"x","Value":[{"a":1}]}"#);
    assert_eq!(err, None);
    assert_eq!(c.shape, Some(Shape::Upload));
    assert_eq!(c.sourcesystem, Some(serde_json::json!("x")));
    assert_eq!(recs.len(), 1);
}

#[test]
fn single_object_is_one_record() {
    let (recs, err, c) = collect(b" {\"type\":\"indicator\",\"x\":[1]} ");
    assert_eq!(err, None);
    assert_eq!(c.shape, Some(Shape::Single));
    assert_eq!(recs[0].3, "{\"type\":\"indicator\",\"x\":[1]}");
}

#[test]
fn structural_errors_name_line_and_column() {
    let cases: &[(&[u8], &str)] = &[
        (b"[{\"a\":1},\n{\"b\":", "line 2, column 6: unexpected end of input inside a record: the file is truncated"),
        (b"[{\"a\":1}", "line 1, column 9: unexpected end of input: the array of records is not closed with ']'"),
        (b"[{\"a\":1},]", "line 1, column 10: trailing comma: remove the ',' after the last record"),
        (b"[{\"a\":1} {\"b\":2}]", "line 1, column 10: expected ',' or ']' after record 0, found an object"),
        (b"[{\"a\":[1}]", "line 1, column 9: '}' does not close an open bracket"),
        (b"\"just a string\"", "line 1, column 1: the top-level value is a string; expected a JSON array of STIX objects, a bundle or an upload-API body"),
        (b"", "line 1, column 1: empty input: expected a JSON array of STIX objects, a bundle or an upload-API body"),
        (
            b"[] x",
            "line 1, column 4: unexpected text after the end of the top-level value, starting \
             with 'x'; a file holds one JSON value",
        ),
        (b"\xFF\xFE[", "line 1, column 1: the file is UTF-16; save it as UTF-8"),
    ];
    for (input, want) in cases {
        let (_, err, _) = collect(input);
        assert_eq!(
            err.as_deref(),
            Some(*want),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn deep_nesting_is_one_error() {
    let mut text = b"[".to_vec();
    text.extend(std::iter::repeat_n(b'[', 1_000_000));
    let (_, err, _) = collect(&text);
    assert_eq!(
        err.as_deref(),
        Some("line 1, column 10002: nesting deeper than 10000 levels")
    );
}

#[test]
fn bom_is_skipped() {
    let (recs, err, _) = collect(b"\xEF\xBB\xBF[{\"a\":1}]");
    assert_eq!(err, None);
    assert_eq!(recs.len(), 1);
}

#[test]
fn oversized_record_is_skipped_not_buffered() {
    let mut text = b"[{\"a\":\"".to_vec();
    text.extend(std::iter::repeat_n(b'x', 3 << 20));
    text.extend_from_slice(b"\"},{\"b\":1}]");
    let limits = Limits {
        max_record_bytes: 1 << 20,
        ..Limits::default()
    };
    let mut r = JsonRecords::new(&text[..], limits);
    let mut seen = Vec::new();
    r.for_each(|rec| {
        seen.push((rec.bytes.to_vec(), rec.value.is_ok()));
        Ok::<(), ReadError>(())
    })
    .unwrap();
    assert_eq!(seen, vec![(vec![], false), (b"{\"b\":1}".to_vec(), true)]);
    assert!(r.buf.capacity() < 3 << 20, "the big record was buffered");
}

#[test]
fn record_errors_are_per_record_with_file_positions() {
    let text = b"[\n{\"a\": tru},\n{\"b\": \"\xFF\"},\n{\"c\": 1}\n]";
    let got = values(text, Limits::default());
    assert_eq!(
        got,
        vec![
            (0, Err("Error for Property=record: Malformed JSON at line 2, column 10: expected ident. Actual value: (not shown).".into())),
            (1, Err("Error for Property=record: Invalid UTF-8 at line 3, column 8. Actual value: (not shown).".into())),
            (2, Ok("{\"c\":1}".into())),
        ]
    );
}

#[test]
fn truncation_after_the_buffer_moved_is_reported_where_it_is() {
    // The buffer is compacted between reads; bytes left behind past its end must never be
    // taken for input.
    let big = format!("{{\"a\":\"{}\"}}", "qz".repeat(CHUNK / 2));
    let text = format!("[{big},\n{{\"b\":\"abc");
    let (recs, err, _) = collect(text.as_bytes());
    assert_eq!(recs.len(), 1);
    assert_eq!(
        err.as_deref(),
        Some("line 2, column 10: unexpected end of input inside a string: the file is truncated")
    );
}

#[test]
fn records_split_across_reads_parse_the_same() {
    // Records larger than one read, so that the in-place parse meets the buffer's end.
    let big = format!("{{\"a\":\"{}\",\"b\":[1,2]}}", "y".repeat(CHUNK / 3));
    let text = format!("[{big},\n{big},\n{big},\n{big}]");
    let got = values(text.as_bytes(), Limits::default());
    assert_eq!(got.len(), 4);
    for (i, (index, v)) in got.iter().enumerate() {
        assert_eq!(*index, i);
        assert_eq!(v.as_deref(), Ok(big.as_str()));
    }
}

#[test]
fn small_reads_give_the_same_records() {
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(out.len()).min(3);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let text = br#"{"sourcesystem":"s","stixobjects":[{"a":"\"x\\"},{"b":[1,2,{"c":"}"}]}]}"#;
    let mut r = JsonRecords::new(Trickle(text), Limits::default());
    let mut got = Vec::new();
    r.for_each(|rec| {
        assert!(rec.value.is_ok());
        got.push(String::from_utf8(rec.bytes.to_vec()).unwrap());
        Ok::<(), ReadError>(())
    })
    .unwrap();
    assert_eq!(got, vec![r#"{"a":"\"x\\"}"#, r#"{"b":[1,2,{"c":"}"}]}"#]);
}

#[test]
fn members_after_the_records_survive_the_buffer_moving() {
    // Found by fuzzing: a member after the records array whose value needs another read
    // (which moves the buffer) was sliced at its old position: a panic, a 500 from the
    // service. The input arrives in two reads, split inside that value.
    struct Chunks(Vec<Vec<u8>>);
    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let Some(mut chunk) = (!self.0.is_empty()).then(|| self.0.remove(0)) else {
                return Ok(0);
            };
            let n = chunk.len().min(out.len());
            out[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.0.insert(0, chunk.split_off(n));
            }
            Ok(n)
        }
    }
    let source = "s".repeat(3000);
    let head = r#"{"stixobjects":[{"a":1},{"b":2}],"sourcesystem":"ss"#;
    let tail = format!(r#"{}"}}"#, &source[2..]);
    for keys in [
        [head.to_owned(), tail.clone()],
        [format!("{head}{tail}"), String::new()],
    ] {
        let chunks = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
        let mut r = JsonRecords::new(Chunks(chunks), Limits::default()).upload_only();
        let mut n = 0;
        r.for_each(|_| {
            n += 1;
            Ok::<(), ReadError>(())
        })
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(r.container().sourcesystem, Some(serde_json::json!(source)));
    }
}
