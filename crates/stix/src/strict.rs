//! The strict profile's own rules: what stix2-validator 3.3.2 enforces with its default options
//! beyond the property tables.
//!
//! The reference validator checks a record in two steps: the OASIS JSON schemas
//! (`cti-stix2-json-schemas`, shipped inside it) and a list of MUST functions (`musts.py`). The
//! property tables (`types21.rs`, `types20.rs`, `types_sco/`) hold the per-type part of the
//! schemas; this module holds the rest, each function naming the schema or MUST it mirrors:
//! the generic property-name and value rules (`properties.json`), reserved property names,
//! `extensions`, external references, granular markings and their selectors, language codes,
//! marking definitions (TLP), language content and the UUID-version MUSTs.
//!
//! Only verdicts must agree with the reference validator; messages are ours.

use crate::json::{Json, Object};
use crate::registry;
use crate::rules::{check_ref, dictionary_at, Ctx, Fields, Path};
use crate::{tlp, SpecVersion};

/// Which of the validator's core schemas a record is checked against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Core {
    /// `core.json`: domain, relationship and meta objects.
    Object,
    /// `cyber-observable-core.json`: cyber-observable objects, including custom ones (a 2.1
    /// object of an unknown type without `created` and `modified`).
    Observable,
    /// `marking-definition.json`, which has its own rules for the common properties.
    Marking,
}

/// Runs every strict-only rule on a top-level record.
pub(crate) fn check(obj: &Fields<'_, '_>, ty: Option<&str>, core: Core, ctx: &mut Ctx) {
    generic_properties(obj.obj, None, core, ctx);
    reserved_properties(obj, core, ctx);
    if ctx.v21() {
        if let Some(v) = obj.get("extensions") {
            extensions(v, &Path::Root("extensions"), core == Core::Marking, ctx);
        }
        if let Some(v) = obj.get("lang") {
            if v.as_str().is_some_and(|s| !is_lang_code(s)) {
                ctx.error(
                    &Path::Root("lang"),
                    "Must be an RFC 5646 language code the reference validator knows",
                    v,
                );
            }
        }
    }
    if let Some(v) = obj.get("external_references") {
        if let Some(items) = v.as_array() {
            let root = Path::Root("external_references");
            for (i, item) in items.iter().enumerate() {
                external_reference(item, &root.index(i), ctx);
            }
        }
    }
    granular_markings(obj, ty, ctx);
    if core != Core::Observable {
        millisecond_timestamps(obj, core, ctx);
    }
    if let Some(ty) = ty {
        match ty {
            "marking-definition" => marking_definition(obj, ctx),
            "language-content" if ctx.v21() => language_content(obj, ctx),
            "extension-definition" if ctx.v21() => extension_definition(obj, ctx),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// properties.json and the 2.0 core schemas: property names and values.

fn is_lower_alnum_us(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'
}

/// `^[a-z][a-z0-9_]{0,245}<suffix>$` (the suffix being `_bin` or `_hex`)
fn is_suffixed_key(k: &str, suffix: &[u8; 4]) -> bool {
    let b = k.as_bytes();
    b.len() > suffix.len()
        && b.len() <= 246 + suffix.len()
        && b[b.len() - 4..] == *suffix
        && b[0].is_ascii_lowercase()
        && b[1..b.len() - suffix.len()]
            .iter()
            .all(|&c| is_lower_alnum_us(c))
}

fn is_bin_key(k: &str) -> bool {
    is_suffixed_key(k, b"_bin")
}

/// The 2.1 general pattern `^([a-z][a-z0-9_]{2,249})|id$`. The validator's JSON-schema library
/// searches rather than matches, so this is "starts with a letter and two more name characters,
/// or ends with `id`".
fn is_general_key_21(k: &str) -> bool {
    let b = k.as_bytes();
    (b.len() >= 3
        && b[0].is_ascii_lowercase()
        && is_lower_alnum_us(b[1])
        && is_lower_alnum_us(b[2]))
        || k.ends_with("id")
}

/// `^[a-z0-9_]{3,250}$`
pub(crate) fn is_property_name_20(k: &str) -> bool {
    (3..=250).contains(&k.len()) && k.bytes().all(is_lower_alnum_us)
}

/// A value the generic rule accepts: anything but `null` and the empty list.
fn is_nonempty_value(v: &Json<'_>) -> bool {
    match v {
        Json::Null => false,
        Json::Array(a) => !a.is_empty(),
        _ => true,
    }
}

const CORE_20_PROPERTIES: &[&str] = &[
    "type",
    "id",
    "created_by_ref",
    "labels",
    "created",
    "modified",
    "revoked",
    "external_references",
    "object_marking_refs",
    "granular_markings",
];

/// Property names and values of an object (a record, or an extension's properties when
/// `at` is set).
pub(crate) fn generic_properties(
    obj: &Object<'_>,
    at: Option<&Path<'_>>,
    core: Core,
    ctx: &mut Ctx,
) {
    for (k, v) in obj.iter() {
        let here = match at {
            Some(p) => Path::Key(p, k),
            None => Path::Root(k),
        };
        let (name_ok, value_rule) = match (ctx.version, core) {
            (SpecVersion::V21, _) => {
                let general = is_general_key_21(k);
                (
                    general || is_bin_key(k) || is_suffixed_key(k, b"_hex"),
                    general,
                )
            }
            (SpecVersion::V20, Core::Observable) => {
                let general = is_property_name_20(k);
                let bin = k.ends_with("_bin") && k.len() <= 250 && k.bytes().all(is_lower_alnum_us);
                (general || bin || k == "type" || k == "extensions", general)
            }
            (SpecVersion::V20, _) => {
                let general = is_property_name_20(k);
                (general || CORE_20_PROPERTIES.contains(&k), general)
            }
        };
        if !name_ok {
            ctx.error(
                &here,
                "Property name must be lowercase letters, digits and underscores, at least 3 characters",
                v,
            );
            continue;
        }
        if value_rule && !is_nonempty_value(v) {
            ctx.error(&here, "Must not be null or an empty list", v);
        }
        let bin = if ctx.v21() {
            is_bin_key(k)
        } else {
            k.ends_with("_bin")
        };
        if bin && !v.as_str().is_some_and(is_base64) {
            ctx.error(&here, "Must be a base64-encoded string", v);
        }
        if ctx.v21() && is_suffixed_key(k, b"_hex") && !v.as_str().is_some_and(is_hex) {
            ctx.error(&here, "Must be a string of hexadecimal octets", v);
        }
    }
}

fn reserved_properties(obj: &Fields<'_, '_>, core: Core, ctx: &mut Ctx) {
    const RESERVED_21: &[&str] = &["severity", "action", "username", "phone_numbers"];
    const RESERVED_20: &[&str] = &[
        "confidence",
        "severity",
        "action",
        "usernames",
        "phone_numbers",
        "addresses",
        "first_seen_precision",
        "last_seen_precision",
        "valid_from_precision",
        "valid_until_precision",
    ];
    let reserved = match (ctx.version, core) {
        (_, Core::Marking) => return,
        (SpecVersion::V21, _) => RESERVED_21,
        (SpecVersion::V20, Core::Observable) => return,
        (SpecVersion::V20, _) => RESERVED_20,
    };
    for name in reserved {
        if let Some(v) = obj.get(name) {
            ctx.error(
                &Path::Root(name),
                "This property name is reserved by STIX",
                v,
            );
        }
    }
}

/// `created` and `modified` carry at least milliseconds in 2.1 (exactly milliseconds in 2.0).
fn millisecond_timestamps(obj: &Fields<'_, '_>, core: Core, ctx: &mut Ctx) {
    let props: &[&str] = if core == Core::Marking {
        &[]
    } else {
        &["created", "modified"]
    };
    for &k in props {
        let Some(v) = obj.get(k) else { continue };
        let Some(s) = v.as_str() else { continue };
        // The usual `…:ss.fffZ`: a fraction of digits holds no `.`, so the one at 19 is the last.
        let b = s.as_bytes();
        if b.len() > 21 && b[19] == b'.' && b[b.len() - 1] == b'Z' {
            let frac = &b[20..b.len() - 1];
            if frac.iter().all(u8::is_ascii_digit) {
                let ok = if ctx.v21() {
                    frac.len() >= 3
                } else {
                    frac.len() == 3
                };
                if !ok {
                    ctx.error(&Path::Root(k), "Must be precise to the millisecond", v);
                }
                continue;
            }
        }
        let Some(frac) = s
            .strip_suffix('Z')
            .and_then(|s| s.rsplit_once('.'))
            .map(|(_, f)| f)
        else {
            ctx.error(&Path::Root(k), "Must be precise to the millisecond", v);
            continue;
        };
        let ok = frac.bytes().all(|c| c.is_ascii_digit())
            && if ctx.v21() {
                frac.len() >= 3
            } else {
                frac.len() == 3
            };
        if !ok {
            ctx.error(&Path::Root(k), "Must be precise to the millisecond", v);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Formats.

pub(crate) fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len().is_multiple_of(2) && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// `^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$`
pub(crate) fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let body = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    pad <= 2 && b[..b.len() - pad].iter().all(|&c| body(c))
}

/// RFC 3986 `URI` (a scheme, a colon, and URI characters), as the validator's `uri` format.
pub(crate) fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let sb = scheme.as_bytes();
    if sb.is_empty()
        || !sb[0].is_ascii_alphabetic()
        || !sb
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return false;
    }
    let rb = rest.as_bytes();
    let mut i = 0;
    while i < rb.len() {
        let c = rb[i];
        if c == b'%' {
            if i + 2 >= rb.len()
                || !(rb[i + 1].is_ascii_hexdigit() && rb[i + 2].is_ascii_hexdigit())
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !is_uri_char(c) {
            return false;
        }
        i += 1;
    }
    true
}

/// A URI character other than `%`: unreserved, reserved or a gen-delim.
fn is_uri_char(c: u8) -> bool {
    /// Whether each byte is one of `A-Za-z0-9-._~:/?#[]@!$&'()*+,;=`.
    const SET: [bool; 256] = {
        let mut set = [false; 256];
        let mut c = 0;
        while c < 256 {
            set[c] = (c as u8).is_ascii_alphanumeric();
            c += 1;
        }
        let extra = b"-._~:/?#[]@!$&'()*+,;=";
        let mut i = 0;
        while i < extra.len() {
            set[extra[i] as usize] = true;
            i += 1;
        }
        set
    };
    SET[usize::from(c)]
}

/// The validator's e-mail format: `^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`.
pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let Some((first, rest)) = domain.split_once('.') else {
        return false;
    };
    !local.is_empty()
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'+' | b'-'))
        && !first.is_empty()
        && first
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
}

pub(crate) fn is_lang_code(s: &str) -> bool {
    registry::LANG_CODES.binary_search(&s).is_ok()
}

// ---------------------------------------------------------------------------------------------
// extensions (core.json, cyber-observable-core.json, extension.json).

/// `^([a-z][a-z0-9]*)+(-[a-z0-9]+)*\-ext$`
fn is_ext_key(k: &str) -> bool {
    let Some(stem) = k.strip_suffix("-ext") else {
        return false;
    };
    let b = stem.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && !stem.contains("--")
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

fn is_extension_definition_id(k: &str) -> bool {
    k.strip_prefix("extension-definition--").is_some()
        && crate::id::IdRef::parse(k).is_ok_and(|id| crate::rules::uuid_is_rfc4122(&id))
}

/// The `extensions` dictionary of a 2.1 object.
pub(crate) fn extensions(v: &Json<'_>, at: &Path<'_>, definitions_only: bool, ctx: &mut Ctx) {
    let Some(o) = dictionary_at(v, at, "Must be a dictionary of extensions", true, ctx) else {
        return;
    };
    for (k, ext) in o.iter() {
        let here = at.key(k);
        if is_extension_definition_id(k) {
            let Some(eo) = ext.as_object() else {
                ctx.error(&here, "Must be an object", ext);
                continue;
            };
            if eo.is_empty() {
                ctx.error(&here, "Must not be empty", ext);
            }
            match eo.get("extension_type") {
                None => ctx.missing(&here.key("extension_type")),
                Some(t) => {
                    if !t
                        .as_str()
                        .is_some_and(|s| crate::vocab::EXTENSION_TYPE.contains(&s))
                    {
                        ctx.error(
                            &here.key("extension_type"),
                            "Must be one of the extension types",
                            t,
                        );
                    }
                }
            }
            generic_properties(eo, Some(&here), Core::Object, ctx);
        } else if !definitions_only && is_ext_key(k) {
            let Some(eo) = ext.as_object() else {
                ctx.error(&here, "Must be an object", ext);
                continue;
            };
            if eo.is_empty() {
                ctx.error(&here, "Must not be empty", ext);
            }
            generic_properties(eo, Some(&here), Core::Object, ctx);
        } else {
            ctx.error(
                &here,
                "Extension names must be an extension-definition id or end in '-ext'",
                ext,
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// External references (external-reference.json).

fn is_cve_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, num)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|c| c.is_ascii_digit())
        && num.bytes().all(|c| c.is_ascii_digit())
        && ((num.len() == 4 && num.starts_with('0')) || (num.len() >= 4 && !num.starts_with('0')))
}

fn is_capec_id(s: &str) -> bool {
    s.strip_prefix("CAPEC-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

/// The hash algorithm names external-reference hashes may use in 2.1, matched as the schema's
/// unanchored alternation does.
fn external_hash_name_ok(k: &str) -> bool {
    k.starts_with("MD5")
        || [
            "SHA-1", "SHA-256", "SHA-512", "SHA3-256", "SHA3-512", "SSDEEP",
        ]
        .iter()
        .any(|n| k.contains(n))
        || k.ends_with("TLSH")
}

fn external_reference(v: &Json<'_>, at: &Path<'_>, ctx: &mut Ctx) {
    let Some(o) = v.as_object() else {
        ctx.error(at, "Must be an external reference object", v);
        return;
    };
    if let Some(url) = o.get("url") {
        if !url.as_str().is_some_and(is_uri) {
            ctx.error(&at.key("url"), "Must be a URI", url);
        }
    }
    if let Some(h) = o.get("hashes") {
        hashes(h, &at.key("hashes"), ctx);
        if ctx.v21() {
            if let Some(ho) = h.as_object() {
                for (k, hv) in ho.iter() {
                    if !external_hash_name_ok(k) {
                        ctx.error(&at.key("hashes").key(k), "Unknown hash algorithm", hv);
                    }
                }
            }
        }
    }
    let source = o.get("source_name");
    let external_id = o.get("external_id");
    let sn = source.and_then(Json::as_str);
    let eid = external_id.and_then(Json::as_str);
    let ok = match sn {
        Some("cve") => eid.is_some_and(is_cve_id),
        Some("capec") => eid.is_some_and(is_capec_id),
        Some(_) => {
            let eid_ok = match external_id {
                None => true,
                Some(Json::String(s)) => !(is_cve_id(s) || is_capec_id(s)),
                Some(_) => false,
            };
            eid_ok
                && (o.contains_key("external_id")
                    || o.contains_key("description")
                    || o.contains_key("url"))
        }
        None => false,
    };
    if !ok {
        ctx.error(
            at,
            "An external reference needs source_name and one of external_id, description or url; \
             a 'cve' or 'capec' source needs an external_id in CVE-YYYY-NNNN or CAPEC-N form, and \
             other sources must not use those forms",
            v,
        );
    }
}

/// A hashes dictionary as the schema of the record's version defines it.
pub(crate) fn hashes(v: &Json<'_>, at: &Path<'_>, ctx: &mut Ctx) {
    let Some(o) = dictionary_at(v, at, "Must be a dictionary of hashes", ctx.v21(), ctx) else {
        return;
    };
    crate::hashes::each_hash_value(o, at, ctx, |k, s, hv, here, ctx| {
        if !schema_hash_ok(ctx.version, k, s) {
            ctx.error(here, "Hash name or value is not valid", hv);
        }
    });
}

/// Whether `k` names a hash algorithm and `s` is a value for it, as the hashes schema of
/// `version` says.
fn schema_hash_ok(version: SpecVersion, k: &str, s: &str) -> bool {
    let hex_len =
        |lens: &[usize]| lens.contains(&s.len()) && s.bytes().all(|c| c.is_ascii_hexdigit());
    match (version, k) {
        (_, "MD5") => hex_len(&[32]),
        (_, "SHA-1") => hex_len(&[40]),
        (_, "SHA-256") | (_, "SHA3-256") => hex_len(&[64]),
        (_, "SHA-512") | (_, "SHA3-512") => hex_len(&[128]),
        (SpecVersion::V21, "SSDEEP") | (SpecVersion::V20, "ssdeep") => {
            (1..=128).contains(&s.len())
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'+' | b':' | b'.'))
        }
        (SpecVersion::V21, "TLSH") => s.len() == 70 && s.bytes().all(|c| c.is_ascii_alphanumeric()),
        (SpecVersion::V20, "RIPEMD-160") => hex_len(&[40]),
        (SpecVersion::V20, "SHA-224") | (SpecVersion::V20, "SHA3-224") => hex_len(&[56]),
        (SpecVersion::V20, "SHA-384") | (SpecVersion::V20, "SHA3-384") => hex_len(&[96]),
        (SpecVersion::V20, "WHIRLPOOL") => hex_len(&[128]),
        (SpecVersion::V20, "MD6") => {
            // The schema's pattern is an unanchored alternation: any run of 32 hex digits
            // at the start, or 40/56/64/96 hex digits anywhere, or 128 at the end.
            s.bytes().take(32).filter(|c| c.is_ascii_hexdigit()).count() == 32
        }
        _ => {
            let max = if version == SpecVersion::V21 {
                250
            } else {
                256
            };
            (3..=max).contains(&k.len())
                && k.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Granular markings (granular-marking.json and the marking_selector_syntax MUST).

/// `^([a-z0-9_-]{3,249}(\.(\[\d+\]|[a-z0-9_-]{1,250}))*|id)$` (250 in 2.0)
fn is_selector(s: &str, v21: bool) -> bool {
    if s == "id" {
        return true;
    }
    let name = |p: &str, min: usize, max: usize| {
        (min..=max).contains(&p.len())
            && p.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
    };
    let mut parts = s.split('.');
    let first = parts.next().unwrap_or("");
    if !name(first, 3, if v21 { 249 } else { 250 }) {
        return false;
    }
    parts.all(|p| {
        name(p, 1, 250)
            || p.strip_prefix('[')
                .and_then(|p| p.strip_suffix(']'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
    })
}

fn granular_markings(obj: &Fields<'_, '_>, ty: Option<&str>, ctx: &mut Ctx) {
    let Some(v) = obj.get("granular_markings") else {
        return;
    };
    let Some(items) = v.as_array() else { return };
    let root = Path::Root("granular_markings");
    let own_id = obj.get("id").and_then(Json::as_str);
    for (i, m) in items.iter().enumerate() {
        let here = root.index(i);
        let Some(mo) = m.as_object() else { continue };
        match mo.get("marking_ref") {
            None => ctx.missing(&here.key("marking_ref")),
            Some(r) => {
                if ty == Some("marking-definition") && r.as_str().is_some() && r.as_str() == own_id
                {
                    ctx.error(
                        &here.key("marking_ref"),
                        "Must not reference the marking definition itself",
                        r,
                    );
                }
            }
        }
        let Some(selectors) = mo.get("selectors").and_then(Json::as_array) else {
            continue;
        };
        for (j, sel) in selectors.iter().enumerate() {
            let sp = here.key("selectors");
            let sp = sp.index(j);
            let Some(s) = sel.as_str() else {
                ctx.error(&sp, "Must be a string", sel);
                continue;
            };
            if !is_selector(s, ctx.v21()) {
                ctx.error(
                    &sp,
                    "Must be a selector such as 'description' or 'labels.[0]'",
                    sel,
                );
            }
            if !selector_resolves(obj.obj, s) {
                ctx.error(
                    &sp,
                    "Selector does not select a property of this object",
                    sel,
                );
            }
        }
    }
}

/// Walks a selector through the object, as the marking_selector_syntax MUST does.
fn selector_resolves(obj: &Object<'_>, selector: &str) -> bool {
    enum Node<'j, 'a> {
        Obj(&'j Object<'a>),
        Val(&'j Json<'a>),
    }
    let mut node = Node::Obj(obj);
    for seg in selector.split('.') {
        let index = seg
            .strip_prefix('[')
            .and_then(|s| s.split_once(']'))
            .and_then(|(n, _)| n.parse::<usize>().ok());
        let next = match (index, &node) {
            (Some(i), Node::Val(Json::Array(a))) => a.get(i),
            (Some(_), _) => None,
            (None, Node::Obj(o)) => o.get(seg),
            (None, Node::Val(Json::Object(o))) => o.get(seg),
            (None, _) => None,
        };
        match next {
            Some(v) => node = Node::Val(v),
            None => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// marking-definition.json (and its 2.0 form).

fn marking_definition(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    if let Some(refs) = obj.get("object_marking_refs").and_then(Json::as_array) {
        let root = Path::Root("object_marking_refs");
        for (i, r) in refs.iter().enumerate() {
            check_ref(r, &["marking-definition"], &root.index(i), ctx);
        }
    }
    let dt = obj.get("definition_type");
    let dts = dt.and_then(Json::as_str);
    let tlp_like =
        dts.is_some_and(|s| s != "statement" && (s.starts_with("statement") || s.ends_with("tlp")));
    if dts == Some("statement") {
        let ok = obj
            .get("definition")
            .and_then(Json::as_object)
            .and_then(|d| d.get("statement"))
            .is_some_and(|s| s.as_str().is_some());
        if !ok {
            let v = obj.get("definition").cloned().unwrap_or(Json::Null);
            ctx.error(
                &Path::Root("definition"),
                "A statement marking needs a definition with a 'statement' string",
                &v,
            );
        }
    } else if tlp_like {
        if !tlp_marking_ok(obj, ctx.v21()) {
            ctx.error(
                &Path::Root("definition"),
                "TLP marking definitions must be exactly the ones the STIX specification defines",
                obj.get("definition").unwrap_or(&Json::Null),
            );
        }
    } else {
        if let Some(d) = dt {
            if d.as_str().is_none() {
                ctx.error(&Path::Root("definition_type"), "Must be a string", d);
            }
        }
        if let Some(d) = obj.get("definition") {
            if d.as_object().is_none() {
                ctx.error(&Path::Root("definition"), "Must be an object", d);
            }
        }
    }
    // A missing definition or definition_type is reported in both profiles (extra.rs).
}

fn tlp_marking_ok(obj: &Fields<'_, '_>, v21: bool) -> bool {
    let allowed: &[&str] = if v21 {
        &[
            "type",
            "id",
            "spec_version",
            "name",
            "created",
            "definition",
            "definition_type",
        ]
    } else {
        &["type", "id", "created", "definition", "definition_type"]
    };
    if obj.iter().any(|(k, _)| !allowed.contains(&k)) {
        return false;
    }
    if v21 && allowed.iter().any(|k| !obj.contains_key(k)) {
        return false;
    }
    let s = |k| obj.get(k).and_then(Json::as_str);
    if s("definition_type") != Some("tlp") || s("created") != Some("2017-01-20T00:00:00.000Z") {
        return false;
    }
    if v21 && s("spec_version") != Some("2.1") {
        return false;
    }
    let (level, name) = match s("id") {
        Some(tlp::TLP1_WHITE) => ("white", "TLP:WHITE"),
        Some(tlp::TLP1_GREEN) => ("green", "TLP:GREEN"),
        Some(tlp::TLP1_AMBER) => ("amber", "TLP:AMBER"),
        Some(tlp::TLP1_RED) => ("red", "TLP:RED"),
        _ => return false,
    };
    let def_ok = match obj.get("definition") {
        Some(Json::Object(d)) => match d.get("tlp") {
            None => true,
            Some(t) => t.as_str() == Some(level),
        },
        None => !v21,
        Some(_) => false,
    };
    def_ok && (!v21 || s("name") == Some(name))
}

// ---------------------------------------------------------------------------------------------
// language-content.json and the language_contents MUST; extension-definition.json.

fn language_content(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    let Some(v) = obj.get("contents") else { return };
    let Some(o) = v.as_object() else { return };
    let root = Path::Root("contents");
    for (lang, inner) in o.iter() {
        let here = root.key(lang);
        let key_ok = lang.len() <= 250
            && lang
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if !key_ok || !is_lang_code(lang) {
            ctx.error(&here, "Keys must be RFC 5646 language codes", inner);
        }
        match inner.as_object() {
            Some(io) => {
                for (k, iv) in io.iter() {
                    if !is_property_name_20(k) {
                        ctx.error(&here.key(k), "Must be a valid property name", iv);
                    }
                }
            }
            None => ctx.error(
                &here,
                "Must be a dictionary of translated properties",
                inner,
            ),
        }
    }
}

fn extension_definition(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    let toplevel = obj
        .get("extension_types")
        .and_then(Json::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|t| t.as_str() == Some("toplevel-property-extension"))
        });
    if !toplevel {
        if let Some(v) = obj.get("extension_properties") {
            ctx.error(
                &Path::Root("extension_properties"),
                "Only allowed with the toplevel-property-extension extension type",
                v,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A check on text, named for messages, with texts it must accept and texts it must refuse.
    type Case = (
        &'static str,
        fn(&str) -> bool,
        &'static [&'static str],
        &'static [&'static str],
    );

    fn judge(cases: &[Case]) {
        for &(name, check, accepted, refused) in cases {
            for text in accepted {
                assert!(check(text), "{name} should accept {text:?}");
            }
            for text in refused {
                assert!(!check(text), "{name} should refuse {text:?}");
            }
        }
    }

    #[test]
    fn formats() {
        judge(&[
            (
                "base64",
                is_base64,
                &["Zm9vYmFy", "Zm9vYg=="],
                &["failing test", ""],
            ),
            ("hex", is_hex, &["0aFF"], &["0aF"]),
            (
                "uri",
                is_uri,
                &["https://example.com/a?b=c#d"],
                &["www.g.com", "foo"],
            ),
            (
                "email",
                is_email,
                &["jdoe@example.com"],
                &["John Doe <jdoe@example.com>"],
            ),
            (
                "CVE id",
                is_cve_id,
                &["CVE-2016-1234", "CVE-2016-12345"],
                &["CVE-2016-123", "CVE-2016-01234"],
            ),
            ("CAPEC id", is_capec_id, &["CAPEC-163"], &["CAPEC-"]),
            (
                "2.1 selector",
                |s| is_selector(s, true),
                &["labels.[0]", "id"],
                &["[0]"],
            ),
        ]);
    }

    #[test]
    fn property_names() {
        judge(&[
            (
                "2.1 property name",
                is_general_key_21,
                &["x_foo", "abc-def", "some_id"],
                &["9ome_custom_stuff", "ab"],
            ),
            ("binary property name", is_bin_key, &["payload_bin"], &[]),
            (
                "hex property name",
                |k| is_suffixed_key(k, b"_hex"),
                &["magic_number_hex"],
                &[],
            ),
            (
                "extension name",
                is_ext_key,
                &["archive-ext"],
                &["x-foobar"],
            ),
        ]);
    }
}
