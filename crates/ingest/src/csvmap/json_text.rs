//! Writing a mapped indicator's tree as compact JSON text, the form the store keeps.
//!
//! Invariants: the output is compact JSON that parses back to the tree: members in the tree's
//! order, no whitespace, strings escaped with `\"`, `\\`, `\n`, `\r`, `\t` and `\u00xx` for
//! the other control characters, everything else (non-ASCII included) as it is. The store keeps
//! this text and compares it byte for byte to tell an unchanged row, so the spelling must not
//! change between releases. It allocates nothing beyond growing `out`.

use std::fmt;

use stix::Json;

/// Writes compact JSON. Ours rather than `Json`'s `Display`, which allocates per string.
pub(super) fn write_json(v: &Json<'_>, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            use fmt::Write;
            let _ = write!(out, "{n}");
        }
        Json::String(s) => write_json_str(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(o) => {
            out.push('{');
            for (i, (k, v)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Keys are this module's own property names, which need no escaping.
                debug_assert!(find_escape(k.as_bytes()).is_none());
                out.push('"');
                out.push_str(k);
                out.push_str("\":");
                write_json(v, out);
            }
            out.push('}');
        }
    }
}

fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    let mut rest = s;
    while let Some(p) = find_escape(rest.as_bytes()) {
        out.push_str(&rest[..p]);
        match rest.as_bytes()[p] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b => {
                use fmt::Write;
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        // The byte at `p` is ASCII, so `p + 1` is a character boundary.
        rest = &rest[p + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

/// The position of the first byte JSON must escape (`"`, `\`, a control character). Looks at
/// eight bytes at a time, because the indicator's text is most of what a row costs to write.
fn find_escape(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Exact as a yes/no answer: some byte of `x` is zero / less than `n` (n <= 128).
    let has_zero = |x: u64| x.wrapping_sub(LO) & !x & HI != 0;
    let has_less = |x: u64, n: u64| x.wrapping_sub(LO * n) & !x & HI != 0;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if has_less(x, 0x20)
            || has_zero(x ^ (LO * u64::from(b'"')))
            || has_zero(x ^ (LO * u64::from(b'\\')))
        {
            break;
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
        .map(|p| p + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        write_json_str("a\"b\\c\nd\u{1}é", &mut out);
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn find_escape_agrees_with_a_byte_scan() {
        let naive = |b: &[u8]| b.iter().position(|&c| c < 0x20 || c == b'"' || c == b'\\');
        let mut cases: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 0..20 {
            for special in [
                b'"', b'\\', 0, 0x1f, b'\n', 0x20, 0x7f, 0x80, 0xa2, 0xdc, b'!', b'#',
            ] {
                for at in 0..len {
                    let mut v = vec![b'a'; len];
                    v[at] = special;
                    cases.push(v);
                }
            }
        }
        for c in &cases {
            assert_eq!(find_escape(c), naive(c), "{c:?}");
        }
    }
}
