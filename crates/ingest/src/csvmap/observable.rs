//! The observable types of the csv-other template (`observableType`) and the checks of their
//! values (`observableValue`), each with the reason an analyst reads when a value fails.
//!
//! Invariants: the checks are pure functions of the trimmed cell and allocate nothing; each
//! type's reason names the form the value must have, with an example, because the analyst
//! reads it beside the cell.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The observable types of the csv-other template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ObsType {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    Email,
    UserAccount,
    RegistryKey,
}

const OBS_TYPES: [(ObsType, &str); 7] = [
    (ObsType::Ipv4, "ipv4-addr"),
    (ObsType::Ipv6, "ipv6-addr"),
    (ObsType::Domain, "domain-name"),
    (ObsType::Url, "url"),
    (ObsType::Email, "email-addr"),
    (ObsType::UserAccount, "user-account"),
    (ObsType::RegistryKey, "windows-registry-key"),
];

impl ObsType {
    pub(super) fn parse(s: &str) -> Option<ObsType> {
        OBS_TYPES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(t, _)| *t)
    }

    /// The object path the pattern compares. A user account is named by its login, the
    /// property an analyst's "user name" is; a registry key by its full `key` path.
    pub(super) fn path(self) -> &'static str {
        match self {
            ObsType::Ipv4 => "ipv4-addr:value",
            ObsType::Ipv6 => "ipv6-addr:value",
            ObsType::Domain => "domain-name:value",
            ObsType::Url => "url:value",
            ObsType::Email => "email-addr:value",
            ObsType::UserAccount => "user-account:account_login",
            ObsType::RegistryKey => "windows-registry-key:key",
        }
    }

    /// Checks a value; the error is the reason for the message.
    pub(super) fn check(self, v: &str) -> Result<(), &'static str> {
        let (ok, reason) = match self {
            ObsType::Ipv4 => (
                ipv4_or_cidr(v),
                "Must be an IPv4 address or CIDR block such as 203.0.113.7 or 198.51.100.0/24",
            ),
            ObsType::Ipv6 => (
                ipv6_or_cidr(v),
                "Must be an IPv6 address or CIDR block such as 2001:db8::1 or 2001:db8::/32",
            ),
            ObsType::Domain => (
                domain_ok(v),
                "Must be a domain name such as www.example.com: dot-separated labels of letters, \
                 digits, hyphens and underscores, without spaces",
            ),
            ObsType::Url => (
                url_ok(v),
                "Must be a URL with a scheme and a host, such as https://example.com/path, \
                 without spaces",
            ),
            ObsType::Email => (
                email_ok(v),
                "Must be an email address with one @ and a valid domain, such as \
                 user@example.com",
            ),
            ObsType::UserAccount => (
                !v.chars().any(char::is_control),
                "Must be an account login without control characters",
            ),
            ObsType::RegistryKey => (
                registry_key_ok(v),
                "Must be a registry key path starting with a hive such as \
                 HKEY_LOCAL_MACHINE\\ or HKLM\\",
            ),
        };
        if ok {
            Ok(())
        } else {
            Err(reason)
        }
    }
}

fn ipv4_or_cidr(v: &str) -> bool {
    let (addr, prefix) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    addr.parse::<Ipv4Addr>().is_ok() && prefix.is_none_or(|p| prefix_ok(p, 32))
}

fn ipv6_or_cidr(v: &str) -> bool {
    let (addr, prefix) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    addr.parse::<Ipv6Addr>().is_ok() && prefix.is_none_or(|p| prefix_ok(p, 128))
}

fn prefix_ok(p: &str, max: u32) -> bool {
    (1..=3).contains(&p.len())
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u32>().is_ok_and(|n| n <= max)
}

/// A host name label: letters (any script, for internationalised names), digits, hyphens and
/// underscores (`_dmarc`), 1–63 bytes, no hyphen at either end.
fn label_ok(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && !l.starts_with('-')
        && !l.ends_with('-')
        && l.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// A domain name as an indicator: at least two labels, at most 253 bytes, and a top-level label
/// that is not all digits (that would be an IP address typed as a domain).
fn domain_ok(v: &str) -> bool {
    if v.len() > 253 || !v.contains('.') {
        return false;
    }
    let tld = v.rsplit('.').next().unwrap_or_default();
    v.split('.').all(label_ok) && !tld.bytes().all(|b| b.is_ascii_digit())
}

/// `scheme://host[:port][/path][?query][#fragment]` without whitespace; the host is a name
/// (one label is enough: intranet hosts), an IPv4 address or a bracketed IPv6 address.
fn url_ok(v: &str) -> bool {
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = v.split_once("://") else {
        return false;
    };
    let mut sb = scheme.bytes();
    if !sb.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let Some((h, after)) = inner.split_once(']') else {
            return false;
        };
        if h.parse::<Ipv6Addr>().is_err() {
            return false;
        }
        (None, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(hostport), None),
        }
    };
    if let Some(h) = host {
        let h = h.strip_suffix('.').unwrap_or(h);
        if h.is_empty() || !(h.parse::<Ipv4Addr>().is_ok() || h.split('.').all(label_ok)) {
            return false;
        }
    }
    port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    })
}

fn email_ok(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && domain_ok(domain)
}

/// The registry's root keys, long and short forms.
const HIVES: [&str; 13] = [
    "HKEY_LOCAL_MACHINE",
    "HKLM",
    "HKEY_CURRENT_USER",
    "HKCU",
    "HKEY_CLASSES_ROOT",
    "HKCR",
    "HKEY_USERS",
    "HKU",
    "HKEY_CURRENT_CONFIG",
    "HKCC",
    "HKEY_PERFORMANCE_DATA",
    "HKEY_DYN_DATA",
    "HKEY_CURRENT_USER_LOCAL_SETTINGS",
];

fn registry_key_ok(v: &str) -> bool {
    if v.chars().any(char::is_control) {
        return false;
    }
    let hive = v.split('\\').next().unwrap_or_default();
    HIVES.iter().any(|h| h.eq_ignore_ascii_case(hive))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule, with values it accepts and values it refuses.
    struct Case {
        name: &'static str,
        rule: fn(&str) -> bool,
        accepted: &'static [&'static str],
        refused: &'static [&'static str],
    }

    const CASES: &[Case] = &[
        Case {
            name: "ipv4",
            rule: ipv4_or_cidr,
            accepted: &[
                "1.2.3.4",
                "203.0.113.7",
                "10.0.0.0/8",
                "0.0.0.0/0",
                "1.2.3.4/32",
            ],
            refused: &[
                "300.1.1.1",
                "1.2.3",
                "1.2.3.4/33",
                "1.2.3.4/",
                "1.2.3.4/+1",
                "a.b.c.d",
                " 1.2.3.4",
            ],
        },
        Case {
            name: "ipv6",
            rule: ipv6_or_cidr,
            accepted: &["2001:db8::1", "::1", "2001:db8::/32", "::ffff:1.2.3.4"],
            refused: &["2001:db8:::zz", "2001:db8::/129", "1.2.3.4", "fe80::1%eth0"],
        },
        Case {
            name: "domain",
            rule: domain_ok,
            accepted: &[
                "example.com",
                "1776769042.tailspintoys.com",
                "_dmarc.example.co.uk",
                "bücher.de",
                "xn--bcher-kva.de",
            ],
            refused: &[
                "bad domain with spaces.com",
                "localhost",
                "example..com",
                ".example.com",
                "example.com.",
                "-bad.com",
                "1.2.3.4",
                "a*.example.com",
            ],
        },
        Case {
            name: "url",
            rule: url_ok,
            accepted: &[
                "http://example.com",
                "https://1.2.3.4/a/b.php?id=1&ref=x",
                "https://user:pw@example.com:8443/x#frag",
                "http://[2001:db8::1]:80/",
                "hxxp://intranet/path",
            ],
            refused: &[
                "not a url",
                "example.com/path",
                "http://",
                "http:///path",
                "http://exa mple.com",
                "http://example.com:99999/",
                "1http://x.com",
                "http://[zz]/",
            ],
        },
        Case {
            name: "email",
            rule: email_ok,
            accepted: &["secure.login12@portal.example.com"],
            refused: &[
                "no-at-sign.example.com",
                "a@b@example.com",
                "@example.com",
                "a@localhost",
                "a b@example.com",
                "a@bad domain.com",
            ],
        },
        Case {
            name: "registry key",
            rule: registry_key_ok,
            accepted: &[
                "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
                "hklm\\Software",
                "HKEY_USERS",
            ],
            refused: &["SOFTWARE\\Microsoft", "HKEY_LOCAL_MACHINEX\\a"],
        },
    ];

    #[test]
    fn each_rule_accepts_and_refuses_its_examples() {
        for case in CASES {
            for v in case.accepted {
                assert!((case.rule)(v), "the {} rule refused {v:?}", case.name);
            }
            for v in case.refused {
                assert!(!(case.rule)(v), "the {} rule accepted {v:?}", case.name);
            }
        }
    }
}
