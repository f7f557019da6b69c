//! The `objects` dictionary of observed data: each member an SCO of the record's version,
//! checked like a top-level one, and its references resolved to other members of the right
//! types (the observable_object_references MUST).
//!
//! Invariants: members are checked in the dictionary's order, each completely (its generic
//! properties, its type's rules, then its references) before the next, so messages keep a
//! stable order; a member's messages are reported under `objects.<key>.`.

use super::check;
use crate::json::{Json, Object};
use crate::rules::{dictionary_at, Ctx, Path};
use crate::strict;
use crate::SpecVersion;

/// The observed-data `objects` dictionary: each member is an SCO of the record's version, and
/// its `*_ref(s)` name other members of the right types (observable_object_references MUST).
pub(crate) fn observed_data_objects(v: &Json<'_>, ctx: &mut Ctx) {
    let root = Path::Root("objects");
    let what = "Must be a dictionary of cyber-observable objects";
    let Some(objects) = dictionary_at(v, &root, what, true, ctx) else {
        return;
    };
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
