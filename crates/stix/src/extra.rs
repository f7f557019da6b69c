//! Rules that relate several properties of one object, one function per type that needs them.

use crate::json::Json;
use crate::rules::{Ctx, Fields, Path};
use crate::timestamp::Timestamp;
use stix_pattern::{Options as PatternOptions, SpecVersion};

/// Reads a timestamp property for a cross-property rule without reporting it again (the
/// property table has already reported a malformed one).
fn ts(obj: &Fields<'_, '_>, key: &str, ctx: &Ctx) -> Option<Timestamp> {
    let v = obj.get(key)?;
    if let Some(t) = ctx.parsed(v) {
        return Some(t);
    }
    Timestamp::parse_lenient(v.as_str()?).ok()
}

/// `later` must not be before `earlier` (or, with `strictly`, must be after it).
fn order(obj: &Fields<'_, '_>, earlier: &str, later: &str, strictly: bool, ctx: &mut Ctx) {
    if let (Some(a), Some(b)) = (ts(obj, earlier, ctx), ts(obj, later, ctx)) {
        let bad = if strictly { b <= a } else { b < a };
        if bad {
            let rel = if strictly {
                "later than"
            } else {
                "later than or equal to"
            };
            let v = obj.get(later).expect("present: parsed above");
            ctx.error(
                &Path::Root(later),
                format!("Must be {rel} {earlier} ({})", a),
                v,
            );
        }
    }
}

/// Reports `rule`, a rule about which properties are present, at `property`: no one value breaks
/// it, so the message shows null as the value.
fn presence_error(property: &'static str, rule: &'static str, ctx: &mut Ctx) {
    ctx.error(&Path::Root(property), rule, &Json::Null);
}

pub(crate) fn first_last_seen(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    order(obj, "first_seen", "last_seen", false, ctx);
}

pub(crate) fn indicator(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    order(obj, "valid_from", "valid_until", true, ctx);
    let pattern_type = obj.get("pattern_type").and_then(|v| v.as_str());
    // A 2.0 indicator has no pattern_type and its pattern is always STIX patterning.
    let is_stix = pattern_type.is_none_or(|t| t == "stix");
    if let (true, Some(v)) = (is_stix, obj.get("pattern")) {
        if let Some(src) = v.as_str() {
            let opts = PatternOptions {
                profile: ctx.profile,
                version: if ctx.v21() {
                    SpecVersion::V21
                } else {
                    SpecVersion::V20
                },
            };
            match stix_pattern::validate(src, opts) {
                Ok(pattern) => {
                    if let Some(out) = &mut ctx.observables {
                        out.extend(pattern.observables().into_iter().map(|o| {
                            crate::validate::PatternObservable {
                                object_type: o.object_type.to_owned(),
                                value: o.value.as_str().map(str::to_owned),
                                path: o.path,
                                operator: o.operator,
                                negated: o.negated,
                            }
                        }));
                    }
                }
                Err(errors) => {
                    for e in errors {
                        ctx.error(
                            &Path::Root("pattern"),
                            format!("Invalid STIX pattern {e}"),
                            v,
                        );
                    }
                }
            }
        }
    }
}

pub(crate) fn malware(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    first_last_seen(obj, ctx);
    if obj.get("is_family").and_then(|v| v.as_bool()) == Some(true) && !obj.contains_key("name") {
        ctx.missing(&Path::Root("name"));
    }
}

pub(crate) fn malware_analysis(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    if !obj.contains_key("result") && !obj.contains_key("analysis_sco_refs") {
        presence_error(
            "result",
            "One of result or analysis_sco_refs must be present",
            ctx,
        );
    }
}

pub(crate) fn location(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    let has = |k| obj.contains_key(k);
    if !(has("region") || has("country") || (has("latitude") && has("longitude"))) {
        presence_error(
            "region",
            "One of region, country, or latitude and longitude must be present",
            ctx,
        );
    }
    if has("latitude") != has("longitude") {
        let (k, missing) = if has("latitude") {
            ("latitude", "longitude")
        } else {
            ("longitude", "latitude")
        };
        let v = obj.get(k).expect("present");
        ctx.error(
            &Path::Root(missing),
            format!("Must be present when {k} is present"),
            v,
        );
    }
    if has("precision") && !has("latitude") {
        let v = obj.get("precision").expect("present");
        ctx.error(
            &Path::Root("precision"),
            "Requires latitude and longitude",
            v,
        );
    }
}

pub(crate) fn observed_data(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    order(obj, "first_observed", "last_observed", false, ctx);
    let (objects, refs) = (obj.contains_key("objects"), obj.contains_key("object_refs"));
    if ctx.v21() && objects == refs {
        presence_error(
            "object_refs",
            "Exactly one of objects and object_refs must be present",
            ctx,
        );
    }
}

pub(crate) fn relationship(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    order(obj, "start_time", "stop_time", true, ctx);
}

pub(crate) fn sighting(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    order(obj, "first_seen", "last_seen", false, ctx);
}

pub(crate) fn marking_definition(obj: &Fields<'_, '_>, ctx: &mut Ctx) {
    // 2.1 allows an extension instead of definition_type/definition (TLP 2.0 does that).
    if !obj.contains_key("extensions") || !ctx.v21() {
        for k in ["definition_type", "definition"] {
            if !obj.contains_key(k) {
                ctx.missing(&Path::Root(k));
            }
        }
    }
    if let Some(refs) = obj.get("object_marking_refs").and_then(|v| v.as_array()) {
        let own = obj.get("id").and_then(|v| v.as_str());
        for (i, r) in refs.iter().enumerate() {
            if r.as_str().is_some() && r.as_str() == own {
                let root = Path::Root("object_marking_refs");
                ctx.error(
                    &root.index(i),
                    "Must not reference the marking definition itself",
                    r,
                );
            }
        }
    }
}
