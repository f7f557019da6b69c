//! An analyst's own changes to the intelligence, one object at a time (the web UI's **Add new**
//! and **Revoke**).
//!
//! # Key decisions
//!
//! - A new indicator is written as a row of the csv-other template and goes through that
//!   template's mapping: the same fields, checks, messages (each naming its field as the CSV
//!   names its column), pattern quoting and deterministic id as a file import. Adding the same
//!   observable from the same source again is therefore the same object, unchanged.
//! - A revocation is a new version, as STIX says: the current version with `revoked: true` and
//!   a later `modified`, validated and stored as an upload is. Nothing is ever rewritten.

use ingest::csvmap::{CsvReader, IdScope, Template};
use stix::{StixId, Timestamp};
use store::{Origin, Outcome, Provenance, Store, StoreError, WorkspaceId};

use crate::error::{DomainError, ErrorKind};
use crate::source::{SourceError, SourceName};

/// Why an analyst's change was not made.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    /// The fields break the rules; every message, each naming its field.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("the source {0}")]
    Source(SourceError),
    #[error("{0}")]
    NotFound(String),
    /// The versioning rules refused the change (the message says why).
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for IntelError {
    fn kind(&self) -> ErrorKind {
        match self {
            IntelError::Invalid(_) | IntelError::Source(_) | IntelError::Rejected(_) => {
                ErrorKind::BadRequest
            }
            IntelError::NotFound(_) => ErrorKind::NotFound,
            IntelError::Store(e) => e.kind(),
        }
    }
}

/// The time now as a form shows it for `validFrom` (an indicator is valid from when it is added,
/// unless the analyst says otherwise).
pub fn now_text() -> String {
    Timestamp::now().to_string()
}

/// What adding an indicator did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub id: StixId,
    /// The same observable from the same source, with the same fields, was already stored.
    pub unchanged: bool,
}

/// Adds the indicator that `fields` (csv-other column name, value) describe, from `source`.
/// `request` names the change in the stored version's origin.
pub fn add_indicator(
    store: &dyn Store,
    workspace: WorkspaceId,
    source: &str,
    fields: &[(&str, &str)],
    request: &str,
) -> Result<Added, IntelError> {
    let source = SourceName::parse_unreserved(source).map_err(IntelError::Source)?;
    let mut row = csv::Writer::from_writer(Vec::new());
    row.write_record(fields.iter().map(|(name, _)| *name))
        .and_then(|()| row.write_record(fields.iter().map(|(_, value)| *value)))
        .map_err(|e| IntelError::Invalid(vec![e.to_string()]))?;
    let text = row
        .into_inner()
        .map_err(|e| IntelError::Invalid(vec![e.to_string()]))?;
    let scope = IdScope {
        workspace: workspace.to_string(),
        source: source.as_str().to_owned(),
    };
    let mut reader = CsvReader::new(&text[..], Some(Template::CsvOther), scope, Timestamp::now())
        .map_err(|e| IntelError::Invalid(vec![e.to_string()]))?;
    let mapped = match reader.next() {
        Some(Ok(record)) => record
            .outcome
            .map_err(|invalid| IntelError::Invalid(invalid.messages()))?,
        Some(Err(e)) => return Err(IntelError::Invalid(vec![e.to_string()])),
        None => return Err(IntelError::Invalid(vec!["no fields were given".into()])),
    };
    let object = crate::import::csv_object(0, mapped).map_err(|m| IntelError::Invalid(vec![m]))?;
    let id = object.id.clone();
    let outcome = write_one(store, workspace, source.into_string(), request, object)?;
    Ok(Added {
        id,
        unchanged: outcome == Outcome::Unchanged,
    })
}

/// Revokes object `object` (its id as the caller wrote it): a new version of it with
/// `revoked: true`, from the same source.
pub fn revoke(
    store: &dyn Store,
    workspace: WorkspaceId,
    object: &str,
    request: &str,
) -> Result<(), IntelError> {
    let not_found = || IntelError::NotFound(format!("object {object} not found"));
    let id = StixId::parse(object).map_err(|_| not_found())?;
    let current = store.current(workspace, &id)?.ok_or_else(not_found)?;
    if current.revoked {
        return Err(IntelError::Rejected(format!("{object} is already revoked")));
    }
    let mut json: serde_json::Value = serde_json::from_str(&current.json)
        .map_err(|e| StoreError::Corrupt(format!("the stored JSON of {object}: {e}")))?;
    // Later than the current version, at the precision STIX timestamps are usually written
    // with, even if the current one claims to be from the future.
    let now = Timestamp::now();
    let modified = if now > current.modified {
        now
    } else {
        Timestamp::from_unix(
            current.modified.unix_seconds() + 1,
            current.modified.subsec_nanos(),
        )
    };
    json["revoked"] = serde_json::Value::Bool(true);
    json["modified"] = serde_json::Value::String(modified.to_string());
    let body = serde_json::json!({"sourcesystem": current.source, "stixobjects": [json]});
    let read = crate::upload::read(body.to_string().as_bytes(), 1)
        .map_err(|e| IntelError::Invalid(vec![e.to_string()]))?;
    if let Some(refused) = read.errors.into_iter().next() {
        return Err(IntelError::Invalid(refused.error_messages));
    }
    let object = read.valid.into_iter().next().ok_or_else(not_found)?;
    match write_one(store, workspace, current.source, request, object)? {
        Outcome::Stored { .. } | Outcome::Unchanged => Ok(()),
        Outcome::Rejected(m) => Err(IntelError::Rejected(m)),
    }
}

fn write_one(
    store: &dyn Store,
    workspace: WorkspaceId,
    source: String,
    request: &str,
    object: store::NewObject,
) -> Result<Outcome, IntelError> {
    let provenance = Provenance {
        source,
        origin: Origin::Request(request.to_owned()),
    };
    let outcome = store
        .write(workspace, &provenance, vec![object])?
        .into_iter()
        .next()
        .unwrap_or(Outcome::Unchanged);
    match outcome {
        Outcome::Rejected(m) => Err(IntelError::Rejected(m)),
        other => Ok(other),
    }
}
