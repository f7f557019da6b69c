//! The STIX type-name rule, shared by patterns (`[x-acme-widget:…]`) and objects (`"type"`, the
//! type part of an identifier), so that one function decides it everywhere.
//!
//! The rule is the one the specification gives for custom types and that stix2-validator and
//! the `stix2` library encode as `^\-?[a-z0-9]+(-[a-z0-9]+)*\-?$` with 3 to 250 characters:
//! ASCII lower-case letters, digits and hyphens, never two hyphens in a row. A leading or a
//! trailing hyphen is allowed, as those tools allow it; an identifier is still read without
//! ambiguity because its UUID has a fixed length (see `stix::StixId`).

/// Whether `s` is a valid STIX type name (see the module documentation).
#[inline]
pub fn is_type_name(s: &str) -> bool {
    let b = s.as_bytes();
    if !(3..=250).contains(&b.len()) {
        return false;
    }
    if b.len() < 8 {
        return chars_ok(b);
    }
    // Windows of eight bytes starting every seven, and the last eight: every byte and every
    // pair of neighbours lies inside one of them. Type names are checked for every object and
    // every identifier of every record, so this runs at validation's full speed.
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let mut at = 0;
    while at + 8 < b.len() {
        if !word_ok(word(at)) {
            return false;
        }
        at += 7;
    }
    word_ok(word(b.len() - 8))
}

/// Lower-case letters, digits and single hyphens, byte by byte.
fn chars_ok(b: &[u8]) -> bool {
    let mut after_hyphen = false;
    for &c in b {
        if c == b'-' {
            if after_hyphen {
                return false;
            }
            after_hyphen = true;
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            after_hyphen = false;
        } else {
            return false;
        }
    }
    true
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// [`chars_ok`] of the eight bytes of `w`.
fn word_ok(w: u64) -> bool {
    let lower = within(w, b'a', b'z');
    let digit = within(w, b'0', b'9');
    let hyphen = within(w, b'-', b'-');
    w & HIGH == 0 && (lower | digit | hyphen) == HIGH && hyphen & (hyphen >> 8) == 0
}

/// The high bit of each byte of `x` (all below 0x80) that lies in `lo..=hi`: adding 0x80 - lo
/// sets a byte's high bit exactly when it is >= lo, adding 0x7f - hi exactly when it is > hi,
/// and no addition carries into the next byte.
fn within(x: u64, lo: u8, hi: u8) -> u64 {
    let ge = x.wrapping_add(ONES * u64::from(0x80 - lo));
    let gt = x.wrapping_add(ONES * u64::from(0x7f - hi));
    ge & !gt & HIGH
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule as stix2-validator writes it.
    fn oasis(s: &str) -> bool {
        let inner = s.strip_prefix('-').unwrap_or(s);
        let inner = inner.strip_suffix('-').unwrap_or(inner);
        (3..=250).contains(&s.len())
            && !inner.is_empty()
            && inner.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
    }

    #[test]
    fn agrees_with_the_oasis_rule_byte_by_byte() {
        for base in [
            "marking-definition",
            "x-acme-widget-thing",
            "abcdefgh",
            "abc",
            "ab-cd-ef",
            "-abcdefghijk-",
        ] {
            let base = base.as_bytes();
            for i in 0..base.len() {
                for c in 0u8..128 {
                    let mut b = base.to_vec();
                    b[i] = c;
                    let s = std::str::from_utf8(&b).unwrap();
                    assert_eq!(is_type_name(s), oasis(s), "{s:?}");
                }
                // A second hyphen next to each position.
                let mut b = base.to_vec();
                b[i] = b'-';
                if i + 1 < b.len() {
                    b[i + 1] = b'-';
                }
                let s = std::str::from_utf8(&b).unwrap();
                assert_eq!(is_type_name(s), oasis(s), "{s:?}");
            }
        }
        assert!(!is_type_name("marking-definitioné"));
        assert!(!is_type_name(&"a".repeat(251)));
        assert!(is_type_name(&"a".repeat(250)));
    }

    #[test]
    fn names() {
        assert!(is_type_name("ipv4-addr"));
        assert!(is_type_name("x-acme-widget"));
        assert!(is_type_name("app"));
        assert!(is_type_name("ab-"));
        assert!(is_type_name("-ab"));
        assert!(!is_type_name("ap"));
        assert!(!is_type_name("x_whatever"));
        assert!(!is_type_name("a--b"));
        assert!(!is_type_name("---"));
        assert!(!is_type_name("Indicator"));
    }
}
