//! Hash dictionaries (`hashes`), shared by external references, files and artifacts.

use crate::json::{Json, Object};
use crate::rules::{dictionary_at, Ctx, Path};

/// Known hash algorithms and the hex length of their values; `None` for algorithms whose
/// values are not fixed-length hex (fuzzy hashes).
const KNOWN: &[(&str, Option<usize>)] = &[
    ("MD5", Some(32)),
    ("SHA-1", Some(40)),
    ("SHA-256", Some(64)),
    ("SHA-512", Some(128)),
    ("SHA3-256", Some(64)),
    ("SHA3-512", Some(128)),
    ("SSDEEP", None),
    ("TLSH", Some(70)),
];

/// The canonical algorithm name for a key, matching case-insensitively and without hyphens or
/// underscores, so that `sha256` and `SHA_256` are recognised as SHA-256 and their values
/// checked too.
pub fn canonical_algorithm(key: &str) -> Option<(&'static str, Option<usize>)> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    let k = squash(key);
    KNOWN.iter().copied().find(|(name, _)| squash(name) == k)
}

/// Whether `value` is a well-formed hash for the named algorithm (unknown algorithms: any
/// non-empty string).
pub fn hash_value_ok(algorithm: &str, value: &str) -> bool {
    match canonical_algorithm(algorithm) {
        Some((_, Some(len))) => value.len() == len && value.bytes().all(|c| c.is_ascii_hexdigit()),
        _ => !value.is_empty(),
    }
}

pub(crate) fn check_hashes(v: &Json<'_>, at: &Path<'_>, ctx: &mut Ctx) {
    // The strict profile holds hashes to the schema of the record's version; one checker for
    // it, so that a record's hashes are never judged (and reported) twice.
    if ctx.strict() {
        return crate::strict::hashes(v, at, ctx);
    }
    let what = "Must be a dictionary of hash algorithm to hash value";
    let Some(o) = dictionary_at(v, at, what, false, ctx) else {
        return;
    };
    each_hash_value(o, at, ctx, |k, s, hv, here, ctx| {
        if let Some((name, Some(len))) = canonical_algorithm(k) {
            if !hash_value_ok(k, s) {
                ctx.error(
                    here,
                    format!("{name} hash must be {len} hexadecimal characters"),
                    hv,
                );
            }
        }
    });
}

/// Calls `judge` with each member of the hashes dictionary `o` at `at` whose value is a string:
/// the algorithm's name, the value, the member and its path. Both profiles report a value that
/// is not a string, here, and judge the rest each by its own rules.
#[inline]
pub(crate) fn each_hash_value(
    o: &Object<'_>,
    at: &Path<'_>,
    ctx: &mut Ctx,
    mut judge: impl FnMut(&str, &str, &Json<'_>, &Path<'_>, &mut Ctx),
) {
    for (k, hv) in o.iter() {
        let here = at.key(k);
        let Some(s) = hv.as_str() else {
            ctx.error(&here, "Hash value must be a string", hv);
            continue;
        };
        judge(k, s, hv, &here, ctx);
    }
}
