//! Cyber-observable objects (SCOs), as the strict profile checks them: the 18 STIX types, their
//! predefined extensions, and the cross-property rules of the OASIS schemas (`observables/*.json`
//! of both versions) and of the reference validator's MUSTs.
//!
//! An SCO is either a top-level 2.1 record or a member of an observed-data `objects` dictionary
//! (STIX 2.0, and deprecated in 2.1); the same code checks both, told where the object sits by
//! its path. The rules relating several properties (one of, any of) read more clearly as code
//! than as table entries, so each type is a function over a small set of helpers.
//!
//! # Files
//!
//! * `mod.rs` (this file): the helpers every type's check uses ([`Sco`]), dictionaries and
//!   extension dictionaries, the dispatch from a type name to its check ([`check`]) and the
//!   UUID rules of top-level SCOs.
//! * `formats.rs`: the string formats of SCO properties (addresses, host names, media types…).
//! * `basic.rs`: the types without predefined extensions.
//! * `file.rs`, `network.rs`, `host.rs`: `file`, `network-traffic`, and `process`,
//!   `user-account` and `windows-registry-key`, each with its extensions.
//! * `observed_data.rs`: the `objects` dictionary of observed data and its references.
//!
//! Invariants: the checks of one object run in a fixed order (the order of the code), so a
//! record's messages come in a stable order; a message is formatted only for a problem found,
//! so a valid object costs no message text.

mod basic;
mod file;
mod formats;
mod host;
mod network;
mod observed_data;

use crate::json::{Json, Object};
use crate::rules::{check_value, dictionary_at, timestamp_of, Ctx, Path, Ty};
use crate::strict;

pub(crate) use observed_data::observed_data_objects;

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
    /// The MAC times of a file or directory, named `ctime`, `mtime` and `atime` in 2.1.
    fn mac_times(&self, v21: bool, ctx: &mut Ctx) {
        let keys: &[&str] = if v21 {
            &["ctime", "mtime", "atime"]
        } else {
            &["created", "modified", "accessed"]
        };
        self.ts(keys, ctx);
    }
    fn charset(&self, k: &'s str, ctx: &mut Ctx) {
        let reason = "Must be an IANA registered character set";
        self.fmt(k, formats::is_charset, reason, ctx);
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
    /// A dictionary each of whose entries must pass `ok`, else `reason` is reported at the
    /// entry; in 2.1 it is held to the dictionary rules as well.
    #[inline]
    fn dict_entries(
        &self,
        k: &'s str,
        ok: impl Fn(&str, &Json<'_>) -> bool,
        reason: &'static str,
        ctx: &mut Ctx,
    ) {
        let Some(v) = self.get(k) else { return };
        let here = self.path(k);
        if ctx.v21() {
            dictionary(v, &here, ctx);
        }
        match v.as_object() {
            Some(o) => {
                for (key, x) in o.iter() {
                    if !ok(key, x) {
                        ctx.error(&here.key(key), reason, x);
                    }
                }
            }
            // In 2.1, `dictionary` has said so already.
            None if ctx.v21() => {}
            None => ctx.error(&here, "Must be a dictionary", v),
        }
    }
    /// A list of objects, each checked by `each` (told whether the record is 2.1) at its index;
    /// `min` is 1 where the schema says `minItems: 1`.
    #[inline]
    fn objects(&self, k: &'s str, min: usize, each: ObjectCheck, ctx: &mut Ctx) {
        let Some(v) = self.get(k) else { return };
        let here = self.path(k);
        match v.as_array() {
            Some(items) if items.len() >= min => {
                for (i, item) in items.iter().enumerate() {
                    let at = here.index(i);
                    match item.as_object() {
                        Some(obj) => each(&Sco { obj, at: Some(&at) }, ctx.v21(), ctx),
                        None => ctx.error(&at, "Must be an object", item),
                    }
                }
            }
            _ if min == 0 => ctx.error(&here, "Must be a list", v),
            _ => ctx.error(&here, "Must be a non-empty list", v),
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
    let Some(o) = dictionary_at(v, at, "Must be a dictionary", ctx.v21(), ctx) else {
        return;
    };
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

/// The check of an object inside an SCO (a predefined extension, or an item of a list of
/// objects): its properties, whether the record is 2.1, and the record's state.
type ObjectCheck = fn(&Sco<'_, '_, '_>, bool, &mut Ctx);

/// An object's `extensions` dictionary: the extensions dictionaries of file, network-traffic,
/// process and user-account give each predefined extension (`known`) a schema, and hold any
/// other extension to the dictionary rules.
fn extensions_dict(s: &Sco<'_, '_, '_>, ctx: &mut Ctx, known: &[(&str, ObjectCheck)]) {
    let Some(v) = s.get("extensions") else { return };
    let here = s.path("extensions");
    let what = "Must be a dictionary of extensions";
    let Some(o) = dictionary_at(v, &here, what, ctx.v21(), ctx) else {
        return;
    };
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

/// Checks an SCO's own properties. `at` is `None` for a top-level record and the object's path
/// inside an observed-data `objects` dictionary otherwise.
pub(crate) fn check(obj: &Object<'_>, ty: &str, at: Option<&Path<'_>>, ctx: &mut Ctx) {
    let s = Sco { obj, at };
    let v21 = ctx.v21();
    match ty {
        "artifact" => basic::artifact(&s, v21, ctx),
        "autonomous-system" => basic::autonomous_system(&s, v21, ctx),
        "directory" => basic::directory(&s, v21, ctx),
        "domain-name" => basic::domain_name(&s, v21, ctx),
        "email-addr" => basic::email_addr(&s, v21, ctx),
        "email-message" => basic::email_message(&s, v21, ctx),
        "file" => file::file(&s, v21, ctx),
        "ipv4-addr" => basic::ip_addr(&s, true, v21, ctx),
        "ipv6-addr" => basic::ip_addr(&s, false, v21, ctx),
        "mac-addr" => basic::mac_addr(&s, v21, ctx),
        "mutex" => basic::mutex(&s, v21, ctx),
        "network-traffic" => network::network_traffic(&s, v21, ctx),
        "process" => host::process(&s, v21, ctx),
        "software" => basic::software(&s, v21, ctx),
        "url" => basic::url(&s, v21, ctx),
        "user-account" => host::user_account(&s, v21, ctx),
        "windows-registry-key" => host::registry_key(&s, v21, ctx),
        "x509-certificate" => basic::x509(&s, v21, ctx),
        _ => {
            if formats::custom_type_collides(ty) && at.is_some() {
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
