//! The string formats of SCO properties: addresses, host names, character sets, media types,
//! CPE names, language codes and registry keys, as the OASIS schemas of each version and the
//! reference validator define them.
//!
//! Invariants: each check is a pure function of the string; where a schema's rule is
//! approximated, its doc says how; the lists they consult (`registry`) are sorted, so a lookup
//! is a binary search.

use crate::registry;
use crate::strict;

pub(super) fn is_mac(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 17
        && b.iter().enumerate().all(|(i, &c)| {
            if i % 3 == 2 {
                c == b':'
            } else {
                c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
            }
        })
}

/// The 2.1 schema's IPv4 pattern: dotted quad without leading zeros, optional `/0`–`/32`.
pub(super) fn is_ipv4_21(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let octet = |p: &str| {
        !p.is_empty()
            && p.len() <= 3
            && p.bytes().all(|c| c.is_ascii_digit())
            && !(p.len() > 1 && p.starts_with('0'))
            && p.parse::<u16>().is_ok_and(|n| n <= 255)
    };
    let parts: Vec<&str> = addr.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| octet(p))
        && prefix.is_none_or(|p| octet(p) && p.parse::<u8>().is_ok_and(|n| n <= 32))
}

/// Python's `ipaddress.IPv4Address`, the 2.0 schema's `ipv4` format: no prefix.
pub(super) fn is_ipv4_20(s: &str) -> bool {
    !s.contains('/') && is_ipv4_21(s)
}

fn ipv6_prefix_ok(p: &str) -> bool {
    !p.is_empty()
        && p.bytes().all(|c| c.is_ascii_digit())
        && !(p.len() > 1 && p.starts_with('0'))
        && p.parse::<u8>().is_ok_and(|n| n <= 128)
}

/// The 2.1 schema's IPv6 pattern, approximated: an IPv6 address in hexadecimal groups (the
/// pattern's dotted-quad alternatives are broken upstream and match nothing), an optional zone
/// and an optional prefix length.
pub(super) fn is_ipv6_21(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr = addr.split_once('%').map_or(addr, |(a, _)| a);
    !addr.contains('.')
        && addr.parse::<std::net::Ipv6Addr>().is_ok()
        && prefix.is_none_or(ipv6_prefix_ok)
}

pub(super) fn is_ipv6_20(s: &str) -> bool {
    s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// The `idn-hostname` format, approximated: labels of 1 to 63 characters (letters, digits,
/// hyphens or non-ASCII), not starting or ending with a hyphen.
pub(super) fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

pub(super) fn is_charset(s: &str) -> bool {
    (2..=250).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"/.+_:-".contains(&c))
        && registry::CHARSETS.binary_search(&s).is_ok()
}

/// The artifact `mime_type`: the schema's pattern and the IANA media-type registry.
pub(super) fn is_media_type(s: &str) -> bool {
    registry::MEDIA_TYPES.binary_search(&s).is_ok()
}

/// A CPE 2.3 formatted string: `cpe:2.3:` and eleven more colon-separated components.
pub(super) fn is_cpe23(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("cpe:2.3:") else {
        return false;
    };
    let mut parts = 1;
    let mut escaped = false;
    for c in rest.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            ':' if !escaped => parts += 1,
            _ => escaped = false,
        }
    }
    parts == 11
        && rest.split(':').all(|p| !p.is_empty())
        && matches!(rest.as_bytes()[0], b'a' | b'h' | b'o' | b'*' | b'-')
}

/// The 2.1 `software.languages` item pattern.
pub(super) fn is_software_language_21(s: &str) -> bool {
    (is_lang_like(s) || (s.len() == 3 && s.bytes().all(|c| c.is_ascii_lowercase())))
        && (strict::is_lang_code(s) || registry::SOFTWARE_LANG_CODES.binary_search(&s).is_ok())
}

fn is_lang_like(s: &str) -> bool {
    let first = s.split('-').next().unwrap_or("");
    first.len() == 2 && first.bytes().all(|c| c.is_ascii_lowercase())
}

pub(super) fn is_software_language_20(s: &str) -> bool {
    registry::SOFTWARE_LANG_CODES.binary_search(&s).is_ok()
}

/// `windows-registry-key.key` must not match `^HKLM|HKCC|HKCR|HKCU|HKU|hklm|hkcc|hkcr|hkcu|hku`
/// (an unanchored alternation: the abbreviated hive names are refused anywhere but HKLM only at
/// the start).
pub(super) fn registry_key_ok(s: &str) -> bool {
    !(s.starts_with("HKLM")
        || [
            "HKCC", "HKCR", "HKCU", "HKU", "hklm", "hkcc", "hkcr", "hkcu", "hku",
        ]
        .iter()
        .any(|h| s.contains(h)))
}

/// Whether a custom observable type would be mistaken for a STIX one by the schema's
/// unanchored type pattern, which makes the object invalid.
pub(super) fn custom_type_collides(ty: &str) -> bool {
    const MIDDLE: &[&str] = &[
        "directory",
        "file",
        "mutex",
        "process",
        "software",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
        "autonomous-system",
        "domain-name",
        "email-addr",
        "email-message",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "network-traffic",
    ];
    ty.starts_with("artifact") || ty.ends_with("url") || MIDDLE.iter().any(|m| ty.contains(m))
}
