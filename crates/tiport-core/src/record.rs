//! From a record that passed validation to the [`NewObject`] the store keeps: the columns it
//! indexes, its observables, and its JSON in compact form.

use std::net::IpAddr;

use sha2::{Digest, Sha256};
use stix::json::Object;
use stix::{Json, Report, SpecVersion, StixId, Timestamp, Tlp};
use store::{Derived, NewObject, ObservableKey};

/// The `modified` of objects that have neither `modified` nor `created` (cyber-observable
/// objects): their ids are derived from their content, so an id has one version.
const NO_TIME: &str = "1970-01-01T00:00:00.000Z";

/// Builds the object to store from a valid record: `bytes` is its JSON text as it arrived.
///
/// A record read as STIX 2.0 is stored with the members STIX 2.1 requires appended (see
/// [`stix::normalized_21_members`]), so that every stored object is valid 2.1.
/// One JSON record (of a file or an upload body) made a storable object: validated with
/// `opts` (which should keep the pattern's observables), then built. `Ok` also says whether the
/// record was read as STIX 2.0; `Err` holds its messages in the API's wording.
pub fn from_record(
    rec: &ingest::Record<'_>,
    opts: stix::Options,
) -> Result<(NewObject, bool), Vec<String>> {
    let json = rec.value.as_ref().map_err(|d| vec![d.to_string()])?;
    let report = stix::validate(json, opts, rec.container_version);
    if !report.is_valid() {
        return Err(bounded_messages(report.messages()));
    }
    let obj = json.as_object().expect("a valid record is an object");
    match new_object(rec.index as u64, obj, &report, rec.bytes) {
        Ok(o) => Ok((o, report.version == SpecVersion::V20)),
        Err(m) => Err(vec![
            stix::Diagnostic::new("record", m, "(not shown)").to_string()
        ]),
    }
}

/// The most messages kept for one record, in an upload's answer and an import's error file.
pub const MAX_RECORD_MESSAGES: usize = 100;
/// The longest message kept (values in messages are already cut to a few hundred bytes; a
/// property name is not).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The first [`MAX_RECORD_MESSAGES`] of a record's messages, each at most
/// [`MAX_MESSAGE_BYTES`], then one that counts the rest: a record of a million bad properties
/// is explained, not copied.
pub fn bounded_messages(mut messages: Vec<String>) -> Vec<String> {
    let total = messages.len();
    if total > MAX_RECORD_MESSAGES {
        messages.truncate(MAX_RECORD_MESSAGES);
        messages.push(format!(
            "… and {} more problems in this record (the first {MAX_RECORD_MESSAGES} are shown)",
            total - MAX_RECORD_MESSAGES
        ));
    }
    for m in &mut messages {
        if m.len() > MAX_MESSAGE_BYTES {
            m.truncate(m.floor_char_boundary(MAX_MESSAGE_BYTES));
            m.push('…');
        }
    }
    messages
}

pub fn new_object(
    record: u64,
    obj: &Object<'_>,
    report: &Report,
    bytes: &[u8],
) -> Result<NewObject, String> {
    let text = |k: &str| obj.get(k).and_then(Json::as_str);
    let id = text("id").ok_or("no id")?;
    let id = StixId::parse(id).map_err(|e| format!("id: {e}"))?;
    let ts = |k: &str| -> Result<Option<Timestamp>, String> {
        text(k)
            .map(|t| Timestamp::parse_lenient(t).map_err(|e| format!("{k}: {e}")))
            .transpose()
    };
    let created = ts("created")?;
    let modified = ts("modified")?;
    let epoch = Timestamp::parse(NO_TIME).expect("constant");
    let modified = modified.or(created).unwrap_or(epoch);
    let created = created.unwrap_or(modified);

    let mut json = Vec::with_capacity(bytes.len());
    ingest::json::minify(bytes, &mut json);
    let mut json = String::from_utf8(json).map_err(|_| "record is not UTF-8".to_owned())?;
    let v20 = report.version == SpecVersion::V20;
    if v20 {
        let members = stix::normalized_21_members(obj);
        if !members.is_empty() && json.ends_with('}') {
            json.pop();
            for (name, value) in members {
                json.push_str(",\"");
                json.push_str(name);
                json.push_str("\":");
                json.push_str(value);
            }
            json.push('}');
        }
    }

    let is_indicator = id.object_type() == "indicator";
    Ok(NewObject {
        record,
        modified,
        created,
        spec_version: if v20 { "2.0" } else { "2.1" },
        revoked: obj.get("revoked").and_then(Json::as_bool).unwrap_or(false),
        valid_from: if is_indicator {
            ts("valid_from")?
        } else {
            None
        },
        valid_until: if is_indicator {
            ts("valid_until")?
        } else {
            None
        },
        confidence: confidence(obj.get("confidence")),
        tlp: tlp(obj),
        labels: obj
            .get("labels")
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        observables: {
            let mut keys = if is_indicator {
                observables(obj, report)
            } else if id.object_type() == "relationship" {
                references(obj)
            } else {
                Vec::new()
            };
            if let Some(name) = text("name") {
                keys.extend(ObservableKey::name(name));
            }
            keys
        },
        id,
        json,
        derived: None,
    })
}

/// Confidence as a number or, in the compatible profile, a numeric string (`"95"`).
fn confidence(v: Option<&Json<'_>>) -> Option<u8> {
    let n = match v? {
        Json::Number(n) => n.as_u64()?,
        Json::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    u8::try_from(n).ok().filter(|n| *n <= 100)
}

/// The TLP level of the first TLP marking the object references.
fn tlp(obj: &Object<'_>) -> Option<Tlp> {
    obj.get("object_marking_refs")?
        .as_array()?
        .iter()
        .filter_map(Json::as_str)
        .find_map(Tlp::from_marking_id)
}

/// The values an indicator's STIX pattern says to look for: every non-negated `=`, `IN` or
/// `ISSUBSET` comparison with a string. Addresses and CIDR blocks of `ipv4-addr`/`ipv6-addr`
/// (and of references to them, such as `network-traffic:dst_ref.value`) become networks, so a
/// lookup finds the blocks an address falls in.
pub fn observables(obj: &Object<'_>, report: &Report) -> Vec<ObservableKey> {
    if !report.pattern_observables.is_empty() {
        // Validation kept them (stix::Options::observables): no second parse.
        return keys(report.pattern_observables.iter().map(|o| Comparison {
            object_type: &o.object_type,
            path: &o.path,
            operator: o.operator,
            negated: o.negated,
            value: o.value.as_deref(),
        }));
    }
    let stix_pattern = match obj.get("pattern_type").and_then(Json::as_str) {
        None | Some("stix") => true,
        Some(_) => false,
    };
    let Some(pattern) = obj.get("pattern").and_then(Json::as_str) else {
        return Vec::new();
    };
    if !stix_pattern {
        return Vec::new();
    }
    pattern_observables(pattern)
}

/// The objects a relationship joins, as index keys: its `source_ref` and `target_ref`.
fn references(obj: &Object<'_>) -> Vec<ObservableKey> {
    ["source_ref", "target_ref"]
        .iter()
        .filter_map(|k| obj.get(k).and_then(Json::as_str))
        .filter_map(|r| StixId::parse(r).ok())
        .map(ObservableKey::Reference)
        .collect()
}

/// The observable keys of one STIX pattern (none if it does not parse).
pub fn pattern_observables(pattern: &str) -> Vec<ObservableKey> {
    let Ok(p) = stix_pattern::parse(pattern) else {
        return Vec::new();
    };
    keys(p.observables().iter().map(|o| Comparison {
        object_type: o.object_type,
        path: &o.path,
        operator: o.operator,
        negated: o.negated,
        value: o.value.as_str(),
    }))
}

/// What [`keys`] needs of one comparison of a pattern.
struct Comparison<'a> {
    object_type: &'a str,
    path: &'a str,
    operator: stix_pattern::ComparisonOperator,
    negated: bool,
    value: Option<&'a str>,
}

/// The observable keys of a pattern's comparisons: the values of the positive equality and
/// membership tests, IP addresses and blocks as networks, sorted and without repeats.
fn keys<'a>(comparisons: impl Iterator<Item = Comparison<'a>>) -> Vec<ObservableKey> {
    use stix_pattern::ComparisonOperator as Op;
    let mut keys: Vec<ObservableKey> = comparisons
        .filter(|o| !o.negated && matches!(o.operator, Op::Equal | Op::In | Op::IsSubset))
        .filter_map(|o| {
            let value = o.value?;
            let ip_like = matches!(o.object_type, "ipv4-addr" | "ipv6-addr") && o.path == "value"
                || o.path.ends_with("_ref.value");
            if ip_like {
                if let Some(k) = ip_key(value) {
                    return Some(k);
                }
            }
            Some(ObservableKey::text(value))
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// An address (`198.51.100.7`) or a block (`198.51.100.0/24`) as a network key.
pub fn ip_key(value: &str) -> Option<ObservableKey> {
    let value = value.trim();
    let (addr, prefix) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (value, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let prefix = prefix.unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
    ObservableKey::ip(addr, prefix)
}

/// Marks a CSV-derived indicator so that an unchanged row is recognised on re-import: the hash
/// covers everything but `stamps`, the byte range of `"created":"T","modified":"T",` in its
/// JSON (see `ingest::csvmap::MappedIndicator::stamps`), which is the time of the import.
pub fn derive(mut obj: NewObject, stamps: std::ops::Range<usize>) -> Result<NewObject, String> {
    let missing = || "mapped indicator without created and modified".to_owned();
    let seg = obj.json.get(stamps.clone()).ok_or_else(missing)?;
    // The quoted created value runs from after `"created":` to the first comma (timestamps
    // have none).
    let start = stamps.start + "\"created\":".len();
    let end = stamps.start + seg.find(',').ok_or_else(missing)?;
    let mut h = Sha256::new();
    h.update(&obj.json.as_bytes()[..stamps.start]);
    h.update([0u8]);
    h.update(&obj.json.as_bytes()[stamps.end..]);
    obj.derived = Some(Derived {
        content_hash: h.finalize().into(),
        created_at: start..end,
    });
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observables_kept_by_validation_match_a_fresh_parse() {
        let sha = "a".repeat(64);
        let patterns = [
            "[ipv4-addr:value = '198.51.100.7']".to_owned(),
            "[ipv4-addr:value = '198.51.100.0/24'] OR [domain-name:value = 'Example.COM']"
                .to_owned(),
            format!("[file:hashes.'SHA-256' = '{sha}'] AND [url:value != 'http://x.example/']"),
            "[network-traffic:dst_ref.value = '2001:db8::1' AND network-traffic:dst_port = 443]"
                .to_owned(),
            "[ipv4-addr:value IN ('198.51.100.1', '198.51.100.2')]".to_owned(),
            "[email-addr:value NOT = 'a@example.com'] FOLLOWEDBY [url:value = 'http://y.example/']"
                .to_owned(),
        ];
        for p in &patterns {
            let text = format!(
                r#"{{"type":"indicator","spec_version":"2.1",
                "id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z",
                "pattern":"{p}","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"}}"#
            );
            let json = Json::parse(&text).unwrap();
            let obj = json.as_object().unwrap();
            let opts = stix::Options {
                observables: true,
                ..stix::Options::default()
            };
            let report = stix::validate(&json, opts, None);
            assert!(report.is_valid(), "{p}: {:?}", report.messages());
            assert!(!report.pattern_observables.is_empty(), "{p}");
            let kept = observables(obj, &report);
            assert!(!kept.is_empty(), "{p}");
            assert_eq!(kept, pattern_observables(p), "{p}");

            let plain = stix::validate(&json, stix::Options::default(), None);
            assert!(plain.pattern_observables.is_empty(), "{p}");
            assert_eq!(observables(obj, &plain), kept, "{p}");
        }
    }
}
