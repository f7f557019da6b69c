//! A JSON tree that borrows from its input.
//!
//! Validation reads every record of files of hundreds of megabytes, so the tree avoids one
//! allocation per string: strings without escapes are slices of the input. Objects keep their
//! members in input order. A name repeated within one object is a parse error naming where it
//! is: JSON leaves its meaning undefined, and keeping one value would silently drop the other.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A JSON value borrowing its strings from the input text where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// The members of a JSON object, in input order, each name once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object<'a> {
    members: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> Object<'a> {
    /// The value of the member named `key`.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k == key)
    }

    /// Members in input order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.members.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Sets `key` to `value`, replacing an existing member of that name, so that an object
    /// built in code keeps the invariant a parsed one has: each name once.
    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: Json<'a>) {
        let key = key.into();
        match self.members.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.members.push((key, value)),
        }
    }
}

impl<'a> Json<'a> {
    /// Parses one JSON text. Nesting deeper than serde_json's limit (128) is an error, not a
    /// stack overflow.
    pub fn parse(text: &'a str) -> Result<Json<'a>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let value = Json::deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.as_object().and_then(|o| o.get(key))
    }

    /// The JSON type's name, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// The value as a message shows it: strings without quotes, everything else as compact
    /// JSON, cut to a length that keeps a message readable.
    pub fn display_value(&self) -> String {
        const MAX: usize = 256;
        let mut s = match self {
            Json::String(s) => s.to_string(),
            other => other.to_string(),
        };
        if s.len() > MAX {
            let mut cut = MAX;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        s
    }
}

impl fmt::Display for Json<'_> {
    /// Compact JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => write!(f, "{n}"),
            Json::String(s) => write_json_string(f, s),
            Json::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Json::Object(o) => {
                f.write_str("{")?;
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_json_string(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    // serde_json's escaping is the reference; strings are short enough that the allocation
    // does not matter on this (error-message) path.
    f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?)
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Up to this many members, a repeated name is looked for by scanning them (no
        // allocation, and faster than hashing for objects of STIX's size); past it, in a set.
        // Scanning alone is quadratic: an object of 50,000 members took 30 seconds.
        const SCAN: usize = 32;
        let mut members: Vec<(Cow<'de, str>, Json<'de>)> =
            Vec::with_capacity(map.size_hint().unwrap_or(8).min(SCAN));
        let mut names: Option<std::collections::HashSet<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            // JSON leaves the meaning of a repeated name undefined and consumers disagree on
            // which value wins, so a record with one is refused where the repetition is, rather
            // than one of its values being dropped without a word.
            let repeated = match &mut names {
                Some(set) => !set.insert(key.0.clone()),
                None => members.iter().any(|(k, _)| *k == key.0),
            };
            if names.is_none() && members.len() + 1 == SCAN {
                let mut set: std::collections::HashSet<Cow<'de, str>> =
                    members.iter().map(|(k, _)| k.clone()).collect();
                set.insert(key.0.clone());
                names = Some(set);
            }
            if repeated {
                return Err(de::Error::custom(format_args!(
                    "the member \"{}\" appears more than once in one object",
                    key.0
                )));
            }
            let value = map.next_value()?;
            members.push((key.0, value));
        }
        Ok(Json::Object(Object { members }))
    }
}

/// A map key that borrows when the key has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings() {
        let j = Json::parse(r#"{"a":"x","b":"y\n"}"#).unwrap();
        let o = j.as_object().unwrap();
        assert!(matches!(
            o.get("a").unwrap(),
            Json::String(Cow::Borrowed("x"))
        ));
        assert!(matches!(o.get("b").unwrap(), Json::String(Cow::Owned(_))));
    }

    #[test]
    fn insert_replaces_a_member_of_the_same_name() {
        let mut o = Object::default();
        o.insert("a", Json::Bool(true));
        o.insert("b", Json::Null);
        o.insert("a", Json::Bool(false));
        assert_eq!(o.len(), 2);
        assert_eq!(o.get("a"), Some(&Json::Bool(false)));
    }

    #[test]
    fn a_repeated_name_is_found_in_a_large_object_too() {
        let mut text = String::from("{");
        for i in 0..5000 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        let ok = format!("{}\"last\":1}}", text);
        assert!(Json::parse(&ok).is_ok());
        for repeated in ["k0", "k31", "k32", "k4999"] {
            let bad = format!("{text}\"{repeated}\":1}}");
            let e = Json::parse(&bad).unwrap_err();
            assert!(
                e.to_string()
                    .contains(&format!("\"{repeated}\" appears more than once")),
                "{e}"
            );
        }
    }

    #[test]
    fn a_repeated_name_is_an_error_with_its_position() {
        let e = Json::parse("{\"a\":1,\n \"b\":{\"c\":1,\"c\":2}}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the member \"c\" appears more than once in one object at line 2 column 15"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        assert!(Json::parse(&text).is_err());
    }

    #[test]
    fn display_round_trips() {
        let text = r#"{"a":[1,-2,3.5,true,null],"b":{"c":"d\"e"}}"#;
        assert_eq!(Json::parse(text).unwrap().to_string(), text);
    }
}
