//! What a STIX 2.0 record needs to be stored as a STIX 2.1 object.
//!
//! DESIGN.md ("Semantics"): a record read as 2.0 (a member of a 2.0 bundle, or an unversioned
//! record that is valid only as 2.0) is stored with its original JSON plus the normalized 2.1
//! members, so that every stored object is a valid 2.1 object and queries need not know two
//! versions. The record is still never rewritten (see the crate documentation): the members
//! are appended, which keeps every byte the producer sent.
//!
//! The members appended are those that 2.1 requires and 2.0 does not have, compared table by
//! table (`types20.rs` against `types21.rs`) under the compatible profile:
//!
//! * `spec_version: "2.1"` on every object, because without it a reader takes the stored
//!   object for whatever its shape suggests, and with it the version is stated once.
//! * `pattern_type: "stix"` on an indicator: a 2.0 pattern is always STIX patterning.
//! * `is_family: true` on a malware: 2.0 malware objects describe families in practice (MITRE
//!   ATT&CK's software entries, vendors' malware names); a 2.0 malware always has a `name`,
//!   which 2.1 requires of a family.
//!
//! Nothing else differs in a way that makes a valid 2.0 object invalid as 2.1 by a missing
//! member: 2.0's required `labels` and `identity_class` are optional in 2.1; 2.0's
//! `observed-data` always has `objects`, one of the two members 2.1 wants; 2.0's references are
//! narrower than 2.1's. What appending cannot fix (an object that already has a `spec_version`,
//! a 2.0 custom object of a type 2.1 defines, a pattern 2.1 patterning refuses) is listed with
//! the test that checks it, `tests/normalize.rs`.

use crate::json::Object;

/// The members, as `(name, JSON text of the value)`, to append to a record read as STIX 2.0 so
/// that its stored JSON is also a valid STIX 2.1 object (in the compatible profile).
///
/// Only members the object lacks are returned, so appending them never repeats a name (which
/// would make the stored text unparsable: a repeated name is a parse error). In particular an
/// object that already has a `spec_version` (say `"2.0"`) gets none: that member would have to
/// be replaced, not appended, and whether to rewrite it is the caller's decision.
///
/// The values are JSON text ready to write after `"name":`.
pub fn normalized_21_members(obj: &Object<'_>) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if !obj.contains_key("spec_version") {
        out.push(("spec_version", "\"2.1\""));
    }
    match obj.get("type").and_then(|t| t.as_str()) {
        Some("indicator") if !obj.contains_key("pattern_type") => {
            out.push(("pattern_type", "\"stix\""));
        }
        Some("malware") if !obj.contains_key("is_family") => {
            out.push(("is_family", "true"));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Json;

    fn members(text: &str) -> Vec<(&'static str, &'static str)> {
        let json = Json::parse(text).unwrap();
        normalized_21_members(json.as_object().unwrap())
    }

    #[test]
    fn members_by_type() {
        assert_eq!(
            members(r#"{"type":"indicator","pattern":"[x:y = 'z']"}"#),
            [("spec_version", "\"2.1\""), ("pattern_type", "\"stix\"")]
        );
        assert_eq!(
            members(r#"{"type":"malware","name":"x"}"#),
            [("spec_version", "\"2.1\""), ("is_family", "true")]
        );
        assert_eq!(
            members(r#"{"type":"tool","name":"x"}"#),
            [("spec_version", "\"2.1\"")]
        );
    }

    #[test]
    fn present_members_are_not_repeated() {
        assert!(
            members(r#"{"type":"indicator","spec_version":"2.1","pattern_type":"snort"}"#)
                .is_empty()
        );
        assert!(members(r#"{"type":"malware","spec_version":"2.0","is_family":false}"#).is_empty());
        assert!(members(r#"{"spec_version":"2.0"}"#).is_empty());
    }

    #[test]
    fn every_value_is_json() {
        for text in [
            r#"{"type":"indicator"}"#,
            r#"{"type":"malware"}"#,
            r#"{"type":"x-custom"}"#,
            "{}",
        ] {
            for (name, value) in members(text) {
                assert!(
                    serde_json::from_str::<serde_json::Value>(value).is_ok(),
                    "{name}"
                );
            }
        }
    }
}
