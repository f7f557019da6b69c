//! Vocabularies the semantic checks need: observable types and their properties, and hash
//! algorithms, per STIX version.
//!
//! The observable tables are transcribed from stix2-validator 3.3.2
//! (`stix2validator/v2x/enums.py`: `OBSERVABLE_TYPES`, `OBSERVABLE_PROPERTIES`), because the
//! strict profile mirrors that validator's `patterns` check.

use crate::SpecVersion;

/// STIX 2.1 cyber-observable types and the properties each defines.
#[rustfmt::skip]
const OBSERVABLES_V21: &[(&str, &[&str])] = &[
    ("artifact", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "mime_type", "payload_bin", "url", "hashes", "encryption_algorithm",
        "decryption_key"
    ]),
    ("autonomous-system", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "number", "name", "rir"
    ]),
    ("directory", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "path", "path_enc", "ctime", "mtime", "atime", "contains_refs"
    ]),
    ("domain-name", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "value", "resolves_to_refs"
    ]),
    ("email-addr", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "value", "display_name", "belongs_to_ref"
    ]),
    ("email-message", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "is_multipart", "date", "content_type", "from_ref", "sender_ref",
        "to_refs", "cc_refs", "bcc_refs", "subject", "received_lines",
        "additional_header_fields", "message_id", "body", "body_multipart", "raw_email_ref"
    ]),
    ("file", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "hashes", "size", "name", "name_enc", "magic_number_hex", "mime_type",
        "ctime", "mtime", "atime", "parent_directory_ref", "contains_refs", "content_ref"
    ]),
    ("ipv4-addr", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "value", "resolves_to_refs", "belongs_to_refs"
    ]),
    ("ipv6-addr", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "value", "resolves_to_refs", "belongs_to_refs"
    ]),
    ("mac-addr", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "value"
    ]),
    ("mutex", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "name"
    ]),
    ("network-traffic", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "start", "end", "is_active", "src_ref", "dst_ref", "src_port", "dst_port",
        "protocols", "src_byte_count", "dst_byte_count", "src_packets", "dst_packets", "ipfix",
        "src_payload_ref", "dst_payload_ref", "encapsulates_refs", "encapsulated_by_ref"
    ]),
    ("process", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "is_hidden", "pid", "created_time", "cwd", "command_line",
        "environment_variables", "opened_connection_refs", "creator_user_ref", "image_ref",
        "parent_ref", "child_refs"
    ]),
    ("software", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "name", "cpe", "swid", "languages", "vendor", "version"
    ]),
    ("url", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "value"
    ]),
    ("user-account", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "user_id", "credential", "account_login", "account_type", "display_name",
        "is_service_account", "is_privileged", "can_escalate_privs", "is_disabled",
        "account_created", "account_expires", "credential_last_changed", "account_first_login",
        "account_last_login"
    ]),
    ("windows-registry-key", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "key", "values", "modified_time", "creator_user_ref", "number_of_subkeys"
    ]),
    ("x509-certificate", &[
        "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged",
        "extensions", "is_self_signed", "hashes", "version", "serial_number",
        "signature_algorithm", "issuer", "validity_not_before", "validity_not_after", "subject",
        "subject_public_key_algorithm", "subject_public_key_modulus",
        "subject_public_key_exponent", "x509_v3_extensions"
    ]),
];

/// STIX 2.0 cyber-observable types and the properties each defines.
#[rustfmt::skip]
const OBSERVABLES_V20: &[(&str, &[&str])] = &[
    ("artifact", &[
        "type", "extensions", "mime_type", "payload_bin", "url", "hashes"
    ]),
    ("autonomous-system", &[
        "type", "extensions", "number", "name", "rir"
    ]),
    ("directory", &[
        "type", "extensions", "path", "path_enc", "created", "modified", "accessed",
        "contains_refs"
    ]),
    ("domain-name", &[
        "type", "extensions", "value", "resolves_to_refs"
    ]),
    ("email-addr", &[
        "type", "extensions", "value", "display_name", "belongs_to_ref"
    ]),
    ("email-message", &[
        "type", "extensions", "is_multipart", "date", "content_type", "from_ref", "sender_ref",
        "to_refs", "cc_refs", "bcc_refs", "subject", "received_lines",
        "additional_header_fields", "body", "body_multipart", "raw_email_ref"
    ]),
    ("file", &[
        "type", "extensions", "hashes", "size", "name", "name_enc", "magic_number_hex",
        "mime_type", "created", "modified", "accessed", "parent_directory_ref", "is_encrypted",
        "encryption_algorithm", "decryption_key", "contains_refs", "content_ref"
    ]),
    ("ipv4-addr", &[
        "type", "extensions", "value", "resolves_to_refs", "belongs_to_refs"
    ]),
    ("ipv6-addr", &[
        "type", "extensions", "value", "resolves_to_refs", "belongs_to_refs"
    ]),
    ("mac-addr", &[
        "type", "extensions", "value"
    ]),
    ("mutex", &[
        "type", "extensions", "name"
    ]),
    ("network-traffic", &[
        "type", "extensions", "start", "end", "is_active", "src_ref", "dst_ref", "src_port",
        "dst_port", "protocols", "src_byte_count", "dst_byte_count", "src_packets",
        "dst_packets", "ipfix", "src_payload_ref", "dst_payload_ref", "encapsulates_refs",
        "encapsulated_by_ref"
    ]),
    ("process", &[
        "type", "extensions", "is_hidden", "pid", "name", "created", "cwd", "arguments",
        "command_line", "environment_variables", "opened_connection_refs", "creator_user_ref",
        "binary_ref", "parent_ref", "child_refs"
    ]),
    ("software", &[
        "type", "extensions", "name", "cpe", "languages", "vendor", "version"
    ]),
    ("url", &[
        "type", "extensions", "value"
    ]),
    ("user-account", &[
        "type", "extensions", "user_id", "account_login", "account_type", "display_name",
        "is_service_account", "is_privileged", "can_escalate_privs", "is_disabled",
        "account_created", "account_expires", "password_last_changed", "account_first_login",
        "account_last_login"
    ]),
    ("windows-registry-key", &[
        "type", "extensions", "key", "values", "modified", "creator_user_ref",
        "number_of_subkeys"
    ]),
    ("x509-certificate", &[
        "type", "extensions", "is_self_signed", "hashes", "version", "serial_number",
        "signature_algorithm", "issuer", "validity_not_before", "validity_not_after", "subject",
        "subject_public_key_modulus", "subject_public_key_exponent", "x509_v3_extensions"
    ]),
];

/// The properties `object_type` defines in `version`, or `None` when STIX does not define the
/// type.
pub(crate) fn observable_properties(
    version: SpecVersion,
    object_type: &str,
) -> Option<&'static [&'static str]> {
    let table = match version {
        SpecVersion::V20 => OBSERVABLES_V20,
        SpecVersion::V21 => OBSERVABLES_V21,
    };
    table
        .iter()
        .find(|(t, _)| *t == object_type)
        .map(|(_, props)| *props)
}

/// What a hash value must look like.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HashValue {
    /// Hexadecimal digits (either case), one of these many.
    Hex(&'static [usize]),
    /// 1 to 128 characters of `[A-Za-z0-9/+:.]`, as stix2-patterns checks SSDEEP.
    Ssdeep,
    /// No fixed form (TLSH has had several encodings).
    Free,
}

/// A hash algorithm the checks know how to verify values of.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HashAlgorithm {
    /// The name with hyphens and underscores removed, upper case: how names are matched, so
    /// that `SHA-256`, `SHA256`, `sha256` and `sha_256` are all the same algorithm.
    pub(crate) key: &'static str,
    pub(crate) value: HashValue,
}

const HASH_ALGORITHMS: &[HashAlgorithm] = &[
    HashAlgorithm {
        key: "MD5",
        value: HashValue::Hex(&[32]),
    },
    // stix2-patterns means MD6 to be any of these lengths (its regex lacks a group, so it
    // checks less than it intends).
    HashAlgorithm {
        key: "MD6",
        value: HashValue::Hex(&[32, 40, 56, 64, 96, 128]),
    },
    HashAlgorithm {
        key: "RIPEMD160",
        value: HashValue::Hex(&[40]),
    },
    HashAlgorithm {
        key: "SHA1",
        value: HashValue::Hex(&[40]),
    },
    HashAlgorithm {
        key: "SHA224",
        value: HashValue::Hex(&[56]),
    },
    HashAlgorithm {
        key: "SHA256",
        value: HashValue::Hex(&[64]),
    },
    HashAlgorithm {
        key: "SHA384",
        value: HashValue::Hex(&[96]),
    },
    HashAlgorithm {
        key: "SHA512",
        value: HashValue::Hex(&[128]),
    },
    HashAlgorithm {
        key: "SHA3224",
        value: HashValue::Hex(&[56]),
    },
    HashAlgorithm {
        key: "SHA3256",
        value: HashValue::Hex(&[64]),
    },
    HashAlgorithm {
        key: "SHA3384",
        value: HashValue::Hex(&[96]),
    },
    HashAlgorithm {
        key: "SHA3512",
        value: HashValue::Hex(&[128]),
    },
    HashAlgorithm {
        key: "SSDEEP",
        value: HashValue::Ssdeep,
    },
    HashAlgorithm {
        key: "WHIRLPOOL",
        value: HashValue::Hex(&[128]),
    },
    HashAlgorithm {
        key: "TLSH",
        value: HashValue::Free,
    },
];

/// True when `a` and `b` spell the same name ignoring case, `-` and `_`. Compares in place,
/// without building normalised copies.
pub(crate) fn same_algorithm(a: &str, b: &str) -> bool {
    let mut x = a.bytes().filter(|&c| c != b'-' && c != b'_');
    let mut y = b.bytes().filter(|&c| c != b'-' && c != b'_');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) if p.eq_ignore_ascii_case(&q) => {}
            _ => return false,
        }
    }
}

/// The known algorithm `name` refers to, in any common spelling.
pub(crate) fn hash_algorithm(name: &str) -> Option<&'static HashAlgorithm> {
    HASH_ALGORITHMS.iter().find(|a| same_algorithm(name, a.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        for name in ["SHA-256", "SHA256", "sha256", "sha-256", "Sha_256"] {
            assert_eq!(
                hash_algorithm(name).map(|a| a.key),
                Some("SHA256"),
                "{name}"
            );
        }
        assert_eq!(hash_algorithm("SHA3-256").map(|a| a.key), Some("SHA3256"));
        assert_eq!(hash_algorithm("ssdeep").map(|a| a.key), Some("SSDEEP"));
        assert!(hash_algorithm("SHA-2566").is_none());
        assert!(hash_algorithm("x_custom").is_none());
        assert!(hash_algorithm("").is_none());
    }

    #[test]
    fn tables() {
        assert!(observable_properties(SpecVersion::V21, "file")
            .unwrap()
            .contains(&"hashes"));
        assert!(observable_properties(SpecVersion::V20, "process")
            .unwrap()
            .contains(&"binary_ref"));
        assert!(!observable_properties(SpecVersion::V21, "process")
            .unwrap()
            .contains(&"binary_ref"));
        assert!(observable_properties(SpecVersion::V21, "app").is_none());
    }
}
