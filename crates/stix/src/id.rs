//! STIX identifiers: `<object-type>--<UUID>`.

use std::fmt;

pub use stix_pattern::is_type_name;

/// A syntactically valid STIX identifier, in its canonical form. The type part follows the
/// STIX 2.1 type-name rules (ASCII lower case, digits and hyphens, 3 to 250 characters) and the
/// UUID part is `8-4-4-4-12` hexadecimal. Whether the UUID's version and variant are the ones
/// STIX requires is a rule of the strict profile, not of this type: compatible feeds use other
/// UUIDs and the value still identifies the object.
///
/// A UUID's hexadecimal digits are read in either case (RFC 9562, and stix2-validator accepts
/// both), so `indicator--8E2E…` and `indicator--8e2e…` name the same object. The parsed id
/// holds the UUID in lower case: two spellings of one id compare (and are stored) equal. The
/// type part is not folded: an upper-case type is no type name at all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StixId {
    text: Box<str>,
    type_len: usize,
}

/// Why an identifier was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be of the form <object-type>--<UUID>")]
    Shape,
    #[error("object type part is not a valid STIX type name")]
    TypePart,
    #[error("UUID part is not a valid UUID")]
    Uuid,
}

impl StixId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let id = IdRef::parse(s)?;
        let text: Box<str> = if s.bytes().any(|b| b.is_ascii_uppercase()) {
            s.to_ascii_lowercase().into()
        } else {
            s.into()
        };
        Ok(StixId {
            text,
            type_len: id.type_len,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The object type this identifier names.
    pub fn object_type(&self) -> &str {
        &self.text[..self.type_len]
    }

    pub fn uuid(&self) -> &str {
        &self.text[self.type_len + 2..]
    }

    /// The UUID's version digit (1–8), if it has a standard one.
    pub fn uuid_version(&self) -> u8 {
        let c = self.uuid().as_bytes()[14];
        (c as char).to_digit(16).unwrap_or(0) as u8
    }

    /// Whether the UUID has the RFC 4122 variant (`8`, `9`, `a` or `b` in the variant nibble).
    pub fn is_rfc4122_variant(&self) -> bool {
        matches!(
            self.uuid().as_bytes()[19],
            b'8' | b'9' | b'a' | b'b' | b'A' | b'B'
        )
    }
}

/// A syntactically valid identifier read in place: what validation needs of a [`StixId`],
/// without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdRef<'s> {
    text: &'s str,
    type_len: usize,
}

/// `--` and a UUID: an identifier's length beyond its type part.
const UUID_TAIL: usize = 2 + 36;

impl<'s> IdRef<'s> {
    pub(crate) fn parse(s: &'s str) -> Result<Self, IdError> {
        // The type part ends at the first `--`, as stix2-validator reads it: a type name may
        // end in a hyphen, but `abc---<uuid>` is the type `abc` and no UUID, not `abc-`.
        // The usual case is decided at fixed offsets: a type part without `--` that does not
        // end in `-` makes the `--` before a 36-character tail the first one.
        if let Some(type_len) = s.len().checked_sub(UUID_TAIL) {
            if s.as_bytes()[type_len..type_len + 2] == *b"--"
                && s.as_bytes().get(type_len.wrapping_sub(1)) != Some(&b'-')
                && is_type_name(&s[..type_len])
                && is_uuid(&s[type_len + 2..])
            {
                return Ok(IdRef { text: s, type_len });
            }
        }
        let (ty, uuid) = s.split_once("--").ok_or(IdError::Shape)?;
        if !is_type_name(ty) {
            return Err(IdError::TypePart);
        }
        if !is_uuid(uuid) {
            return Err(IdError::Uuid);
        }
        Ok(IdRef {
            text: s,
            type_len: ty.len(),
        })
    }

    pub(crate) fn object_type(&self) -> &'s str {
        &self.text[..self.type_len]
    }

    fn uuid(&self) -> &'s [u8] {
        &self.text.as_bytes()[self.type_len + 2..]
    }

    /// The UUID's version digit (1–8), if it has a standard one.
    pub(crate) fn uuid_version(&self) -> u8 {
        (self.uuid()[14] as char).to_digit(16).unwrap_or(0) as u8
    }

    /// Whether the UUID has the RFC 4122 variant (`8`, `9`, `a` or `b` in the variant nibble).
    pub(crate) fn is_rfc4122_variant(&self) -> bool {
        matches!(self.uuid()[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
    }
}

impl fmt::Display for StixId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The high bit of each byte of `x` (all below 0x80) that lies in `lo..=hi`: adding 0x80 - lo
/// sets a byte's high bit exactly when it is >= lo, adding 0x7f - hi exactly when it is > hi,
/// and no addition carries into the next byte.
fn within(x: u64, lo: u8, hi: u8) -> u64 {
    let ge = x.wrapping_add(ONES * u64::from(0x80 - lo));
    let gt = x.wrapping_add(ONES * u64::from(0x7f - hi));
    ge & !gt & HIGH
}

/// `8-4-4-4-12` hexadecimal digits, checked eight bytes at a time.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 36 {
        return false;
    }
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    // The hyphens at 8 and 13 (bytes 0 and 5 of the word at 8) and at 18 and 23 (bytes 2 and 7
    // of the word at 16) are checked, then read as the digit 0.
    const B: u64 = 0x0000_FF00_0000_00FF;
    const C: u64 = 0xFF00_0000_00FF_0000;
    let (wb, wc) = (word(8), word(16));
    wb & B == B & HYPHENS
        && wc & C == C & HYPHENS
        && hex8(word(0))
        && hex8((wb & !B) | (B & ZEROS))
        && hex8((wc & !C) | (C & ZEROS))
        && hex8(word(24))
        && hex8(word(28))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const HYPHENS: u64 = ONES * b'-' as u64;
const ZEROS: u64 = ONES * b'0' as u64;

/// Whether all eight bytes of `w` are ASCII hexadecimal digits.
fn hex8(w: u64) -> bool {
    let digit = within(w, b'0', b'9');
    let letter = within(w | (ONES * 0x20), b'a', b'f');
    w & HIGH == 0 && (digit | letter) == HIGH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_check_agrees_with_a_byte_by_byte_one() {
        let slow = |b: &[u8]| {
            b.len() == 36
                && b.iter().enumerate().all(|(i, &c)| match i {
                    8 | 13 | 18 | 23 => c == b'-',
                    _ => c.is_ascii_hexdigit(),
                })
        };
        let good = *b"dbc48d87-b5e9-4380-85ae-e1184abf5ff4";
        assert!(is_uuid(std::str::from_utf8(&good).unwrap()));
        for i in 0..36 {
            for c in 0u8..128 {
                let mut b = good;
                b[i] = c;
                let s = std::str::from_utf8(&b).unwrap();
                assert_eq!(is_uuid(s), slow(&b), "{s}");
            }
        }
        assert!(!is_uuid("dbc48d87-b5e9-4380-85ae-e1184abf5ff"));
        assert!(!is_uuid("dbc48d87-b5e9-4380-85ae-e1184abf5ff4é"));
    }

    #[test]
    fn parses_and_splits() {
        let upper = StixId::parse("indicator--DBC48D87-B5E9-4380-85AE-E1184ABF5FF4").unwrap();
        assert_eq!(
            upper.as_str(),
            "indicator--dbc48d87-b5e9-4380-85ae-e1184abf5ff4"
        );
        let id = StixId::parse("indicator--dbc48d87-b5e9-4380-85ae-e1184abf5ff4").unwrap();
        assert_eq!(upper, id);
        assert_eq!(id.object_type(), "indicator");
        assert_eq!(id.uuid_version(), 4);
        assert!(id.is_rfc4122_variant());
    }

    #[test]
    fn in_place_reading_agrees_with_splitting_at_the_first_separator() {
        let u = "dbc48d87-b5e9-4380-85ae-e1184abf5ff4";
        for (s, expected) in [
            (format!("indicator--{u}"), Ok("indicator")),
            (format!("-abc--{u}"), Ok("-abc")),
            (format!("abc-d--{u}"), Ok("abc-d")),
            (format!("abc---{u}"), Err(IdError::Uuid)),
            (format!("a--b--{u}"), Err(IdError::TypePart)),
            (format!("x-foo--{u}--{u}"), Err(IdError::Uuid)),
            (format!("ab--{u}"), Err(IdError::TypePart)),
            (format!("Abc--{u}"), Err(IdError::TypePart)),
            (format!("abc--{}g", &u[..35]), Err(IdError::Uuid)),
            (format!("abc--{}", &u[..35]), Err(IdError::Uuid)),
            ("-".repeat(44), Err(IdError::TypePart)),
            (format!("indicator-{u}"), Err(IdError::Shape)),
            (String::new(), Err(IdError::Shape)),
        ] {
            let split = s
                .split_once("--")
                .ok_or(IdError::Shape)
                .and_then(|(ty, uuid)| {
                    if !is_type_name(ty) {
                        Err(IdError::TypePart)
                    } else if !is_uuid(uuid) {
                        Err(IdError::Uuid)
                    } else {
                        Ok(ty)
                    }
                });
            let parsed = IdRef::parse(&s).map(|id| id.object_type());
            assert_eq!(parsed, split, "{s}");
            assert_eq!(parsed, expected, "{s}");
        }
    }

    #[test]
    fn refuses_malformed() {
        for s in [
            "indicators-dbc48d87-b5e9-4380-85ae-e1184abf5ff4",
            "attack_pattern--dbc48d87-b5e9-4380-85ae-e1184abf5ff4",
            "indicator--dbc48d87b5e9-4380-85ae-e1184abf5ff4",
            "indicator--dbc48d87-b5e9-4380-85ae-e1184abf5ff",
            "indicator--",
            "--dbc48d87-b5e9-4380-85ae-e1184abf5ff4",
        ] {
            assert!(StixId::parse(s).is_err(), "{s}");
        }
    }
}
