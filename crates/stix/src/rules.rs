//! The rule engine: property tables and the generic checker that walks them.
//!
//! Each STIX type is described by data, a [`TypeDef`] listing its properties and their
//! [`Ty`]pes, plus at most one function for rules that relate properties to each other
//! (`valid_until` after `valid_from`). One checker walks any table, so that every type gets the
//! same treatment of missing properties, wrong JSON types, empty lists and so on, and so that a
//! record's problems are all reported, not just the first.
//!
//! Messages are built only when a rule fails; a valid record allocates nothing here.

use crate::diag::Diagnostic;
use crate::id::StixId;
use crate::json::{Json, Object};
use crate::timestamp::Timestamp;
use crate::{Profile, SpecVersion};
use std::fmt;

/// Where a value sits in a record, for messages: `external_references[0].source_name`.
#[derive(Clone, Copy)]
pub(crate) enum Path<'p> {
    Root(&'p str),
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl<'p> Path<'p> {
    pub(crate) fn key(&'p self, k: &'p str) -> Path<'p> {
        Path::Key(self, k)
    }
    pub(crate) fn index(&'p self, i: usize) -> Path<'p> {
        Path::Index(self, i)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(k) => f.write_str(k),
            Path::Key(p, k) => write!(f, "{p}.{k}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

/// The state of one record's check: the profile, the version it is read as, and the problems
/// found so far.
pub(crate) struct Ctx {
    pub profile: Profile,
    pub version: SpecVersion,
    pub errors: Vec<Diagnostic>,
}

impl Ctx {
    pub(crate) fn strict(&self) -> bool {
        self.profile == Profile::Strict
    }

    pub(crate) fn v21(&self) -> bool {
        self.version == SpecVersion::V21
    }

    pub(crate) fn error(&mut self, path: &Path<'_>, reason: impl Into<String>, actual: &Json<'_>) {
        self.errors.push(Diagnostic::new(
            path.to_string(),
            reason,
            actual.display_value(),
        ));
    }

    pub(crate) fn missing(&mut self, path: &Path<'_>) {
        self.errors.push(Diagnostic::missing(path.to_string()));
    }
}

/// Whether a property must be present.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Req {
    /// Optional.
    No,
    /// Required in both profiles: without it the record cannot be stored meaningfully.
    Yes,
    /// Required by STIX, but the compatible profile lets it be absent.
    Strict,
}

/// The type of a property's value.
pub(crate) enum Ty {
    Any,
    Str,
    Bool,
    /// An integer within bounds. The compatible profile also accepts a string holding one
    /// (`"confidence": "95"` in the seed's own example).
    Int {
        min: i64,
        max: i64,
    },
    /// Any JSON number within bounds.
    Float {
        min: f64,
        max: f64,
    },
    Timestamp,
    /// An identifier, optionally restricted to some object types (empty = any type).
    Ref(&'static [&'static str]),
    /// An identifier of any type except the listed ones.
    RefNot(&'static [&'static str]),
    /// A string with a format checked by a function; the text is the reason given when the
    /// check fails.
    Fmt(fn(&str) -> bool, &'static str),
    /// A list; STIX forbids empty lists, which only the strict profile enforces.
    List(&'static Ty),
    /// A closed vocabulary (an enumeration): any other value is an error.
    Enum(&'static [&'static str]),
    /// An open vocabulary: any string, the listed values being the suggested ones. The values
    /// document the table; STIX only says SHOULD, so no profile enforces them.
    Ov(#[allow(dead_code)] &'static [&'static str]),
    /// A dictionary with free keys.
    Dict,
    /// A hashes dictionary: algorithm name → hash value.
    Hashes,
    /// A nested object with its own properties; unknown members are allowed.
    Obj(&'static [Prop]),
    /// An RFC 5646 language tag; the compatible profile accepts an empty string.
    Lang,
}

/// One property of a type.
pub(crate) struct Prop {
    pub name: &'static str,
    pub ty: &'static Ty,
    pub req: Req,
}

pub(crate) const fn p(name: &'static str, ty: &'static Ty) -> Prop {
    Prop {
        name,
        ty,
        req: Req::No,
    }
}

pub(crate) const fn r(name: &'static str, ty: &'static Ty) -> Prop {
    Prop {
        name,
        ty,
        req: Req::Yes,
    }
}

// No table uses this yet: every property STIX requires is currently required in both profiles
// or checked by a type's own rule. It stays so that a table can relax one property for the
// compatible profile without touching the checker.
#[allow(dead_code)]
pub(crate) const fn rs(name: &'static str, ty: &'static Ty) -> Prop {
    Prop {
        name,
        ty,
        req: Req::Strict,
    }
}

/// A rule that relates several properties of one object.
pub(crate) type Extra = fn(&Object<'_>, &mut Ctx);

/// The description of one STIX object type.
pub(crate) struct TypeDef {
    pub name: &'static str,
    pub props: &'static [Prop],
    pub extra: Option<Extra>,
}

// Shared value types, as statics so that tables can point at them.
pub(crate) static STR: Ty = Ty::Str;
pub(crate) static BOOL: Ty = Ty::Bool;
pub(crate) static TS: Ty = Ty::Timestamp;
pub(crate) static ANY_REF: Ty = Ty::Ref(&[]);
pub(crate) static LIST_STR: Ty = Ty::List(&STR);
pub(crate) static LIST_ANY_REF: Ty = Ty::List(&ANY_REF);
pub(crate) static DICT: Ty = Ty::Dict;
pub(crate) static HASHES: Ty = Ty::Hashes;
pub(crate) static LANG: Ty = Ty::Lang;
pub(crate) static ANY: Ty = Ty::Any;
pub(crate) static CONFIDENCE: Ty = Ty::Int { min: 0, max: 100 };

/// Checks that `obj` has the required properties of `props` and that each present one has the
/// right type. Unknown members are not this function's business.
pub(crate) fn check_props(obj: &Object<'_>, props: &[Prop], at: Option<&Path<'_>>, ctx: &mut Ctx) {
    for prop in props {
        let here = match at {
            Some(parent) => Path::Key(parent, prop.name),
            None => Path::Root(prop.name),
        };
        match obj.get(prop.name) {
            Some(v) => check_value(v, prop.ty, &here, ctx),
            None => {
                if prop.req == Req::Yes || (prop.req == Req::Strict && ctx.strict()) {
                    ctx.missing(&here);
                }
            }
        }
    }
}

/// Checks one value against its type.
pub(crate) fn check_value(v: &Json<'_>, ty: &Ty, at: &Path<'_>, ctx: &mut Ctx) {
    match ty {
        Ty::Any => {}
        Ty::Str => {
            if v.as_str().is_none() {
                ctx.error(at, "Must be a string", v);
            }
        }
        Ty::Bool => {
            if v.as_bool().is_none() {
                ctx.error(at, "Must be a boolean (true or false)", v);
            }
        }
        Ty::Int { min, max } => match int_value(v, ctx.strict()) {
            Some(n) if n < *min || n > *max => {
                ctx.error(at, range_reason(*min, *max), v);
            }
            Some(_) => {}
            None => ctx.error(at, "Must be an integer", v),
        },
        Ty::Float { min, max } => match v {
            Json::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if !(f >= *min && f <= *max) {
                    ctx.error(at, format!("Must be a number between {min} and {max}"), v);
                }
            }
            _ => ctx.error(at, "Must be a number", v),
        },
        Ty::Timestamp => check_timestamp(v, at, ctx),
        Ty::Ref(types) => check_ref(v, types, at, ctx),
        Ty::RefNot(types) => {
            if let Some(s) = v.as_str() {
                let ty = s.split("--").next().unwrap_or("");
                if types.contains(&ty) {
                    ctx.error(
                        at,
                        format!("Must not reference an object of type {}", types.join(", ")),
                        v,
                    );
                    return;
                }
            }
            check_ref(v, &[], at, ctx);
        }
        Ty::Fmt(ok, reason) => match v.as_str() {
            Some(s) if ok(s) => {}
            Some(_) => ctx.error(at, *reason, v),
            None => ctx.error(at, "Must be a string", v),
        },
        Ty::List(item) => match v {
            Json::Array(items) => {
                if items.is_empty() && ctx.strict() {
                    ctx.error(at, "Must not be an empty list", v);
                }
                for (i, item_v) in items.iter().enumerate() {
                    check_value(item_v, item, &at.index(i), ctx);
                }
            }
            _ => ctx.error(at, "Must be a list", v),
        },
        Ty::Enum(values) => match v.as_str() {
            Some(s) if values.contains(&s) => {}
            Some(_) => ctx.error(at, format!("Must be one of: {}", values.join(", ")), v),
            None => ctx.error(at, "Must be a string", v),
        },
        Ty::Ov(_) => {
            if v.as_str().is_none() {
                ctx.error(at, "Must be a string", v);
            }
        }
        Ty::Dict => match v.as_object() {
            Some(o) => {
                if o.is_empty() && ctx.strict() {
                    ctx.error(at, "Must not be an empty dictionary", v);
                }
            }
            None => ctx.error(at, "Must be a dictionary (JSON object)", v),
        },
        Ty::Hashes => crate::hashes::check_hashes(v, at, ctx),
        Ty::Obj(props) => match v.as_object() {
            Some(o) => check_props(o, props, Some(at), ctx),
            None => ctx.error(at, "Must be an object", v),
        },
        Ty::Lang => match v.as_str() {
            Some("") if !ctx.strict() => {}
            Some(s) if is_language_tag(s) => {}
            Some(_) => ctx.error(at, "Must be an RFC 5646 language code such as 'en'", v),
            None => ctx.error(at, "Must be a string", v),
        },
    }
}

fn range_reason(min: i64, max: i64) -> String {
    if max == i64::MAX {
        format!("Must be an integer of at least {min}")
    } else {
        format!("Must be an integer between {min} and {max}")
    }
}

/// An integer as JSON writes it; in the compatible profile also a string of digits or a float
/// with no fraction, which some producers send.
pub(crate) fn int_value(v: &Json<'_>, strict: bool) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (!strict && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
        }),
        Json::String(s) if !strict => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// Parses a timestamp with the profile's rules, reporting a problem if there is one.
pub(crate) fn timestamp_of(v: &Json<'_>, at: &Path<'_>, ctx: &mut Ctx) -> Option<Timestamp> {
    let Some(s) = v.as_str() else {
        ctx.error(at, "Must be a timestamp string", v);
        return None;
    };
    let parsed = if ctx.strict() {
        Timestamp::parse(s)
    } else {
        Timestamp::parse_lenient(s)
    };
    match parsed {
        // The reference validator parses timestamps with a library that has no leap seconds.
        Ok(_) if ctx.strict() && s.get(17..19) == Some("60") => {
            ctx.error(at, "Timestamp second must be 00 to 59", v);
            None
        }
        Ok(t) => Some(t),
        Err(e) => {
            ctx.error(at, format!("Timestamp {e}"), v);
            None
        }
    }
}

fn check_timestamp(v: &Json<'_>, at: &Path<'_>, ctx: &mut Ctx) {
    timestamp_of(v, at, ctx);
}

/// Checks an identifier and, when `types` is not empty, the type it points to.
pub(crate) fn check_ref(v: &Json<'_>, types: &[&str], at: &Path<'_>, ctx: &mut Ctx) {
    let Some(s) = v.as_str() else {
        ctx.error(at, "Must be a STIX identifier string", v);
        return;
    };
    match StixId::parse(s) {
        Ok(id) => {
            if !types.is_empty() && !types.contains(&id.object_type()) {
                ctx.error(
                    at,
                    format!("Must reference an object of type {}", types.join(" or ")),
                    v,
                );
            } else if ctx.strict() && !uuid_allowed(&id, ctx.version) {
                ctx.error(at, uuid_reason(ctx.version), v);
            }
        }
        Err(e) => ctx.error(at, format!("Identifier {e}"), v),
    }
}

/// STIX 2.1 identifiers use RFC 4122 UUIDs (versions 1–5, RFC 4122 variant).
pub(crate) fn uuid_is_rfc4122(id: &StixId) -> bool {
    (1..=5).contains(&id.uuid_version()) && id.is_rfc4122_variant()
}

/// The UUIDs the reference validator's identifier schema accepts: RFC 4122 versions 1–5 in
/// STIX 2.1, version 4 only in STIX 2.0. Its type part must also start with a letter in 2.1
/// (a digit is allowed in 2.0).
pub(crate) fn uuid_allowed(id: &StixId, version: SpecVersion) -> bool {
    let first = id.object_type().as_bytes()[0];
    match version {
        SpecVersion::V21 => uuid_is_rfc4122(id) && first.is_ascii_lowercase(),
        SpecVersion::V20 => id.uuid_version() == 4 && id.is_rfc4122_variant(),
    }
}

pub(crate) fn uuid_reason(version: SpecVersion) -> &'static str {
    match version {
        SpecVersion::V21 => "UUID part must be an RFC 4122 UUID (version 1 to 5)",
        SpecVersion::V20 => "UUID part must be a version 4 RFC 4122 UUID in STIX 2.0",
    }
}

/// A permissive RFC 5646 check: primary subtag of 2–3 (or 4–8) letters, then subtags of 1–8
/// alphanumerics separated by hyphens.
pub(crate) fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    (2..=8).contains(&first.len())
        && first.bytes().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_alphanumeric()))
}
