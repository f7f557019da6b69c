//! STIX 2.1 vocabularies (section 10) and enumerations used by the rules.

pub const INDICATOR_TYPE: &[&str] = &[
    "anomalous-activity",
    "anonymization",
    "benign",
    "compromised",
    "malicious-activity",
    "attribution",
    "unknown",
];

pub const PATTERN_TYPE: &[&str] = &["stix", "pcre", "sigma", "snort", "suricata", "yara"];

pub const IDENTITY_CLASS: &[&str] = &[
    "individual",
    "group",
    "system",
    "organization",
    "class",
    "unknown",
];

pub const GROUPING_CONTEXT: &[&str] = &["suspicious-activity", "malware-analysis", "unspecified"];

pub const MALWARE_RESULT: &[&str] = &["malicious", "suspicious", "benign", "unknown"];

/// `opinion` is an enumeration, not an open vocabulary.
pub const OPINION: &[&str] = &[
    "strongly-disagree",
    "disagree",
    "neutral",
    "agree",
    "strongly-agree",
];

/// `extension_types` is an enumeration.
pub const EXTENSION_TYPE: &[&str] = &[
    "new-sdo",
    "new-sco",
    "new-sro",
    "property-extension",
    "toplevel-property-extension",
];

/// The object types STIX 2.1 defines as cyber-observable objects.
pub const SCO_TYPES: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];
