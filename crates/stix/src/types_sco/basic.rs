//! The SCO types without predefined extensions: artifact, autonomous system, directory, domain
//! name, e-mail address and message, IP and MAC addresses, mutex, software, URL and X.509
//! certificate.
//!
//! Invariants: each function checks one type, in a fixed order of properties, so a record's
//! messages come in a stable order.

use super::formats::{
    is_cpe23, is_hostname, is_ipv4_20, is_ipv4_21, is_ipv6_20, is_ipv6_21, is_mac, is_media_type,
    is_software_language_20, is_software_language_21,
};
use super::{dictionary, Sco};
use crate::json::Json;
use crate::rules::Ctx;
use crate::strict::{is_base64, is_email, is_uri};

pub(super) fn artifact(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    if let Some(v) = s.get("mime_type") {
        let ok = v.as_str().is_some_and(|m| {
            let (top, sub) = m.split_once('/').unwrap_or(("", ""));
            matches!(
                top,
                "application"
                    | "audio"
                    | "font"
                    | "image"
                    | "message"
                    | "model"
                    | "multipart"
                    | "text"
                    | "video"
            ) && sub
                .bytes()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || b".+_-".contains(&c))
                && is_media_type(m)
        });
        if !ok {
            s.fail("mime_type", "Must be an IANA registered media type", ctx);
        }
    }
    s.fmt("payload_bin", is_base64, "Must be base64-encoded", ctx);
    s.fmt("url", is_uri, "Must be a URI", ctx);
    s.hashes("hashes", ctx);
    let (bin, url, hashes) = (s.has("payload_bin"), s.has("url"), s.has("hashes"));
    if !((bin && !url) || (url && hashes && !bin)) {
        s.fail(
            "payload_bin",
            "Exactly one of payload_bin or url (with hashes) must be present",
            ctx,
        );
    }
    if v21 {
        s.one_of(
            "encryption_algorithm",
            &["AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated"],
            ctx,
        );
        s.str(&["decryption_key"], ctx);
        if s.has("decryption_key") && !s.has("encryption_algorithm") {
            s.fail("decryption_key", "Requires encryption_algorithm", ctx);
        }
    }
}

pub(super) fn autonomous_system(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    s.required("number", ctx);
    s.int(&["number"], i64::MIN, i64::MAX, ctx);
    s.str(&["name", "rir"], ctx);
}

pub(super) fn directory(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("path", ctx);
    s.str(&["path"], ctx);
    s.charset("path_enc", ctx);
    s.mac_times(v21, ctx);
    s.list_str(&["contains_refs"], 1, ctx);
}

pub(super) fn domain_name(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("value", ctx);
    s.fmt("value", is_hostname, "Must be a domain name", ctx);
    s.list_str(&["resolves_to_refs"], usize::from(v21), ctx);
}

pub(super) fn email_addr(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    s.required("value", ctx);
    s.fmt("value", is_email, "Must be an e-mail address", ctx);
    s.str(&["display_name", "belongs_to_ref"], ctx);
}

/// `ipv4-addr` (`v4`) or `ipv6-addr`: 2.1 allows a CIDR block where 2.0 wants an address.
pub(super) fn ip_addr(s: &Sco<'_, '_, '_>, v4: bool, v21: bool, ctx: &mut Ctx) {
    s.required("value", ctx);
    let (ok, reason): (fn(&str) -> bool, _) = match (v4, v21) {
        (true, true) => (is_ipv4_21, "Must be an IPv4 address or CIDR block"),
        (true, false) => (is_ipv4_20, "Must be an IPv4 address"),
        (false, true) => (is_ipv6_21, "Must be an IPv6 address or CIDR block"),
        (false, false) => (is_ipv6_20, "Must be an IPv6 address"),
    };
    s.fmt("value", ok, reason, ctx);
    s.list_str(&["resolves_to_refs"], 1, ctx);
    s.list_str(&["belongs_to_refs"], usize::from(v21), ctx);
}

pub(super) fn mac_addr(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    s.required("value", ctx);
    s.fmt(
        "value",
        is_mac,
        "Must be a MAC address in lowercase colon-separated form",
        ctx,
    );
}

pub(super) fn mutex(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    s.required("name", ctx);
    s.str(&["name"], ctx);
}

pub(super) fn software(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("name", ctx);
    s.str(&["name", "vendor", "version"], ctx);
    if v21 {
        s.str(&["swid"], ctx);
    }
    s.fmt("cpe", is_cpe23, "Must be a CPE 2.3 formatted string", ctx);
    if let Some(v) = s.get("languages") {
        let ok: fn(&str) -> bool = if v21 {
            is_software_language_21
        } else {
            is_software_language_20
        };
        match v.as_array() {
            Some(a) if !a.is_empty() && a.iter().all(|l| l.as_str().is_some_and(ok)) => {}
            _ => s.fail("languages", "Must be a list of language codes", ctx),
        }
    }
}

pub(super) fn url(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    s.required("value", ctx);
    s.fmt("value", is_uri, "Must be a URL", ctx);
}

pub(super) fn email_message(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.ts(&["date"], ctx);
    s.str(
        &[
            "content_type",
            "from_ref",
            "sender_ref",
            "subject",
            "raw_email_ref",
        ],
        ctx,
    );
    if v21 {
        s.str(&["message_id"], ctx);
    }
    s.list_str(&["to_refs", "cc_refs", "bcc_refs"], usize::from(v21), ctx);
    s.list_str(&["received_lines"], 0, ctx);
    if let Some(v) = s.get("additional_header_fields") {
        let here = s.path("additional_header_fields");
        dictionary(v, &here, ctx);
        if let Some(o) = v.as_object() {
            for (k, x) in o.iter() {
                let ok = match x {
                    Json::String(_) => true,
                    Json::Array(a) => a.len() >= 2 && a.iter().all(|i| i.as_str().is_some()),
                    _ => false,
                };
                if !ok {
                    ctx.error(
                        &here.key(k),
                        "Must be a string or a list of at least two strings",
                        x,
                    );
                }
            }
        }
    }
    match s.get("is_multipart").and_then(Json::as_bool) {
        Some(false) => {
            if s.has("body_multipart") {
                s.fail(
                    "body_multipart",
                    "Must not be present when is_multipart is false",
                    ctx,
                );
            }
            s.str(&["body"], ctx);
        }
        Some(true) => {
            if s.has("body") {
                s.fail("body", "Must not be present when is_multipart is true", ctx);
            }
            if let Some(v) = s.get("body_multipart") {
                match v.as_array() {
                    Some(parts) => {
                        for part in parts {
                            let ok = part.as_object().is_some_and(|p| {
                                p.contains_key("body") != p.contains_key("body_raw_ref")
                                    && [
                                        "body",
                                        "body_raw_ref",
                                        "content_type",
                                        "content_disposition",
                                    ]
                                    .iter()
                                    .all(|k| p.get(k).is_none_or(|x| x.as_str().is_some()))
                            });
                            if !ok {
                                s.fail(
                                    "body_multipart",
                                    "Each MIME part needs exactly one of body or body_raw_ref",
                                    ctx,
                                );
                                break;
                            }
                        }
                    }
                    None => s.fail("body_multipart", "Must be a list of MIME parts", ctx),
                }
            }
        }
        None => {
            if s.has("is_multipart") {
                s.fail("is_multipart", "Must be a boolean", ctx);
            } else {
                s.required("is_multipart", ctx);
            }
        }
    }
}

pub(super) fn x509(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    const STRINGS: &[&str] = &[
        "version",
        "serial_number",
        "signature_algorithm",
        "issuer",
        "subject",
        "subject_public_key_algorithm",
        "subject_public_key_modulus",
    ];
    s.bool(&["is_self_signed"], ctx);
    s.hashes("hashes", ctx);
    s.str(STRINGS, ctx);
    s.ts(&["validity_not_before", "validity_not_after"], ctx);
    s.int(&["subject_public_key_exponent"], i64::MIN, i64::MAX, ctx);
    if let Some(v) = s.get("x509_v3_extensions") {
        let here = s.path("x509_v3_extensions");
        match v.as_object() {
            Some(o) => {
                let e = Sco {
                    obj: o,
                    at: Some(&here),
                };
                const EXT: &[&str] = &[
                    "basic_constraints",
                    "name_constraints",
                    "policy_constraints",
                    "key_usage",
                    "extended_key_usage",
                    "subject_key_identifier",
                    "authority_key_identifier",
                    "subject_alternative_name",
                    "issuer_alternative_name",
                    "subject_directory_attributes",
                    "crl_distribution_points",
                    "inhibit_any_policy",
                    "certificate_policies",
                    "policy_mappings",
                ];
                e.str(EXT, ctx);
                const TS: &[&str] = &[
                    "private_key_usage_period_not_before",
                    "private_key_usage_period_not_after",
                ];
                e.ts(TS, ctx);
                if v21 {
                    let all: Vec<&str> = EXT.iter().chain(TS).copied().collect();
                    e.any_of(&all, ctx);
                }
            }
            None => ctx.error(&here, "Must be an object", v),
        }
    }
    if v21 {
        s.any_of(
            &[
                "is_self_signed",
                "hashes",
                "version",
                "serial_number",
                "signature_algorithm",
                "issuer",
                "validity_not_before",
                "validity_not_after",
                "subject",
                "subject_public_key_algorithm",
                "subject_public_key_modulus",
                "subject_public_key_exponent",
                "x509_v3_extensions",
            ],
            ctx,
        );
    }
}
