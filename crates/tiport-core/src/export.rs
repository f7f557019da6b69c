//! Export of a workspace's current objects: a STIX 2.1 bundle, or the csv-other template's
//! columns for the indicators that template can express.

use std::io::{self, Write};

use ingest::csvmap::Template;
use serde_json::Value;
use store::{ObjectFilter, Store, StoreError, StoredObject, WorkspaceId};

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    pub written: u64,
    /// Current objects the format cannot express (CSV: objects other than indicators, and
    /// indicators whose pattern is not one observable of a csv-other type).
    pub skipped: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Io(#[from] io::Error),
}

/// The object as a valid STIX 2.1 object: its stored text, upgraded if it was read as STIX 2.0
/// or names itself by a non-canonical id (see [`stix::upgrade`]). This is what exports and the
/// API's object answers give, unless the stored text itself is asked for.
pub fn stix21(o: &StoredObject) -> std::borrow::Cow<'_, str> {
    if stix::upgrade::needs_upgrade(&o.json, &o.spec_version, o.id.as_str()) {
        std::borrow::Cow::Owned(
            stix::upgrade::upgrade(&o.json, o.spec_version == "2.0").into_text(),
        )
    } else {
        std::borrow::Cow::Borrowed(&o.json)
    }
}

/// How objects are written out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ObjectForm {
    /// Valid STIX 2.1 ([`stix21`]).
    #[default]
    Stix21,
    /// The stored text: what the producer sent (compact), with, for a record read as STIX 2.0,
    /// the 2.1 members appended when it was stored.
    Original,
}

impl ObjectForm {
    pub fn text<'o>(self, o: &'o StoredObject) -> std::borrow::Cow<'o, str> {
        match self {
            ObjectForm::Stix21 => stix21(o),
            ObjectForm::Original => std::borrow::Cow::Borrowed(&o.json),
        }
    }

    /// The object's text in this form, taking the stored text rather than copying it when it
    /// is given as stored.
    pub fn into_text(self, o: StoredObject) -> String {
        let upgraded = match self.text(&o) {
            std::borrow::Cow::Owned(text) => Some(text),
            std::borrow::Cow::Borrowed(_) => None,
        };
        upgraded.unwrap_or(o.json)
    }
}

/// Writes one bundle of the current version of every object that passes `filter`, streamed,
/// each object in `form`.
pub fn stix_bundle(
    store: &dyn Store,
    workspace: WorkspaceId,
    filter: &ObjectFilter,
    form: ObjectForm,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Exported, ExportError> {
    let id = uuid::Uuid::new_v4();
    write!(
        out,
        "{{\"type\":\"bundle\",\"id\":\"bundle--{id}\",\"objects\":["
    )?;
    let mut n = 0u64;
    let mut io_err = None;
    store.scan_current(workspace, filter, &mut |o| {
        let sep = if n == 0 { "\n" } else { ",\n" };
        if let Err(e) = out
            .write_all(sep.as_bytes())
            .and_then(|_| out.write_all(form.text(&o).as_bytes()))
        {
            io_err = Some(e);
            return false;
        }
        n += 1;
        progress(n);
        true
    })?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    out.write_all(if n == 0 { b"]}\n" } else { b"\n]}\n" })?;
    out.flush()?;
    Ok(Exported {
        written: n,
        skipped: 0,
    })
}

/// Writes the current indicators as csv-other rows (the template's header first). Imported
/// into the same workspace under the same source, the file gives the same indicators again
/// (the ids come from the patterns), except where a cell had to be neutralized for
/// spreadsheets (see `ingest::csvmap::neutralize_cell`: a leading `'`).
pub fn csv_other(
    store: &dyn Store,
    workspace: WorkspaceId,
    filter: &ObjectFilter,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Exported, ExportError> {
    let mut w = ingest::csvmap::spreadsheet_safe_writer(out, false);
    // `csv_row` writes its cells in this order.
    w.write_record(Template::CsvOther.column_names())
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut done = Exported::default();
    let mut fault = None;
    let filter = ObjectFilter {
        object_type: Some("indicator".into()),
        ..filter.clone()
    };
    store.scan_current(workspace, &filter, &mut |o| {
        match csv_row(&o) {
            Some(row) => {
                let cells = row
                    .iter()
                    .map(|c| ingest::csvmap::neutralize_cell(c).into_owned());
                if let Err(e) = w.write_record(cells) {
                    fault = Some(io::Error::other(e.to_string()));
                    return false;
                }
                done.written += 1;
            }
            None => done.skipped += 1,
        }
        progress(done.written + done.skipped);
        true
    })?;
    if let Some(e) = fault {
        return Err(e.into());
    }
    w.flush()?;
    Ok(done)
}

/// One indicator as csv-other cells, if its pattern is a single `=` comparison on a property
/// that template has a column for.
fn csv_row(o: &StoredObject) -> Option<Vec<String>> {
    let v: Value = serde_json::from_str(&o.json).ok()?;
    let pattern = v.get("pattern")?.as_str()?;
    if v.get("pattern_type")
        .and_then(Value::as_str)
        .unwrap_or("stix")
        != "stix"
    {
        return None;
    }
    let (obs_type, obs_value) = single_observable(pattern)?;
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let number = |k: &str| match v.get(k) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    Some(vec![
        list("indicator_types"),
        list("labels"),
        text("name"),
        text("description"),
        number("confidence"),
        match v.get("revoked") {
            Some(Value::Bool(b)) => b.to_string(),
            _ => String::new(),
        },
        text("valid_from"),
        text("valid_until"),
        o.tlp.map(|t| t.name().to_owned()).unwrap_or_default(),
        number("x_tiport_severity"),
        obs_type.to_owned(),
        obs_value,
    ])
}

/// `[type:property = 'value']` for a csv-other observable type, as (observableType, value).
fn single_observable(pattern: &str) -> Option<(&'static str, String)> {
    let p = stix_pattern::parse(pattern).ok()?;
    let obs = p.observables();
    let [o] = obs.as_slice() else { return None };
    if o.negated || o.operator != stix_pattern::ComparisonOperator::Equal {
        return None;
    }
    let value = o.value.as_str()?;
    let t = match (o.object_type, o.path.as_str()) {
        ("ipv4-addr", "value") => "ipv4-addr",
        ("ipv6-addr", "value") => "ipv6-addr",
        ("domain-name", "value") => "domain-name",
        ("url", "value") => "url",
        ("email-addr", "value") => "email-addr",
        ("user-account", "account_login") => "user-account",
        ("windows-registry-key", "key") => "windows-registry-key",
        _ => return None,
    };
    // One observable is not enough: `[a] AND [b]`-shaped patterns with one value are not a
    // single comparison, so compare with the canonical form of exactly one.
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    let single = format!("[{}:{} = '{}']", o.object_type, o.path, escaped);
    (p.to_string() == single).then(|| (t, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_observables_only() {
        assert_eq!(
            single_observable("[ipv4-addr:value = '198.51.100.1']"),
            Some(("ipv4-addr", "198.51.100.1".into()))
        );
        assert_eq!(
            single_observable("[windows-registry-key:key = 'HKLM\\\\Software\\\\x']"),
            Some(("windows-registry-key", "HKLM\\Software\\x".into()))
        );
        assert_eq!(
            single_observable(
                "[domain-name:value = 'a.example' AND domain-name:value = 'a.example']"
            ),
            None
        );
        assert_eq!(
            single_observable("[file:hashes.MD5 = '0123456789abcdef0123456789abcdef']"),
            None
        );
        assert_eq!(
            single_observable("[ipv4-addr:value != '198.51.100.1']"),
            None
        );
        assert_eq!(
            single_observable("[ipv4-addr:value = '198.51.100.1'] WITHIN 5 SECONDS"),
            None
        );
    }
}
