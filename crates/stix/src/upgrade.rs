//! Stored objects as valid STIX 2.1, for exports and the API's answers.
//!
//! # Key decision: upgrade when answering, keep what was sent
//!
//! A record read as STIX 2.0 is stored as its producer sent it, plus the few members 2.1
//! requires ([`crate::normalized_21_members`]), which is what our compatible profile needs.
//! A 2.1 consumer checks more: a stored 2.0 object still has 2.0's `labels` where 2.1 has
//! `indicator_types`, `malware_types`, …; timestamps without milliseconds; TLP markings
//! without the `name` 2.1 gives them; observed data whose embedded observables have no `id`.
//! An export, or an object answered over the API, is therefore upgraded as it goes out, by the
//! changes STIX 2.1 made to each type (its section on changes from 2.0), while what was stored
//! stays the producer's text, available as it is (`export --original`, `…/versions`).
//!
//! The upgrade also writes every identifier's own `id` in canonical form (its UUID in lower
//! case, see [`crate::StixId`]), so that an object is named the same way whoever sent it.
//!
//! Objects that need nothing (2.1, canonical id: nearly all) are not parsed here at all: the
//! caller decides with [`needs_upgrade`] and passes the stored text through.

use serde_json::{Map, Value};

/// Whether the stored text of an object needs [`upgrade`] to be valid STIX 2.1: it was read as
/// 2.0 (`stored_version`), it does not state `"spec_version":"2.1"`, or its `id` member is not
/// written as `canonical_id`.
pub fn needs_upgrade(json: &str, stored_version: &str, canonical_id: &str) -> bool {
    if stored_version != "2.1" || !json.contains("\"spec_version\":\"2.1\"") {
        return true;
    }
    // Stored text is compact JSON, so the canonical member reads exactly so.
    let mut member = String::with_capacity(canonical_id.len() + 8);
    member.push_str("\"id\":\"");
    member.push_str(canonical_id);
    member.push('"');
    !json.contains(&member)
}

/// The object `json` (a stored object's text) as a STIX 2.1 object. `was_20` says the record
/// was read as STIX 2.0 (the store's `spec_version` of it): its 2.0 shapes are then changed
/// into 2.1's, and the result checked with the strict profile (what stix2-validator accepts).
/// [`Upgraded::Invalid`] is an object no change we know makes valid; text that is not a JSON
/// object is returned as it is.
pub fn upgrade(json: &str, was_20: bool) -> Upgraded {
    let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(json) else {
        return Upgraded::Valid(json.to_owned());
    };
    upgrade_object(&mut obj, was_20);
    if !was_20 {
        return Upgraded::Valid(Value::Object(obj).to_string());
    }
    let text = Value::Object(obj).to_string();
    if valid_21(&text) {
        return Upgraded::Valid(text);
    }
    // Observed data whose embedded 2.0 observables have no valid 2.1 form (a custom extension
    // 2.1 has no name for, an extension 2.1 shaped otherwise): its observables are kept whole
    // under a custom property, and the object refers to them by the ids they were given.
    let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(&text) else {
        return Upgraded::Invalid(text);
    };
    if obj.get("type").and_then(Value::as_str) == Some("observed-data") {
        if let Some(Value::Object(objects)) = obj.remove("objects") {
            let refs: Vec<Value> = objects
                .values()
                .filter_map(|o| o.get("id").cloned())
                .collect();
            obj.insert("object_refs".into(), Value::Array(refs));
            obj.insert("x_stix20_objects".into(), Value::Object(objects));
            // Granular markings that selected parts of the observables follow them.
            if let Some(Value::Array(markings)) = obj.get_mut("granular_markings") {
                for m in markings.iter_mut() {
                    if let Some(Value::Array(selectors)) = m.get_mut("selectors") {
                        for sel in selectors.iter_mut() {
                            if let Some(rest) = sel.as_str().and_then(|t| {
                                (t == "objects")
                                    .then_some("")
                                    .or_else(|| t.strip_prefix("objects."))
                            }) {
                                let moved = if rest.is_empty() {
                                    "x_stix20_objects".to_owned()
                                } else {
                                    format!("x_stix20_objects.{rest}")
                                };
                                *sel = Value::String(moved);
                            }
                        }
                    }
                }
            }
            let text = Value::Object(obj).to_string();
            if valid_21(&text) {
                return Upgraded::Valid(text);
            }
            return Upgraded::Invalid(text);
        }
    }
    Upgraded::Invalid(text)
}

/// What [`upgrade`] made of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgraded {
    /// Valid STIX 2.1 (or, for a 2.1 object, its id made canonical).
    Valid(String),
    /// A 2.0 object that is still not valid STIX 2.1 after every change we know: the best we
    /// could do, which a caller that promises valid 2.1 leaves out.
    Invalid(String),
}

impl Upgraded {
    pub fn into_text(self) -> String {
        match self {
            Upgraded::Valid(t) | Upgraded::Invalid(t) => t,
        }
    }
}

/// Whether `text` is a valid STIX 2.1 object in the strict profile.
fn valid_21(text: &str) -> bool {
    crate::Json::parse(text).is_ok_and(|j| {
        crate::validate(&j, crate::Options::strict(), Some(crate::SpecVersion::V21)).is_valid()
    })
}

fn upgrade_object(obj: &mut Map<String, Value>, was_20: bool) {
    canonical_id(obj);
    if !was_20 {
        // Read as 2.1 without saying so (the compatible profile lets that pass): say so.
        obj.entry("spec_version").or_insert_with(|| "2.1".into());
        return;
    }
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    // Every SDO, SRO and marking definition states its version in 2.1; a 2.0 object that
    // named its version (or took its bundle's) named 2.0.
    obj.insert("spec_version".into(), Value::from("2.1"));
    for key in ["created", "modified"] {
        millisecond_precision(obj, key);
    }
    // 2.0's `labels` were each type's vocabulary; 2.1 moved them to `<type>_types` and made
    // `labels` a free tag list.
    let types_member = match ty.as_str() {
        "indicator" => Some("indicator_types"),
        "malware" => Some("malware_types"),
        "tool" => Some("tool_types"),
        "report" => Some("report_types"),
        "threat-actor" => Some("threat_actor_types"),
        _ => None,
    };
    if let Some(member) = types_member {
        if !obj.contains_key(member) {
            if let Some(labels) = obj.remove("labels") {
                obj.insert(member.into(), labels);
            }
        }
    }
    match ty.as_str() {
        "indicator" => {
            obj.entry("pattern_type").or_insert_with(|| "stix".into());
        }
        "malware" => {
            // 2.0 malware objects name families in practice (MITRE ATT&CK's software).
            obj.entry("is_family").or_insert(Value::Bool(true));
        }
        "marking-definition" => tlp_name(obj),
        "observed-data" => embedded_ids(obj),
        _ => {}
    }
}

/// The object's own `id`, with its UUID in lower case.
fn canonical_id(obj: &mut Map<String, Value>) {
    if let Some(Value::String(id)) = obj.get_mut("id") {
        if let Ok(canonical) = crate::StixId::parse(id) {
            if canonical.as_str() != id {
                *id = canonical.as_str().to_owned();
            }
        }
    }
}

/// `created` and `modified` must be precise to the millisecond in 2.1 (2.0 allowed any
/// precision): `…T08:17:27Z` becomes `…T08:17:27.000Z`, `….5Z` becomes `….500Z`.
fn millisecond_precision(obj: &mut Map<String, Value>, key: &str) {
    let Some(Value::String(t)) = obj.get_mut(key) else {
        return;
    };
    let Some(body) = t.strip_suffix('Z') else {
        return;
    };
    let (seconds, fraction) = match body.split_once('.') {
        Some((s, f)) => (s, f),
        None => (body, ""),
    };
    if fraction.len() >= 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    *t = format!("{seconds}.{fraction:0<3}Z");
}

/// The TLP 1.0 marking definitions carry a `name` in 2.1 (`TLP:WHITE`, …), which 2.1's
/// definition of them requires.
fn tlp_name(obj: &mut Map<String, Value>) {
    let name = match obj.get("id").and_then(Value::as_str) {
        Some(crate::tlp::TLP1_WHITE) => "TLP:WHITE",
        Some(crate::tlp::TLP1_GREEN) => "TLP:GREEN",
        Some(crate::tlp::TLP1_AMBER) => "TLP:AMBER",
        Some(crate::tlp::TLP1_RED) => "TLP:RED",
        _ => return,
    };
    obj.entry("name").or_insert_with(|| name.into());
}

/// Observed data's embedded observables (2.1 deprecates `objects` but reads it) each need an
/// `id` in 2.1: one derived from the observed data's id and the observable's key, so that the
/// same object always gets the same ids. References between them stay the keys 2.0 used.
fn embedded_ids(obj: &mut Map<String, Value>) {
    let Some(parent) = obj.get("id").and_then(Value::as_str).map(str::to_owned) else {
        return;
    };
    let Some(Value::Object(objects)) = obj.get_mut("objects") else {
        return;
    };
    for (key, observable) in objects.iter_mut() {
        let Value::Object(o) = observable else {
            continue;
        };
        if o.contains_key("id") {
            continue;
        }
        let Some(ty) = o.get("type").and_then(Value::as_str) else {
            continue;
        };
        let name = format!("{parent}/{key}");
        let uuid = uuid::Uuid::new_v5(&EMBEDDED_NAMESPACE, name.as_bytes());
        o.insert("id".into(), Value::from(format!("{ty}--{uuid}")));
    }
    for observable in objects.values_mut() {
        if let Value::Object(o) = observable {
            upgrade_observable(o);
        }
    }
}

/// The changes 2.1 made to cyber-observable objects that can be made without losing anything:
/// timestamps renamed (`created` of a file is its `ctime`, …), custom extensions named as 2.1
/// names them (`…-ext`), HTTP request headers as lists of values.
fn upgrade_observable(o: &mut Map<String, Value>) {
    let renames: &[(&str, &str)] = match o.get("type").and_then(Value::as_str) {
        Some("file" | "directory") => &[
            ("created", "ctime"),
            ("modified", "mtime"),
            ("accessed", "atime"),
        ],
        Some("windows-registry-key") => &[("modified", "modified_time")],
        Some("process") => &[("created", "created_time"), ("binary_ref", "image_ref")],
        _ => &[],
    };
    for (from, to) in renames {
        if !o.contains_key(*to) {
            if let Some(v) = o.remove(*from) {
                o.insert((*to).into(), v);
            }
        }
    }
    let Some(Value::Object(extensions)) = o.get_mut("extensions") else {
        return;
    };
    let names: Vec<String> = extensions.keys().cloned().collect();
    for name in names {
        if name.ends_with("-ext") || name.starts_with("extension-definition--") {
            continue;
        }
        let renamed = extension_name(&name);
        if !extensions.contains_key(&renamed) {
            let v = extensions.remove(&name).expect("listed above");
            extensions.insert(renamed, v);
        }
    }
    if let Some(Value::Object(http)) = extensions.get_mut("http-request-ext") {
        if let Some(Value::Object(headers)) = http.get_mut("request_header") {
            for v in headers.values_mut() {
                if v.is_string() {
                    *v = Value::Array(vec![v.take()]);
                }
            }
        }
    }
}

/// A 2.0 custom extension's name as 2.1 names a custom extension: lower-case letters, digits
/// and single hyphens, ending in `-ext` (`x-acme-foo` becomes `x-acme-foo-ext`).
fn extension_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || (c.is_ascii_digit() && !out.is_empty()) {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    if out.is_empty() {
        out.push('x');
    }
    if !out.ends_with('-') {
        out.push('-');
    }
    out.push_str("ext");
    out
}

/// The namespace of the ids given to 2.0 observed data's embedded observables (a UUIDv4 made
/// once for this purpose).
const EMBEDDED_NAMESPACE: uuid::Uuid = uuid::uuid!("3c5e0b3e-0f4d-4d0e-9a43-5d3f2b6f8a11");

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn up(v: Value) -> Value {
        serde_json::from_str(&upgrade(&v.to_string(), true).into_text()).unwrap()
    }

    #[test]
    fn a_2_1_object_with_a_canonical_id_needs_nothing() {
        let text = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}"#;
        assert!(!needs_upgrade(
            text,
            "2.1",
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        ));
        assert!(needs_upgrade(
            text,
            "2.0",
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        ));
        let upper = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F"}"#;
        assert!(needs_upgrade(
            upper,
            "2.1",
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        ));
        let v: Value = serde_json::from_str(&upgrade(upper, false).into_text()).unwrap();
        assert_eq!(v["id"], "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f");
    }

    #[test]
    fn labels_move_to_the_types_member_of_their_type() {
        let v = up(
            json!({"type": "malware", "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "created": "2016-05-12T08:17:27Z", "modified": "2016-05-12T08:17:27.5Z",
            "name": "x", "labels": ["remote-access-trojan"]}),
        );
        assert_eq!(v["malware_types"], json!(["remote-access-trojan"]));
        assert!(v.get("labels").is_none());
        assert_eq!(v["is_family"], true);
        assert_eq!(v["spec_version"], "2.1");
        assert_eq!(v["created"], "2016-05-12T08:17:27.000Z");
        assert_eq!(v["modified"], "2016-05-12T08:17:27.500Z");
        let v = up(
            json!({"type": "indicator", "labels": ["malicious-activity"],
            "pattern": "[x:y = 'z']", "spec_version": "2.0"}),
        );
        assert_eq!(v["indicator_types"], json!(["malicious-activity"]));
        assert_eq!(v["pattern_type"], "stix");
        assert_eq!(v["spec_version"], "2.1");
        // Other types keep `labels`, which 2.1 still has.
        let v = up(json!({"type": "campaign", "labels": ["x"]}));
        assert_eq!(v["labels"], json!(["x"]));
    }

    #[test]
    fn tlp_markings_get_their_name_and_observables_their_ids() {
        let v = up(
            json!({"type": "marking-definition", "id": crate::tlp::TLP1_AMBER,
            "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp",
            "definition": {"tlp": "amber"}}),
        );
        assert_eq!(v["name"], "TLP:AMBER");
        let od = json!({"type": "observed-data",
            "id": "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
            "created": "2016-04-06T19:58:16.000Z", "modified": "2016-04-06T19:58:16.000Z",
            "first_observed": "2015-12-21T19:00:00Z", "last_observed": "2015-12-21T19:00:00Z",
            "number_observed": 1,
            "objects": {"0": {"type": "ipv4-addr", "value": "198.51.100.3"},
                        "1": {"type": "network-traffic", "src_ref": "0", "protocols": ["tcp"]}}});
        let a = up(od.clone());
        let b = up(od);
        let id0 = a["objects"]["0"]["id"].as_str().unwrap();
        assert!(id0.starts_with("ipv4-addr--"));
        assert_eq!(a, b, "the same ids every time");
        assert_eq!(a["objects"]["1"]["src_ref"], "0");
        // One whose observable has no 2.1 form keeps it under a custom property.
        let odd = json!({"type": "observed-data",
            "id": "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
            "created": "2016-04-06T19:58:16.000Z", "modified": "2016-04-06T19:58:16.000Z",
            "first_observed": "2015-12-21T19:00:00Z", "last_observed": "2015-12-21T19:00:00Z",
            "number_observed": 1,
            "objects": {"0": {"type": "file", "name": "a.exe",
                "extensions": {"windows-pebinary-ext": {"pe_type": "exe"}}}}});
        let Upgraded::Valid(text) = upgrade(&odd.to_string(), true) else {
            panic!("the fallback is valid 2.1");
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v.get("objects").is_none());
        assert_eq!(v["x_stix20_objects"]["0"]["name"], "a.exe");
        assert_eq!(v["object_refs"][0], v["x_stix20_objects"]["0"]["id"]);
    }

    #[test]
    fn custom_extension_names_end_in_ext() {
        assert_eq!(extension_name("x-foobar"), "x-foobar-ext");
        assert_eq!(extension_name("foobar"), "foobar-ext");
        assert_eq!(extension_name("X_Acme__Thing"), "x-acme-thing-ext");
        assert_eq!(extension_name("1abc"), "abc-ext");
        assert_eq!(extension_name("--"), "x-ext");
    }
}
