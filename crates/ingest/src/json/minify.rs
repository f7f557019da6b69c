//! [`minify()`]: a record's text without its insignificant whitespace, as the store keeps it.
//!
//! Invariants: only whitespace between tokens is removed; strings (escapes included), numbers
//! and literals are copied byte for byte, so the output parses to the same value and keeps the
//! producer's key order and spelling; it never panics, whatever the input.

/// Whether a byte is JSON's insignificant whitespace (RFC 8259: space, tab, LF, CR).
const fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Appends `src`, a record already known to be valid JSON, to `out` without its insignificant
/// whitespace (space, tab, CR and LF between tokens). String contents, escapes included, are
/// copied byte for byte; numbers and literals are copied as written.
///
/// # Why
///
/// Records are stored as their original text (`stix` never rewrites one), but a pretty-printed
/// feed spends a third or more of its bytes on indentation, which the store would keep, index
/// and send back on every query. Removing only whitespace keeps everything else exactly as the
/// producer wrote it (key order, number spelling, escapes, unknown properties), which a
/// round trip through a JSON tree would not.
///
/// # How
///
/// It runs on every stored record of an import of 250 MB, so it is one tight pass, not a
/// parser: it keeps spans of bytes and skips runs of whitespace outside strings, stepping over a
/// string eight bytes at a time until a word holds a `"` or a backslash. Records are mostly short
/// strings, for which a `memchr` call per string (the first version) cost more in set-up than
/// the scan; this one made the import's reading thread about a tenth faster.
///
/// Given bytes that are not valid JSON it does not panic; its output is then unspecified (for
/// an unterminated string, the rest of `src` is copied as it is).
pub fn minify(src: &[u8], out: &mut Vec<u8>) {
    out.reserve(src.len());
    let n = src.len();
    let mut i = 0;
    // The start of the span being kept: everything from here to `i` is copied as it is.
    let mut keep = 0;
    while i < n {
        match src[i] {
            b'"' => i = string_end(src, i + 1),
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.extend_from_slice(&src[keep..i]);
                i += 1;
                while i < n && is_json_ws(src[i]) {
                    i += 1;
                }
                keep = i;
            }
            _ => i += 1,
        }
    }
    out.extend_from_slice(&src[keep..n]);
}

/// The position just past the `"` that closes the string whose contents start at `i` (or the
/// end of `src`, for an unterminated one).
fn string_end(src: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Whether a byte of `w` equals the byte repeated in `pat` (the classic zero-byte test: no
    // false negatives; a false positive only sends us to the byte-wise loop below).
    let has = |w: u64, pat: u64| {
        let x = w ^ pat;
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    };
    let n = src.len();
    loop {
        while i + 8 <= n {
            let w = u64::from_le_bytes(src[i..i + 8].try_into().expect("eight bytes"));
            if has(w, ONES * u64::from(b'"')) || has(w, ONES * u64::from(b'\\')) {
                break;
            }
            i += 8;
        }
        while i < n {
            match src[i] {
                b'"' => return i + 1,
                b'\\' => i += 2,
                _ => {
                    i += 1;
                    // Back to whole words once past the word that stopped the fast loop.
                    if i.is_multiple_of(8) {
                        break;
                    }
                }
            }
        }
        if i >= n {
            return n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minified(src: &[u8]) -> String {
        let mut out = b"prefix:".to_vec();
        minify(src, &mut out);
        let out = String::from_utf8(out).expect("minify keeps UTF-8");
        out.strip_prefix("prefix:")
            .expect("minify appends")
            .to_owned()
    }

    #[test]
    fn minify_removes_only_whitespace_between_tokens() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("{}", "{}"),
            (" \t\r\n{ \t\r\n} \n", "{}"),
            (
                "{\n  \"a b\" : [ 1 , -2.50e+3 , true , false , null ] ,\r\n\t\"c\":{ }\n}",
                r#"{"a b":[1,-2.50e+3,true,false,null],"c":{}}"#,
            ),
            // Escaped quotes and backslashes do not end the string; whitespace inside stays.
            (
                r#"{ "k" : "a \" b" , "l" : "c \\" , "m" : "\\\" }" }"#,
                r#"{"k":"a \" b","l":"c \\","m":"\\\" }"}"#,
            ),
            (r#"[ "\\\\" , "x" ]"#, r#"["\\\\","x"]"#),
            // Escapes of every kind are copied as written, not decoded.
            (
                r#"[ "\u0041 \u00e9 \ud83d\ude00 \/ \b\f\n\r\t" ]"#,
                r#"["\u0041 \u00e9 \ud83d\ude00 \/ \b\f\n\r\t"]"#,
            ),
            // Raw UTF-8 in strings and keys, and a non-breaking space, which is not JSON
            // whitespace (it can only occur inside a string anyway).
            (
                "{ \"clé ☃\" : \"é \u{a0} 😀 \" }",
                "{\"clé ☃\":\"é \u{a0} 😀 \"}",
            ),
            ("  42  ", "42"),
            ("\"  lone string  \"", "\"  lone string  \""),
        ];
        for (src, want) in cases {
            assert_eq!(minified(src.as_bytes()), *want, "{src:?}");
            if !src.is_empty() {
                let a: serde_json::Value = serde_json::from_str(src).unwrap();
                let b: serde_json::Value = serde_json::from_str(want).unwrap();
                assert_eq!(a, b, "{src:?}");
            }
        }
    }

    #[test]
    fn minify_does_not_panic_on_broken_input() {
        for src in [
            &b"\"abc"[..],
            b"\"abc\\",
            b"[\"a\\\"",
            b"{ \"a\" : \"\\",
            b"\\ \" ",
            b"\xff \xfe",
        ] {
            let mut out = Vec::new();
            minify(src, &mut out);
            assert!(out.len() <= src.len());
        }
    }

    /// Arbitrary JSON values, strings drawn to contain what needs escaping.
    fn arb_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let string = prop_oneof![
            any::<String>(),
            "[ \t\r\n\"\\\\/{}\\[\\]:,a-z\u{e9}\u{1F600}\u{0}-\u{1f}]{0,12}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            string.clone().prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((string.clone(), inner), 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Minifying serde_json's pretty form gives serde_json's compact form, byte for byte
        /// (both come from one value, so numbers and escapes are spelled alike).
        #[test]
        fn minify_agrees_with_serde_json(v in arb_value()) {
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            let compact = serde_json::to_string(&v).unwrap();
            let got = minified(pretty.as_bytes());
            proptest::prop_assert_eq!(&got, &compact);
            // Parsed, it is the value the compact form parses to (not `v` itself: parsing a
            // float may differ from it in the last bit, whatever the whitespace).
            let back: serde_json::Value = serde_json::from_str(&got).unwrap();
            let expected: serde_json::Value = serde_json::from_str(&compact).unwrap();
            proptest::prop_assert_eq!(back, expected);
            // Minifying is idempotent.
            proptest::prop_assert_eq!(minified(compact.as_bytes()), compact);
        }
    }
}
