//! Validation of one record: which version it is read as, the common properties, the type's own
//! table, and what the profile says about the rest.

use crate::diag::Diagnostic;
use crate::id::{is_type_name, IdRef};
use crate::json::{Json, Object};
use crate::rules::*;
use crate::{strict, types20, types21, types_sco, vocab, Profile, SpecVersion};

/// How to validate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub profile: Profile,
    /// Keep the comparisons of a valid indicator's STIX pattern in
    /// [`Report::pattern_observables`], for a caller that indexes them: validation has parsed
    /// the pattern already, and parsing it again cost an import about a tenth of its reading
    /// time. Off by default, so that validating alone allocates nothing for them.
    pub observables: bool,
}

impl Options {
    pub fn strict() -> Self {
        Options {
            profile: Profile::Strict,
            observables: false,
        }
    }
}

/// One comparison of an indicator's STIX pattern, owned (see [`Options::observables`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternObservable {
    /// The object type, e.g. `ipv4-addr`.
    pub object_type: String,
    /// The canonical property path, e.g. `value` or `hashes.'SHA-256'`.
    pub path: String,
    pub operator: stix_pattern::ComparisonOperator,
    /// Whether `NOT` was written before the operator.
    pub negated: bool,
    /// The value compared with, when it is a string.
    pub value: Option<String>,
}

/// The verdict on one record: every problem found, and the version it was read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub errors: Vec<Diagnostic>,
    /// The STIX version the record was read as.
    pub version: SpecVersion,
    /// True when the record had no `spec_version`, was not valid as 2.1, and was read as 2.0
    /// (it is stored with normalized 2.1 fields).
    pub upgraded_from_20: bool,
    /// With [`Options::observables`], the comparisons of a valid indicator's STIX pattern, in
    /// pattern order; otherwise empty.
    pub pattern_observables: Vec<PatternObservable>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// The messages, in the upload API's wording.
    pub fn messages(&self) -> Vec<String> {
        self.errors.iter().map(|d| d.to_string()).collect()
    }
}

/// Validates one record.
///
/// `container_version` is the version a bundle declares for its members (`"spec_version":
/// "2.0"` on a 2.0 bundle); `None` for a plain array or an upload body.
pub fn validate(
    record: &Json<'_>,
    opts: Options,
    container_version: Option<SpecVersion>,
) -> Report {
    let Some(obj) = record.as_object() else {
        return Report {
            errors: vec![Diagnostic::new(
                "record",
                format!("Must be a JSON object, not {}", record.kind_name()),
                record.display_value(),
            )],
            version: SpecVersion::V21,
            upgraded_from_20: false,
            pattern_observables: Vec::new(),
        };
    };
    let declared = obj.get("spec_version");
    let version = match declared.and_then(|v| v.as_str()) {
        Some("2.1") => Some(SpecVersion::V21),
        Some("2.0") => Some(SpecVersion::V20),
        _ => container_version,
    };
    let report = |(errors, pattern_observables), version, upgraded_from_20| Report {
        errors,
        version,
        upgraded_from_20,
        pattern_observables,
    };
    if let Some(version) = version {
        return report(check(obj, opts, version), version, false);
    }
    // No usable version: STIX says 2.1, but a record that is only valid as 2.0 is a 2.0 record
    // from a producer that never wrote spec_version (2.0 objects have none).
    let as21 = check(obj, opts, SpecVersion::V21);
    // The strict profile reads an unversioned record as 2.1 only, as the reference validator
    // does; reading it as 2.0 is the compatible profile's courtesy to old feeds.
    if as21.0.is_empty() || declared.is_some() || opts.profile == Profile::Strict {
        return report(as21, SpecVersion::V21, false);
    }
    let as20 = check(obj, opts, SpecVersion::V20);
    if as20.0.is_empty() {
        report(as20, SpecVersion::V20, true)
    } else {
        report(as21, SpecVersion::V21, false)
    }
}

/// The kind of object a type name denotes, which decides its common properties.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Category {
    /// Domain, relationship and meta objects other than marking definitions: versioned with
    /// `created` and `modified`.
    Versioned,
    /// Marking definitions: `created` only, never versioned.
    Marking,
    /// Cyber-observable objects: no `created`/`modified`.
    Observable,
    /// Bundles inside a record are refused: a bundle is a container, not a record.
    Bundle,
}

fn category(ty: &str, obj: &Fields<'_, '_>, version: SpecVersion) -> Category {
    match ty {
        "marking-definition" => Category::Marking,
        "bundle" => Category::Bundle,
        t if vocab::SCO_TYPES.contains(&t) => Category::Observable,
        // A 2.1 object of a type STIX does not define, with neither created nor modified, is a
        // custom cyber-observable (the reference validator checks it against
        // cyber-observable-core.json).
        t if version == SpecVersion::V21
            && !types21::TYPES.iter().any(|d| d.name == t)
            && !obj.contains_key("created")
            && !obj.contains_key("modified") =>
        {
            Category::Observable
        }
        _ => Category::Versioned,
    }
}

/// Whether `ty` names a type the version defines, whose id must then start with it.
fn is_known_type(ty: &str, version: SpecVersion) -> bool {
    let table = match version {
        SpecVersion::V21 => types21::TYPES,
        SpecVersion::V20 => types20::TYPES,
    };
    table.iter().any(|d| d.name == ty) || vocab::SCO_TYPES.contains(&ty)
}

static SPEC_VERSION: Ty = Ty::Enum(&["2.1"]);
static MARKING_REF: Ty = Ty::Ref(&["marking-definition"]);
static MARKING_REFS: Ty = Ty::List(&MARKING_REF);
static EXTERNAL_REFERENCE: Ty = Ty::Obj(&[
    r("source_name", &STR),
    p("description", &STR),
    p("url", &STR),
    p("hashes", &HASHES),
    p("external_id", &STR),
]);
static EXTERNAL_REFERENCES: Ty = Ty::List(&EXTERNAL_REFERENCE);
static GRANULAR_MARKING: Ty = Ty::Obj(&[
    p("lang", &LANG),
    p("marking_ref", &MARKING_REF),
    r("selectors", &LIST_STR),
]);
static GRANULAR_MARKINGS: Ty = Ty::List(&GRANULAR_MARKING);
// STIX says created_by_ref points to an identity, but neither the reference validator nor
// real producers hold to it, so any identifier is accepted.
static CREATED_BY_REF: Ty = Ty::Ref(&[]);

/// Common properties of versioned objects, beyond id/type/created/modified.
static COMMON_VERSIONED: Table = table(&[
    p("created_by_ref", &CREATED_BY_REF),
    p("revoked", &BOOL),
    p("labels", &LIST_STR),
    p("confidence", &CONFIDENCE),
    p("lang", &LANG),
    p("external_references", &EXTERNAL_REFERENCES),
    p("object_marking_refs", &MARKING_REFS),
    p("granular_markings", &GRANULAR_MARKINGS),
    p("extensions", &DICT),
]);

static COMMON_MARKING: Table = table(&[
    p("created_by_ref", &CREATED_BY_REF),
    p("external_references", &EXTERNAL_REFERENCES),
    p("object_marking_refs", &MARKING_REFS),
    p("granular_markings", &GRANULAR_MARKINGS),
    p("extensions", &DICT),
]);

static COMMON_OBSERVABLE: Table = table(&[
    p("object_marking_refs", &MARKING_REFS),
    p("granular_markings", &GRANULAR_MARKINGS),
    p("defanged", &BOOL),
    p("extensions", &DICT),
]);

/// Every problem of `obj` read as `version` under `profile`.
/// The problems of `obj` read as `version`, and the observables [`Options::observables`] asks
/// for (only when there are no problems).
fn check(
    obj: &Object<'_>,
    opts: Options,
    version: SpecVersion,
) -> (Vec<Diagnostic>, Vec<PatternObservable>) {
    let mut ctx = Ctx {
        profile: opts.profile,
        version,
        errors: Vec::new(),
        parsed: [None; 4],
        parsed_count: 0,
        observables: opts.observables.then(Vec::new),
    };
    let mut fields = Fields::new(obj);
    let obj = &mut fields;
    let ty = check_type(obj, &mut ctx);
    let def = ty.and_then(|ty| {
        let table = match version {
            SpecVersion::V21 => types21::TYPES,
            SpecVersion::V20 => types20::TYPES,
        };
        table.iter().find(|d| d.name == ty)
    });
    if let Some(def) = def {
        obj.find_own(def.props);
    }
    let obj = &*obj;
    let category = match (ty, def) {
        // A type with a table is a domain, relationship or meta object of the version.
        (Some(t), Some(_)) if t != "marking-definition" => Category::Versioned,
        (Some(t), _) => category(t, obj, version),
        (None, _) => Category::Versioned,
    };
    check_id(obj, ty, &mut ctx);
    check_spec_version(obj, category, &mut ctx);
    match category {
        Category::Versioned => {
            let created = required_timestamp(obj, "created", &mut ctx);
            let modified = required_timestamp(obj, "modified", &mut ctx);
            if let (Some(c), Some(m)) = (created, modified) {
                if m < c {
                    let v = obj.get("modified").expect("parsed above");
                    ctx.error(
                        &Path::Root("modified"),
                        format!("Must be later than or equal to created ({c})"),
                        v,
                    );
                }
            }
            obj.check_common(&COMMON_VERSIONED, &mut ctx);
        }
        Category::Marking => {
            required_timestamp(obj, "created", &mut ctx);
            obj.check_common(&COMMON_MARKING, &mut ctx);
        }
        Category::Observable => {
            obj.check_common(&COMMON_OBSERVABLE, &mut ctx);
        }
        Category::Bundle => {
            let v = obj.get("type").expect("type was read");
            ctx.error(
                &Path::Root("type"),
                "A bundle cannot be a record; send its objects instead",
                v,
            );
        }
    }
    if let Some(def) = def {
        obj.check_own(&mut ctx);
        if let Some(extra) = def.extra {
            extra(obj, &mut ctx);
        }
    }
    if ctx.strict() {
        let core = match category {
            Category::Observable => strict::Core::Observable,
            Category::Marking => strict::Core::Marking,
            Category::Versioned | Category::Bundle => strict::Core::Object,
        };
        strict::check(obj, ty, core, &mut ctx);
        if let Some(ty) = ty {
            if category == Category::Observable && ctx.v21() {
                types_sco::check(obj.obj, ty, None, &mut ctx);
            }
            if ty == "observed-data" {
                if let Some(objects) = obj.get("objects") {
                    types_sco::observed_data_objects(objects, &mut ctx);
                }
            }
        }
    }
    let observables = match ctx.observables {
        Some(o) if ctx.errors.is_empty() => o,
        _ => Vec::new(),
    };
    (ctx.errors, observables)
}

fn check_type<'o>(obj: &Fields<'o, '_>, ctx: &mut Ctx) -> Option<&'o str> {
    let Some(v) = obj.get("type") else {
        ctx.missing(&Path::Root("type"));
        return None;
    };
    let Some(ty) = v.as_str() else {
        ctx.error(&Path::Root("type"), "Must be a string", v);
        return None;
    };
    let ok = if ctx.strict() {
        strict_type_name(ty, ctx.version)
    } else {
        is_type_name(ty)
    };
    if !ok {
        ctx.error(
            &Path::Root("type"),
            "Must be 3 to 250 characters of lowercase letters, digits and hyphens",
            v,
        );
        return None;
    }
    Some(ty)
}

/// The type-name patterns of the reference validator's core schemas: 2.1
/// `^([a-z][a-z0-9]*)+(-[a-z0-9]+)*\-?$`, 2.0 `^\-?[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*\-?$`, 3 to 250
/// characters; `action` is reserved, and 2.0 has no incident or infrastructure.
fn strict_type_name(ty: &str, version: SpecVersion) -> bool {
    let b = ty.as_bytes();
    if !(3..=250).contains(&b.len()) || ty == "action" {
        return false;
    }
    let body = match version {
        SpecVersion::V21 => ty,
        SpecVersion::V20 => ty.strip_prefix('-').unwrap_or(ty),
    };
    let body = body.strip_suffix('-').unwrap_or(body);
    let segment_ok = |p: &str| {
        !p.is_empty()
            && p.bytes().all(|c| match version {
                SpecVersion::V21 => c.is_ascii_lowercase() || c.is_ascii_digit(),
                SpecVersion::V20 => c.is_ascii_alphanumeric(),
            })
    };
    let first_ok = match version {
        SpecVersion::V21 => body
            .as_bytes()
            .first()
            .is_some_and(|c| c.is_ascii_lowercase()),
        SpecVersion::V20 => !matches!(ty, "incident" | "infrastructure"),
    };
    first_ok && body.split('-').all(segment_ok)
}

fn check_id(obj: &Fields<'_, '_>, ty: Option<&str>, ctx: &mut Ctx) {
    let Some(v) = obj.get("id") else {
        ctx.missing(&Path::Root("id"));
        return;
    };
    let Some(s) = v.as_str() else {
        ctx.error(&Path::Root("id"), "Must be a string", v);
        return;
    };
    match IdRef::parse(s) {
        Ok(id) => {
            // The strict profile, like the reference validator, ties the id to the type only
            // for types STIX defines.
            let tied = ty.filter(|t| !ctx.strict() || is_known_type(t, ctx.version));
            if let Some(ty) = tied {
                if id.object_type() != ty {
                    ctx.error(
                        &Path::Root("id"),
                        format!("Must start with '{ty}--', the object's type"),
                        v,
                    );
                    return;
                }
            }
            if ctx.strict() && !uuid_allowed(&id, ctx.version) {
                ctx.error(&Path::Root("id"), uuid_reason(ctx.version), v);
            }
        }
        Err(e) => ctx.error(&Path::Root("id"), format!("Identifier {e}"), v),
    }
}

fn check_spec_version(obj: &Fields<'_, '_>, category: Category, ctx: &mut Ctx) {
    match (obj.get("spec_version"), ctx.version) {
        (Some(v), SpecVersion::V21) => {
            check_value(v, &SPEC_VERSION, &Path::Root("spec_version"), ctx)
        }
        (None, SpecVersion::V21)
            if ctx.strict() && matches!(category, Category::Versioned | Category::Marking) =>
        {
            ctx.missing(&Path::Root("spec_version"));
        }
        (Some(v), SpecVersion::V20) if v.as_str() != Some("2.0") => {
            ctx.error(
                &Path::Root("spec_version"),
                "Must be 2.0 for a STIX 2.0 object",
                v,
            );
        }
        _ => {}
    }
}

fn required_timestamp(
    obj: &Fields<'_, '_>,
    key: &'static str,
    ctx: &mut Ctx,
) -> Option<crate::Timestamp> {
    match obj.get(key) {
        Some(v) => timestamp_of(v, &Path::Root(key), ctx),
        None => {
            ctx.missing(&Path::Root(key));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `check` takes a type with a table for a versioned object without asking `category`.
    #[test]
    fn typed_tables_are_neither_observables_nor_bundles() {
        for version in [SpecVersion::V21, SpecVersion::V20] {
            let table = match version {
                SpecVersion::V21 => types21::TYPES,
                SpecVersion::V20 => types20::TYPES,
            };
            for d in table {
                let obj = Object::default();
                let fields = Fields::new(&obj);
                let expected = if d.name == "marking-definition" {
                    Category::Marking
                } else {
                    Category::Versioned
                };
                assert!(category(d.name, &fields, version) == expected, "{}", d.name);
            }
        }
    }
}
