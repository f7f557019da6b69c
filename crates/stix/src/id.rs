//! STIX identifiers: `<object-type>--<UUID>`.

use std::fmt;

/// A syntactically valid STIX identifier. The type part follows the STIX 2.1 type-name rules
/// (ASCII lower case, digits and hyphens, 3 to 250 characters) and the UUID part is
/// `8-4-4-4-12` hexadecimal. Whether the UUID's version and variant are the ones STIX requires is
/// a rule of the strict profile, not of this type: compatible feeds use other UUIDs and the value
/// still identifies the object.
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
        let (ty, uuid) = s.split_once("--").ok_or(IdError::Shape)?;
        if !is_type_name(ty) {
            return Err(IdError::TypePart);
        }
        if !is_uuid(uuid) {
            return Err(IdError::Uuid);
        }
        Ok(StixId {
            text: s.into(),
            type_len: ty.len(),
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

impl fmt::Display for StixId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// STIX 2.1 type names: ASCII lower case letters, digits and hyphens, 3–250 characters, no
/// leading or trailing hyphen, no two hyphens in a row (which would make `--` ambiguous).
pub fn is_type_name(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=250).contains(&b.len())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !s.contains("--")
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_splits() {
        let id = StixId::parse("indicator--dbc48d87-b5e9-4380-85ae-e1184abf5ff4").unwrap();
        assert_eq!(id.object_type(), "indicator");
        assert_eq!(id.uuid_version(), 4);
        assert!(id.is_rfc4122_variant());
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
