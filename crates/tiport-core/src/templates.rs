//! The import templates, as `tiport template` prints them and `GET /templates/{name}` serves
//! them.

use ingest::csvmap::{template_text, Template};

/// The JSON template: STIX 2.1 objects as an array, one indicator and one attack pattern, the
/// seed's own example. JSON has no comments, so unlike the seed's template it has none to
/// delete: it imports as it is.
pub const JSON: &str = include_str!("json_template.json");

/// A template by name (`csv-file`, `csv-other`, `json`): its text and media type.
pub fn by_name(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "json" => Some((JSON, "application/json")),
        _ => Template::from_name(name).map(|t| (template_text(t), "text/csv; charset=utf-8")),
    }
}
