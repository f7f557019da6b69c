//! Cyber-observable objects (SCOs), as the strict profile checks them: the 18 STIX types, their
//! predefined extensions, and the cross-property rules of the OASIS schemas (`observables/*.json`
//! of both versions) and of the reference validator's MUSTs.
//!
//! An SCO is either a top-level 2.1 record or a member of an observed-data `objects` dictionary
//! (STIX 2.0, and deprecated in 2.1); the same code checks both, told where the object sits by
//! its path. The rules relating several properties (one of, any of) read more clearly as code
//! than as table entries, so each type is a function over a small set of helpers.

use crate::json::{Json, Object};
use crate::registry;
use crate::rules::{check_value, timestamp_of, Ctx, Path, Ty};
use crate::strict::{self, is_base64, is_email, is_hex, is_uri};
use crate::SpecVersion;

/// The properties of one object being checked and where the object sits.
struct Sco<'s, 'o, 'a> {
    obj: &'o Object<'a>,
    at: Option<&'s Path<'s>>,
}

impl<'s, 'o, 'a> Sco<'s, 'o, 'a> {
    fn path(&self, k: &'s str) -> Path<'s> {
        match self.at {
            Some(p) => Path::Key(p, k),
            None => Path::Root(k),
        }
    }
    fn has(&self, k: &str) -> bool {
        self.obj.contains_key(k)
    }
    fn get(&self, k: &str) -> Option<&'o Json<'a>> {
        self.obj.get(k)
    }
    fn required(&self, k: &'s str, ctx: &mut Ctx) {
        if !self.has(k) {
            ctx.missing(&self.path(k));
        }
    }
    fn ty(&self, k: &'s str, ty: &Ty, ctx: &mut Ctx) {
        if let Some(v) = self.get(k) {
            check_value(v, ty, &self.path(k), ctx);
        }
    }
    fn str(&self, keys: &[&'s str], ctx: &mut Ctx) {
        for &k in keys {
            self.ty(k, &Ty::Str, ctx);
        }
    }
    fn bool(&self, keys: &[&'s str], ctx: &mut Ctx) {
        for &k in keys {
            self.ty(k, &Ty::Bool, ctx);
        }
    }
    fn int(&self, keys: &[&'s str], min: i64, max: i64, ctx: &mut Ctx) {
        for &k in keys {
            if let Some(v) = self.get(k) {
                let ok = matches!(v, Json::Number(n) if n.as_i64().is_some_and(|n| n >= min && n <= max)
                    || (n.as_i64().is_none() && n.as_u64().is_some() && max == i64::MAX));
                if !ok {
                    ctx.error(&self.path(k), "Must be an integer in range", v);
                }
            }
        }
    }
    fn number(&self, keys: &[&'s str], ctx: &mut Ctx) {
        for &k in keys {
            if let Some(v) = self.get(k) {
                if !matches!(v, Json::Number(_)) {
                    ctx.error(&self.path(k), "Must be a number", v);
                }
            }
        }
    }
    fn ts(&self, keys: &[&'s str], ctx: &mut Ctx) {
        for &k in keys {
            if let Some(v) = self.get(k) {
                timestamp_of(v, &self.path(k), ctx);
            }
        }
    }
    /// A list of strings; `min` is 1 where the schema says `minItems: 1`.
    fn list_str(&self, keys: &[&'s str], min: usize, ctx: &mut Ctx) {
        for &k in keys {
            if let Some(v) = self.get(k) {
                match v.as_array() {
                    Some(a) if a.len() >= min && a.iter().all(|x| x.as_str().is_some()) => {}
                    _ => ctx.error(&self.path(k), "Must be a non-empty list of strings", v),
                }
            }
        }
    }
    fn fmt(&self, k: &'s str, ok: fn(&str) -> bool, reason: &'static str, ctx: &mut Ctx) {
        if let Some(v) = self.get(k) {
            if !v.as_str().is_some_and(ok) {
                ctx.error(&self.path(k), reason, v);
            }
        }
    }
    fn one_of(&self, k: &'s str, values: &[&str], ctx: &mut Ctx) {
        if let Some(v) = self.get(k) {
            if !v.as_str().is_some_and(|s| values.contains(&s)) {
                ctx.error(
                    &self.path(k),
                    format!("Must be one of: {}", values.join(", ")),
                    v,
                );
            }
        }
    }
    fn hashes(&self, k: &'s str, ctx: &mut Ctx) {
        if let Some(v) = self.get(k) {
            strict::hashes(v, &self.path(k), ctx);
        }
    }
    fn dict(&self, k: &'s str, ctx: &mut Ctx) {
        if let Some(v) = self.get(k) {
            dictionary(v, &self.path(k), ctx);
        }
    }
    /// At least one of `keys` must be present.
    fn any_of(&self, keys: &[&str], ctx: &mut Ctx) {
        if !keys.iter().any(|k| self.has(k)) {
            ctx.error(
                &self.path(keys[0]),
                format!("At least one of {} must be present", keys.join(", ")),
                &Json::Null,
            );
        }
    }
    fn fail(&self, k: &'s str, reason: &str, ctx: &mut Ctx) {
        let v = self.get(k).unwrap_or(&Json::Null);
        ctx.error(&self.path(k), reason.to_owned(), v);
    }
}

/// `dictionary.json`: an object whose keys are name characters (at most 250 in 2.1, 3 to 256
/// in 2.0) and whose values are not null or empty lists; 2.1 dictionaries are not empty.
fn dictionary(v: &Json<'_>, at: &Path<'_>, ctx: &mut Ctx) {
    let Some(o) = v.as_object() else {
        ctx.error(at, "Must be a dictionary", v);
        return;
    };
    if ctx.v21() && o.is_empty() {
        ctx.error(at, "Must not be an empty dictionary", v);
    }
    for (k, x) in o.iter() {
        let len_ok = if ctx.v21() {
            k.len() <= 250
        } else {
            (3..=256).contains(&k.len())
        };
        let key_ok = len_ok
            && k.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if !key_ok {
            ctx.error(
                &at.key(k),
                "Dictionary key has characters or a length STIX does not allow",
                x,
            );
        } else if matches!(x, Json::Null) || matches!(x, Json::Array(a) if a.is_empty()) {
            ctx.error(&at.key(k), "Must not be null or an empty list", x);
        }
    }
}

fn is_mac(s: &str) -> bool {
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
fn is_ipv4_21(s: &str) -> bool {
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
fn is_ipv4_20(s: &str) -> bool {
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
fn is_ipv6_21(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr = addr.split_once('%').map_or(addr, |(a, _)| a);
    !addr.contains('.')
        && addr.parse::<std::net::Ipv6Addr>().is_ok()
        && prefix.is_none_or(ipv6_prefix_ok)
}

fn is_ipv6_20(s: &str) -> bool {
    s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// The `idn-hostname` format, approximated: labels of 1 to 63 characters (letters, digits,
/// hyphens or non-ASCII), not starting or ending with a hyphen.
fn is_hostname(s: &str) -> bool {
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

fn is_charset(s: &str) -> bool {
    (2..=250).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"/.+_:-".contains(&c))
        && registry::CHARSETS.binary_search(&s).is_ok()
}

/// The artifact `mime_type`: the schema's pattern and the IANA media-type registry.
fn is_media_type(s: &str) -> bool {
    registry::MEDIA_TYPES.binary_search(&s).is_ok()
}

/// A CPE 2.3 formatted string: `cpe:2.3:` and eleven more colon-separated components.
fn is_cpe23(s: &str) -> bool {
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
fn is_software_language_21(s: &str) -> bool {
    (is_lang_like(s) || (s.len() == 3 && s.bytes().all(|c| c.is_ascii_lowercase())))
        && (strict::is_lang_code(s) || registry::SOFTWARE_LANG_CODES.binary_search(&s).is_ok())
}

fn is_lang_like(s: &str) -> bool {
    let first = s.split('-').next().unwrap_or("");
    first.len() == 2 && first.bytes().all(|c| c.is_ascii_lowercase())
}

fn is_software_language_20(s: &str) -> bool {
    registry::SOFTWARE_LANG_CODES.binary_search(&s).is_ok()
}

/// `windows-registry-key.key` must not match `^HKLM|HKCC|HKCR|HKCU|HKU|hklm|hkcc|hkcr|hkcu|hku`
/// (an unanchored alternation: the abbreviated hive names are refused anywhere but HKLM only at
/// the start).
fn registry_key_ok(s: &str) -> bool {
    !(s.starts_with("HKLM")
        || [
            "HKCC", "HKCR", "HKCU", "HKU", "hklm", "hkcc", "hkcr", "hkcu", "hku",
        ]
        .iter()
        .any(|h| s.contains(h)))
}

/// Whether a custom observable type would be mistaken for a STIX one by the schema's
/// unanchored type pattern, which makes the object invalid.
fn custom_type_collides(ty: &str) -> bool {
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

/// Checks an SCO's own properties. `at` is `None` for a top-level record and the object's path
/// inside an observed-data `objects` dictionary otherwise.
pub(crate) fn check(obj: &Object<'_>, ty: &str, at: Option<&Path<'_>>, ctx: &mut Ctx) {
    let s = Sco { obj, at };
    let v21 = ctx.v21();
    let min = usize::from(v21);
    match ty {
        "artifact" => {
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
        "autonomous-system" => {
            s.required("number", ctx);
            s.int(&["number"], i64::MIN, i64::MAX, ctx);
            s.str(&["name", "rir"], ctx);
        }
        "directory" => {
            s.required("path", ctx);
            s.str(&["path"], ctx);
            s.fmt(
                "path_enc",
                is_charset,
                "Must be an IANA registered character set",
                ctx,
            );
            s.ts(
                if v21 {
                    &["ctime", "mtime", "atime"]
                } else {
                    &["created", "modified", "accessed"]
                },
                ctx,
            );
            s.list_str(&["contains_refs"], 1, ctx);
        }
        "domain-name" => {
            s.required("value", ctx);
            s.fmt("value", is_hostname, "Must be a domain name", ctx);
            s.list_str(&["resolves_to_refs"], min, ctx);
        }
        "email-addr" => {
            s.required("value", ctx);
            s.fmt("value", is_email, "Must be an e-mail address", ctx);
            s.str(&["display_name", "belongs_to_ref"], ctx);
        }
        "email-message" => email_message(&s, v21, ctx),
        "file" => file(&s, v21, ctx),
        "ipv4-addr" | "ipv6-addr" => {
            s.required("value", ctx);
            let (ok, reason): (fn(&str) -> bool, _) = match (ty, v21) {
                ("ipv4-addr", true) => (is_ipv4_21, "Must be an IPv4 address or CIDR block"),
                ("ipv4-addr", false) => (is_ipv4_20, "Must be an IPv4 address"),
                (_, true) => (is_ipv6_21, "Must be an IPv6 address or CIDR block"),
                (_, false) => (is_ipv6_20, "Must be an IPv6 address"),
            };
            s.fmt("value", ok, reason, ctx);
            s.list_str(&["resolves_to_refs"], 1, ctx);
            s.list_str(&["belongs_to_refs"], min, ctx);
        }
        "mac-addr" => {
            s.required("value", ctx);
            s.fmt(
                "value",
                is_mac,
                "Must be a MAC address in lowercase colon-separated form",
                ctx,
            );
        }
        "mutex" => {
            s.required("name", ctx);
            s.str(&["name"], ctx);
        }
        "network-traffic" => network_traffic(&s, v21, ctx),
        "process" => process(&s, v21, ctx),
        "software" => {
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
        "url" => {
            s.required("value", ctx);
            s.fmt("value", is_uri, "Must be a URL", ctx);
        }
        "user-account" => user_account(&s, v21, ctx),
        "windows-registry-key" => registry_key(&s, v21, ctx),
        "x509-certificate" => x509(&s, v21, ctx),
        _ => {
            if custom_type_collides(ty) && at.is_some() {
                s.fail(
                    "type",
                    "A custom observable type must not contain a STIX observable type name",
                    ctx,
                );
            }
        }
    }
    if at.is_none() && v21 {
        uuid_musts(obj, ty, ctx);
    }
}

fn email_message(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
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

/// An extension object's checks: the extensions dictionaries of file, network-traffic,
/// process and user-account give each predefined extension a schema, and hold any other
/// extension to the dictionary rules.
/// The check of one predefined extension: its properties, whether the record is 2.1, and the
/// record's state.
type ExtensionCheck = fn(&Sco<'_, '_, '_>, bool, &mut Ctx);

fn extensions_dict(s: &Sco<'_, '_, '_>, ctx: &mut Ctx, known: &[(&str, ExtensionCheck)]) {
    let Some(v) = s.get("extensions") else { return };
    let here = s.path("extensions");
    let Some(o) = v.as_object() else {
        ctx.error(&here, "Must be a dictionary of extensions", v);
        return;
    };
    if ctx.v21() && o.is_empty() {
        ctx.error(&here, "Must not be an empty dictionary", v);
    }
    for (k, ext) in o.iter() {
        let ep = here.key(k);
        let key_ok = k.len() <= if ctx.v21() { 250 } else { 256 }
            && (ctx.v21() || k.len() >= 3)
            && k.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if !key_ok {
            ctx.error(
                &ep,
                "Extension name has characters STIX does not allow",
                ext,
            );
            continue;
        }
        match known.iter().find(|(name, _)| *name == k) {
            Some((_, f)) => match ext.as_object() {
                Some(eo) => f(
                    &Sco {
                        obj: eo,
                        at: Some(&ep),
                    },
                    ctx.v21(),
                    ctx,
                ),
                None => ctx.error(&ep, "Must be an object", ext),
            },
            None => dictionary(ext, &ep, ctx),
        }
    }
}

fn file(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    extensions_dict(
        s,
        ctx,
        &[
            ("ntfs-ext", ntfs_ext),
            ("raster-image-ext", raster_image_ext),
            ("pdf-ext", pdf_ext),
            ("archive-ext", archive_ext),
            ("windows-pebinary-ext", pebinary_ext),
        ],
    );
    s.hashes("hashes", ctx);
    s.int(&["size"], 0, i64::MAX, ctx);
    s.str(
        &["name", "mime_type", "parent_directory_ref", "content_ref"],
        ctx,
    );
    s.fmt(
        "name_enc",
        is_charset,
        "Must be an IANA registered character set",
        ctx,
    );
    s.fmt(
        "magic_number_hex",
        is_hex,
        "Must be hexadecimal octets",
        ctx,
    );
    s.ts(
        if v21 {
            &["ctime", "mtime", "atime"]
        } else {
            &["created", "modified", "accessed"]
        },
        ctx,
    );
    s.list_str(&["contains_refs"], 1, ctx);
    s.any_of(&["hashes", "name"], ctx);
    if !v21 {
        match s.get("is_encrypted") {
            Some(Json::Bool(true)) => s.str(&["encryption_algorithm", "decryption_key"], ctx),
            Some(Json::Bool(false)) | None => {
                if s.has("encryption_algorithm") || s.has("decryption_key") {
                    s.fail(
                        "is_encrypted",
                        "encryption_algorithm and decryption_key require is_encrypted to be true",
                        ctx,
                    );
                }
            }
            Some(_) => s.fail("is_encrypted", "Must be a boolean", ctx),
        }
    }
}

fn ntfs_ext(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    s.str(&["sid"], ctx);
    if let Some(v) = s.get("alternate_data_streams") {
        let here = s.path("alternate_data_streams");
        match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let ip = here.index(i);
                    match item.as_object() {
                        Some(o) => {
                            let a = Sco {
                                obj: o,
                                at: Some(&ip),
                            };
                            a.required("name", ctx);
                            a.str(&["name"], ctx);
                            a.hashes("hashes", ctx);
                            a.int(&["size"], 0, i64::MAX, ctx);
                        }
                        None => ctx.error(&ip, "Must be an object", item),
                    }
                }
            }
            None => ctx.error(&here, "Must be a list", v),
        }
    }
    s.any_of(&["sid", "alternate_data_streams"], ctx);
}

fn raster_image_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.int(
        &["image_height", "image_width", "bits_per_pixel"],
        i64::MIN,
        i64::MAX,
        ctx,
    );
    if !v21 {
        s.str(&["image_compression_algorithm"], ctx);
    }
    if let Some(v) = s.get("exif_tags") {
        let here = s.path("exif_tags");
        if v21 {
            dictionary(v, &here, ctx);
        }
        match v.as_object() {
            Some(o) => {
                for (k, x) in o.iter() {
                    let b = k.as_bytes();
                    let key_ok = b.len() >= 2
                        && b[0].is_ascii_uppercase()
                        && b[1..]
                            .iter()
                            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
                    let val_ok = x.as_str().is_some()
                        || matches!(x, Json::Number(n) if n.is_i64() || n.is_u64());
                    if !key_ok || !val_ok {
                        ctx.error(
                            &here.key(k),
                            "EXIF tags are capitalised names with string or integer values",
                            x,
                        );
                    }
                }
            }
            None => ctx.error(&here, "Must be a dictionary", v),
        }
    }
    s.any_of(
        &[
            "image_height",
            "image_width",
            "bits_per_pixel",
            "image_compression_algorithm",
            "exif_tags",
        ],
        ctx,
    );
}

fn pdf_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.str(&["version", "pdfid0", "pdfid1"], ctx);
    s.bool(&["is_optimized"], ctx);
    if let Some(v) = s.get("document_info_dict") {
        let here = s.path("document_info_dict");
        if v21 {
            dictionary(v, &here, ctx);
        }
        match v.as_object() {
            Some(o) => {
                for (k, x) in o.iter() {
                    if x.as_str().is_none() {
                        ctx.error(&here.key(k), "Must be a string", x);
                    }
                }
            }
            None => ctx.error(&here, "Must be a dictionary", v),
        }
    }
    s.any_of(
        &[
            "version",
            "is_optimized",
            "document_info_dict",
            "pdfid0",
            "pdfid1",
        ],
        ctx,
    );
}

fn archive_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("contains_refs", ctx);
    s.list_str(&["contains_refs"], 1, ctx);
    s.str(&["comment"], ctx);
    if !v21 {
        s.str(&["version"], ctx);
    }
}

fn pebinary_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("pe_type", ctx);
    s.str(&["pe_type", "imphash"], ctx);
    for k in [
        "machine_hex",
        "pointer_to_symbol_table_hex",
        "characteristics_hex",
    ] {
        s.fmt(k, is_hex, "Must be hexadecimal octets", ctx);
    }
    s.int(
        &[
            "number_of_sections",
            "number_of_symbols",
            "size_of_optional_header",
        ],
        0,
        i64::MAX,
        ctx,
    );
    if let Some(v) = s.get("time_date_stamp") {
        let here = s.path("time_date_stamp");
        if timestamp_of(v, &here, ctx).is_some()
            && !v
                .as_str()
                .is_some_and(|t| t.len() == 20 && t.ends_with('Z'))
        {
            ctx.error(
                &here,
                "Must be precise to the second, without a fraction",
                v,
            );
        }
    }
    s.hashes("file_header_hashes", ctx);
    if let Some(v) = s.get("optional_header") {
        let here = s.path("optional_header");
        match v.as_object() {
            Some(o) => {
                let h = Sco {
                    obj: o,
                    at: Some(&here),
                };
                for (k, x) in o.iter() {
                    if k.ends_with("_hex") {
                        if !x.as_str().is_some_and(is_hex) {
                            ctx.error(&here.key(k), "Must be hexadecimal octets", x);
                        }
                    } else if k == "hashes" {
                        h.hashes("hashes", ctx);
                    } else if !matches!(x, Json::Number(n) if n.is_i64() || n.is_u64()) {
                        ctx.error(&here.key(k), "Must be an integer", x);
                    }
                }
                if v21 && o.is_empty() {
                    ctx.error(&here, "Must not be empty", v);
                }
            }
            None => ctx.error(&here, "Must be an object", v),
        }
    }
    if let Some(v) = s.get("sections") {
        let here = s.path("sections");
        match v.as_array() {
            Some(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let ip = here.index(i);
                    match item.as_object() {
                        Some(o) => {
                            let a = Sco {
                                obj: o,
                                at: Some(&ip),
                            };
                            a.required("name", ctx);
                            a.str(&["name"], ctx);
                            a.int(&["size"], 0, i64::MAX, ctx);
                            a.number(&["entropy"], ctx);
                            a.hashes("hashes", ctx);
                        }
                        None => ctx.error(&ip, "Must be an object", item),
                    }
                }
            }
            _ => ctx.error(&here, "Must be a non-empty list", v),
        }
    }
    if v21 {
        s.any_of(
            &[
                "imphash",
                "machine_hex",
                "number_of_sections",
                "time_date_stamp",
                "pointer_to_symbol_table_hex",
                "number_of_symbols",
                "size_of_optional_header",
                "characteristics_hex",
                "file_header_hashes",
                "optional_header",
                "sections",
            ],
            ctx,
        );
    }
}

fn network_traffic(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    extensions_dict(
        s,
        ctx,
        &[
            ("http-request-ext", http_request_ext),
            ("icmp-ext", icmp_ext),
            ("socket-ext", socket_ext),
            ("tcp-ext", tcp_ext),
        ],
    );
    s.ts(&["start", "end"], ctx);
    s.str(
        &[
            "src_ref",
            "dst_ref",
            "src_payload_ref",
            "dst_payload_ref",
            "encapsulated_by_ref",
        ],
        ctx,
    );
    s.int(&["src_port", "dst_port"], 0, 65535, ctx);
    s.required("protocols", ctx);
    s.list_str(&["protocols"], 1, ctx);
    s.int(
        &[
            "src_byte_count",
            "dst_byte_count",
            "src_packets",
            "dst_packets",
        ],
        i64::MIN,
        i64::MAX,
        ctx,
    );
    if let Some(v) = s.get("ipfix") {
        let here = s.path("ipfix");
        dictionary(v, &here, ctx);
        if let Some(o) = v.as_object() {
            for (k, x) in o.iter() {
                if !(x.as_str().is_some()
                    || matches!(x, Json::Number(n) if n.is_i64() || n.is_u64()))
                {
                    ctx.error(&here.key(k), "Must be a string or an integer", x);
                }
            }
        }
    }
    s.list_str(&["encapsulates_refs"], usize::from(v21), ctx);
    s.any_of(&["src_ref", "dst_ref"], ctx);
    match s.get("is_active") {
        None | Some(Json::Bool(false)) => {}
        Some(Json::Bool(true)) => {
            if s.has("end") {
                s.fail("end", "Must not be present when is_active is true", ctx);
            }
        }
        Some(_) => s.fail("is_active", "Must be a boolean", ctx),
    }
    if v21 && s.at.is_none() {
        let parse = |k| {
            s.get(k)
                .and_then(Json::as_str)
                .and_then(|t| crate::Timestamp::parse(t).ok())
        };
        if let (Some(start), Some(end)) = (parse("start"), parse("end")) {
            if end < start {
                s.fail("end", "Must be later than or equal to start", ctx);
            }
        }
    }
}

fn http_request_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("request_method", ctx);
    s.required("request_value", ctx);
    s.str(
        &[
            "request_method",
            "request_value",
            "request_version",
            "message_body_data_ref",
        ],
        ctx,
    );
    s.int(&["message_body_length"], i64::MIN, i64::MAX, ctx);
    if let Some(v) = s.get("request_header") {
        let here = s.path("request_header");
        if v21 {
            dictionary(v, &here, ctx);
        }
        match v.as_object() {
            Some(o) => {
                for (k, x) in o.iter() {
                    let ok = if v21 {
                        x.as_array()
                            .is_some_and(|a| a.iter().all(|i| i.as_str().is_some()))
                    } else {
                        x.as_str().is_some()
                    };
                    if k.is_empty() || !ok {
                        ctx.error(&here.key(k), "Header value has the wrong type", x);
                    }
                }
            }
            None => ctx.error(&here, "Must be a dictionary", v),
        }
    }
}

fn icmp_ext(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    for k in ["icmp_type_hex", "icmp_code_hex"] {
        s.required(k, ctx);
        s.fmt(k, is_hex, "Must be hexadecimal octets", ctx);
    }
}

fn socket_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.required("address_family", ctx);
    s.one_of(
        "address_family",
        &[
            "AF_UNSPEC",
            "AF_INET",
            "AF_IPX",
            "AF_APPLETALK",
            "AF_NETBIOS",
            "AF_INET6",
            "AF_IRDA",
            "AF_BTH",
        ],
        ctx,
    );
    s.bool(&["is_blocking", "is_listening"], ctx);
    s.one_of(
        "socket_type",
        &[
            "SOCK_STREAM",
            "SOCK_DGRAM",
            "SOCK_RAW",
            "SOCK_RDM",
            "SOCK_SEQPACKET",
        ],
        ctx,
    );
    s.int(&["socket_descriptor"], 0, i64::MAX, ctx);
    s.int(&["socket_handle"], i64::MIN, i64::MAX, ctx);
    if let Some(v) = s.get("options") {
        let here = s.path("options");
        dictionary(v, &here, ctx);
        if v21 {
            if let Some(o) = v.as_object() {
                for (k, x) in o.iter() {
                    let prefix_ok = ["SO", "ICMP", "ICMP6", "IP", "IPV6", "MCAST", "TCP", "IRLMP"]
                        .iter()
                        .any(|p| {
                            k.strip_prefix(p).is_some_and(|rest| {
                                !rest.is_empty()
                                    && rest.split('_').skip(1).all(|w| {
                                        !w.is_empty() && w.bytes().all(|c| c.is_ascii_uppercase())
                                    })
                                    && rest.starts_with('_')
                            })
                        });
                    if !prefix_ok || !matches!(x, Json::Number(n) if n.is_i64() || n.is_u64()) {
                        ctx.error(
                            &here.key(k),
                            "Socket options are SO_*-style names with integer values",
                            x,
                        );
                    }
                }
            }
        }
    }
}

fn tcp_ext(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    for k in ["src_flags_hex", "dst_flags_hex"] {
        s.fmt(k, is_hex, "Must be hexadecimal octets", ctx);
    }
    s.any_of(&["src_flags_hex", "dst_flags_hex"], ctx);
}

fn process(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    extensions_dict(
        s,
        ctx,
        &[
            ("windows-process-ext", windows_process_ext),
            ("windows-service-ext", windows_service_ext),
        ],
    );
    s.bool(&["is_hidden"], ctx);
    s.int(&["pid"], i64::MIN, i64::MAX, ctx);
    s.str(
        &[
            "cwd",
            "command_line",
            "creator_user_ref",
            "image_ref",
            "parent_ref",
        ],
        ctx,
    );
    if v21 {
        s.ts(&["created_time"], ctx);
    } else {
        s.ts(&["created"], ctx);
        s.str(&["name", "binary_ref"], ctx);
        s.list_str(&["arguments"], 0, ctx);
    }
    s.dict("environment_variables", ctx);
    s.list_str(&["opened_connection_refs", "child_refs"], 1, ctx);
    if v21 {
        s.any_of(
            &[
                "extensions",
                "is_hidden",
                "pid",
                "name",
                "created",
                "cwd",
                "arguments",
                "command_line",
                "environment_variables",
                "opened_connection_refs",
                "creator_user_ref",
                "image_ref",
                "parent_ref",
                "child_refs",
            ],
            ctx,
        );
    }
}

fn windows_process_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.bool(&["aslr_enabled", "dep_enabled"], ctx);
    s.str(&["priority", "owner_sid", "window_title"], ctx);
    s.dict("startup_info", ctx);
    if v21 {
        s.one_of("integrity_level", &["low", "medium", "high", "system"], ctx);
    }
    s.any_of(
        &[
            "aslr_enabled",
            "dep_enabled",
            "priority",
            "owner_sid",
            "window_title",
            "startup_info",
        ],
        ctx,
    );
}

fn windows_service_ext(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    s.str(&["service_name", "display_name", "group_name"], ctx);
    s.list_str(&["descriptions", "service_dll_refs"], 1, ctx);
    s.one_of(
        "start_type",
        &[
            "SERVICE_AUTO_START",
            "SERVICE_BOOT_START",
            "SERVICE_DEMAND_START",
            "SERVICE_DISABLED",
            "SERVICE_SYSTEM_ALERT",
        ],
        ctx,
    );
    s.one_of(
        "service_type",
        &[
            "SERVICE_KERNEL_DRIVER",
            "SERVICE_FILE_SYSTEM_DRIVER",
            "SERVICE_WIN32_OWN_PROCESS",
            "SERVICE_WIN32_SHARE_PROCESS",
        ],
        ctx,
    );
    s.one_of(
        "service_status",
        &[
            "SERVICE_CONTINUE_PENDING",
            "SERVICE_PAUSE_PENDING",
            "SERVICE_PAUSED",
            "SERVICE_RUNNING",
            "SERVICE_START_PENDING",
            "SERVICE_STOP_PENDING",
            "SERVICE_STOPPED",
        ],
        ctx,
    );
    if v21 {
        s.any_of(
            &[
                "service_name",
                "descriptions",
                "display_name",
                "group_name",
                "start_type",
                "service_dll_refs",
                "service_type",
                "service_status",
            ],
            ctx,
        );
    } else {
        s.required("service_name", ctx);
    }
}

fn user_account(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    extensions_dict(s, ctx, &[("unix-account-ext", unix_account_ext)]);
    s.str(
        &["user_id", "account_login", "account_type", "display_name"],
        ctx,
    );
    s.bool(
        &[
            "is_service_account",
            "is_privileged",
            "can_escalate_privs",
            "is_disabled",
        ],
        ctx,
    );
    s.ts(
        &[
            "account_created",
            "account_expires",
            "account_first_login",
            "account_last_login",
        ],
        ctx,
    );
    if v21 {
        s.str(&["credential"], ctx);
        s.ts(&["credential_last_changed"], ctx);
        s.any_of(
            &[
                "extensions",
                "user_id",
                "credential",
                "account_login",
                "account_type",
                "display_name",
                "is_service_account",
                "is_privileged",
                "can_escalate_privs",
                "is_disabled",
                "account_created",
                "account_expires",
                "credential_last_changed",
                "account_first_login",
                "account_last_login",
            ],
            ctx,
        );
    } else {
        s.ts(&["password_last_changed"], ctx);
        s.required("user_id", ctx);
    }
}

fn unix_account_ext(s: &Sco<'_, '_, '_>, _v21: bool, ctx: &mut Ctx) {
    s.number(&["gid"], ctx);
    s.list_str(&["groups"], 1, ctx);
    s.str(&["home_dir", "shell"], ctx);
    s.any_of(&["gid", "groups", "home_dir", "shell"], ctx);
}

fn registry_key(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
    if let Some(v) = s.get("key") {
        if !v.as_str().is_some_and(registry_key_ok) {
            s.fail(
                "key",
                "Must be a string naming the hive in full (HKEY_LOCAL_MACHINE, not HKLM)",
                ctx,
            );
        }
    }
    s.str(&["creator_user_ref"], ctx);
    s.int(&["number_of_subkeys"], i64::MIN, i64::MAX, ctx);
    s.ts(
        if v21 {
            &["modified_time"]
        } else {
            &["modified"]
        },
        ctx,
    );
    const DATA_TYPES: &[&str] = &[
        "REG_NONE",
        "REG_SZ",
        "REG_EXPAND_SZ",
        "REG_BINARY",
        "REG_DWORD",
        "REG_DWORD_BIG_ENDIAN",
        "REG_DWORD_LITTLE_ENDIAN",
        "REG_LINK",
        "REG_MULTI_SZ",
        "REG_RESOURCE_LIST",
        "REG_FULL_RESOURCE_DESCRIPTION",
        "REG_RESOURCE_REQUIREMENTS_LIST",
        "REG_QWORD",
        "REG_INVALID_TYPE",
    ];
    if let Some(v) = s.get("values") {
        let here = s.path("values");
        match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let ip = here.index(i);
                    match item.as_object() {
                        Some(o) => {
                            let a = Sco {
                                obj: o,
                                at: Some(&ip),
                            };
                            a.str(&["name", "data"], ctx);
                            let types = if v21 {
                                DATA_TYPES
                            } else {
                                // REG_DWORD_LITTLE_ENDIAN is new in 2.1.
                                &[
                                    "REG_NONE",
                                    "REG_SZ",
                                    "REG_EXPAND_SZ",
                                    "REG_BINARY",
                                    "REG_DWORD",
                                    "REG_DWORD_BIG_ENDIAN",
                                    "REG_LINK",
                                    "REG_MULTI_SZ",
                                    "REG_RESOURCE_LIST",
                                    "REG_FULL_RESOURCE_DESCRIPTION",
                                    "REG_RESOURCE_REQUIREMENTS_LIST",
                                    "REG_QWORD",
                                    "REG_INVALID_TYPE",
                                ]
                            };
                            a.one_of("data_type", types, ctx);
                            if v21 {
                                a.any_of(&["name", "data", "data_type"], ctx);
                            } else {
                                a.required("name", ctx);
                            }
                        }
                        None => ctx.error(&ip, "Must be an object", item),
                    }
                }
            }
            None => ctx.error(&here, "Must be a list", v),
        }
    }
    if v21 {
        s.any_of(
            &[
                "key",
                "values",
                "modified",
                "creator_user_ref",
                "number_of_subkeys",
            ],
            ctx,
        );
    } else {
        s.required("key", ctx);
    }
}

fn x509(s: &Sco<'_, '_, '_>, v21: bool, ctx: &mut Ctx) {
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

/// The uuid_version_check and process MUSTs: SCOs identified without contributing properties,
/// and every process, use version 4 UUIDs.
fn uuid_musts(obj: &Object<'_>, ty: &str, ctx: &mut Ctx) {
    let contributing: &[&str] = match ty {
        "artifact" => &["hashes", "payload_bin"],
        "email-message" => &["from_ref", "subject", "body"],
        "user-account" => &["account_type", "user_id", "account_login"],
        "windows-registry-key" => &["key", "values"],
        "x509-certificate" => &["hashes", "serial_number"],
        "process" => &[],
        _ => return,
    };
    if ty != "process" && contributing.iter().any(|k| obj.contains_key(k)) {
        return;
    }
    let Some(v) = obj.get("id") else { return };
    let Some(id) = v.as_str().and_then(|s| crate::id::IdRef::parse(s).ok()) else {
        return;
    };
    if id.uuid_version() != 4 {
        ctx.error(
            &Path::Root("id"),
            "Must use a version 4 UUID (the object has no ID contributing properties)",
            v,
        );
    }
}

/// The observed-data `objects` dictionary: each member is an SCO of the record's version, and
/// its `*_ref(s)` name other members of the right types (observable_object_references MUST).
pub(crate) fn observed_data_objects(v: &Json<'_>, ctx: &mut Ctx) {
    let root = Path::Root("objects");
    let Some(objects) = v.as_object() else {
        ctx.error(&root, "Must be a dictionary of cyber-observable objects", v);
        return;
    };
    if objects.is_empty() {
        ctx.error(&root, "Must not be an empty dictionary", v);
    }
    for (key, member) in objects.iter() {
        let here = root.key(key);
        let Some(o) = member.as_object() else {
            ctx.error(&here, "Must be a cyber-observable object", member);
            continue;
        };
        let Some(ty) = o.get("type").and_then(Json::as_str) else {
            ctx.missing(&here.key("type"));
            continue;
        };
        let type_ok = (3..=250).contains(&ty.len())
            && ty != "action"
            && ty.split('-').enumerate().all(|(i, p)| {
                (!p.is_empty() || i == 0 || ty.ends_with('-'))
                    && p.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
            && (ctx.version == SpecVersion::V20 || ty.as_bytes()[0].is_ascii_lowercase());
        if !type_ok {
            ctx.error(
                &here.key("type"),
                "Must be a valid cyber-observable type name",
                member,
            );
            continue;
        }
        if ctx.v21() {
            match o.get("id") {
                None => ctx.missing(&here.key("id")),
                Some(idv) => crate::rules::check_ref(idv, &[], &here.key("id"), ctx),
            }
            if let Some(ext) = o.get("extensions") {
                strict::extensions(ext, &here.key("extensions"), false, ctx);
            }
        }
        observable_generic(o, &here, ctx);
        check(o, ty, Some(&here), ctx);
        references(o, ty, objects, &here, ctx);
    }
}

/// The generic property rules of `cyber-observable-core.json` for a member of `objects`.
fn observable_generic(o: &Object<'_>, at: &Path<'_>, ctx: &mut Ctx) {
    let core = strict::Core::Observable;
    strict::generic_properties(o, Some(at), core, ctx);
}

fn refs_of(ty: &str, prop: &str, v21: bool) -> Option<&'static [&'static str]> {
    Some(match (ty, prop) {
        ("directory", "contains_refs") => &["file", "directory"],
        ("domain-name", "resolves_to_refs") => &["ipv4-addr", "ipv6-addr", "domain-name"],
        ("email-addr", "belongs_to_ref") => &["user-account"],
        ("email-message", "from_ref" | "sender_ref" | "to_refs" | "cc_refs" | "bcc_refs") => {
            &["email-addr"]
        }
        ("email-message", "raw_email_ref") => &["artifact"],
        ("file", "parent_directory_ref") => &["directory"],
        ("file", "content_ref") => &["artifact"],
        ("ipv4-addr" | "ipv6-addr", "resolves_to_refs") => &["mac-addr"],
        ("ipv4-addr" | "ipv6-addr", "belongs_to_refs") => &["autonomous-system"],
        ("network-traffic", "src_ref" | "dst_ref") => {
            &["ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"]
        }
        ("network-traffic", "src_payload_ref" | "dst_payload_ref") => &["artifact"],
        ("network-traffic", "encapsulates_refs" | "encapsulated_by_ref") => &["network-traffic"],
        ("process", "opened_connection_refs") => &["network-traffic"],
        ("process", "creator_user_ref") => &["user-account"],
        ("process", "image_ref") if v21 => &["file"],
        ("process", "binary_ref") if !v21 => &["file"],
        ("process", "parent_ref" | "child_refs") => &["process"],
        ("windows-registry-key", "creator_user_ref") => &["user-account"],
        _ => return None,
    })
}

fn resolve(refs: &Json<'_>, allowed: &[&str], objects: &Object<'_>, at: &Path<'_>, ctx: &mut Ctx) {
    let one = std::slice::from_ref(refs);
    let list = refs.as_array().unwrap_or(one);
    for r in list {
        let Some(key) = r.as_str() else {
            ctx.error(at, "Must name a member of objects", r);
            continue;
        };
        match objects.get(key) {
            None => ctx.error(at, "Names no member of objects", r),
            Some(target) => {
                if let Some(t) = target.get("type").and_then(Json::as_str) {
                    if !allowed.contains(&t) {
                        ctx.error(
                            at,
                            format!("Must name an object of type {}", allowed.join(" or ")),
                            r,
                        );
                    }
                }
            }
        }
    }
}

fn references(o: &Object<'_>, ty: &str, objects: &Object<'_>, at: &Path<'_>, ctx: &mut Ctx) {
    let v21 = ctx.v21();
    for (k, v) in o.iter() {
        if let Some(allowed) = refs_of(ty, k, v21) {
            resolve(v, allowed, objects, &at.key(k), ctx);
        }
    }
    let embedded: &[(&str, &str, &[&str])] = match ty {
        "file" => &[("archive-ext", "contains_refs", &["file"])],
        "network-traffic" => &[("http-request-ext", "message_body_data_ref", &["artifact"])],
        "process" => &[("windows-service-ext", "service_dll_refs", &["file"])],
        _ => &[],
    };
    if let Some(exts) = o.get("extensions").and_then(Json::as_object) {
        for (ext, prop, allowed) in embedded {
            if let Some(r) = exts.get(ext).and_then(|e| e.get(prop)) {
                let ep = at.key("extensions");
                resolve(r, allowed, objects, &ep.key(prop), ctx);
            }
        }
    }
    if ty == "email-message" {
        if let Some(parts) = o.get("body_multipart").and_then(Json::as_array) {
            for part in parts {
                if let Some(r) = part.get("body_raw_ref") {
                    resolve(
                        r,
                        &["artifact", "file"],
                        objects,
                        &at.key("body_multipart"),
                        ctx,
                    );
                }
            }
        }
    }
}
