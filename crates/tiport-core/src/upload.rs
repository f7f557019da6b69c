//! The upload use case (seed 003): a request body of STIX objects in, the valid ones stored in
//! one write, every invalid one explained by its index.

use ingest::{JsonRecords, Limits};
use serde::Serialize;
use stix::Options;
use store::{NewObject, Origin, Outcome, Provenance, Store, StoreError, WorkspaceId};

use crate::error::{DomainError, ErrorKind};
use crate::record;
use crate::source::{SourceError, SourceName};

/// Why a whole request is refused (each a 400 at the HTTP edge, except `Store`).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    BadBody(String),
    #[error("the request has {got} objects; at most {max} are accepted per request")]
    TooManyObjects { got: usize, max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for UploadError {
    fn kind(&self) -> ErrorKind {
        match self {
            UploadError::BadBody(_) | UploadError::TooManyObjects { .. } => ErrorKind::BadRequest,
            UploadError::Store(e) => e.kind(),
        }
    }
}

/// One refused record, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordError {
    pub record_index: u64,
    pub error_messages: Vec<String>,
}

/// What became of an upload's objects.
#[derive(Debug)]
pub struct Uploaded {
    /// Objects stored (or already stored, unchanged).
    pub accepted: usize,
    /// The refused ones, by index.
    pub errors: Vec<RecordError>,
}

/// An upload body read and validated, not yet stored.
#[derive(Debug)]
pub struct Read {
    pub source: SourceName,
    /// The valid objects, each knowing its record index.
    pub valid: Vec<NewObject>,
    /// The invalid records.
    pub errors: Vec<RecordError>,
    /// How many records the body held.
    pub count: usize,
}

/// Reads an upload body (current `stixobjects` or legacy `value`/`indicators`, keys in any
/// case) and validates every record: no I/O, no store. A body-level problem refuses the whole
/// request.
pub fn read(body: &[u8], max_objects: usize) -> Result<Read, UploadError> {
    let mut records = JsonRecords::new(body, Limits::default()).upload_only();
    let opts = Options {
        observables: true,
        ..Options::default()
    };
    let mut valid: Vec<NewObject> = Vec::new();
    let mut errors: Vec<RecordError> = Vec::new();
    let mut count = 0usize;
    records
        .for_each(|rec| -> Result<(), ingest::ReadError> {
            count += 1;
            if count > max_objects {
                // Counted only: the request is refused whole.
                return Ok(());
            }
            let index = rec.index as u64;
            let messages = match record::from_record(&rec, opts) {
                Ok((o, _)) => {
                    valid.push(o);
                    return Ok(());
                }
                Err(messages) => messages,
            };
            errors.push(RecordError {
                record_index: index,
                error_messages: messages,
            });
            Ok(())
        })
        .map_err(|e| match e {
            ingest::ReadError::Ambiguous {
                line,
                column,
                message,
            } => UploadError::BadBody(format!("{message} (line {line}, column {column})")),
            e => UploadError::BadBody(format!("the request body is not valid JSON: {e}")),
        })?;
    let source = check_body(records.container())?;
    if count > max_objects {
        return Err(UploadError::TooManyObjects {
            got: count,
            max: max_objects,
        });
    }
    Ok(Read {
        source,
        valid,
        errors,
        count,
    })
}

/// Validates and stores the objects of an upload body ([`read`]). The accepted ones are
/// durable when it returns. `request` names the request in the stored versions' origin.
pub fn upload(
    store: &dyn Store,
    workspace: WorkspaceId,
    body: &[u8],
    request: &str,
    max_objects: usize,
) -> Result<Uploaded, UploadError> {
    let Read {
        source,
        valid,
        mut errors,
        count,
    } = read(body, max_objects)?;
    if !valid.is_empty() {
        let indexes: Vec<u64> = valid.iter().map(|o| o.record).collect();
        let outcomes = store.write(
            workspace,
            &Provenance {
                source: source.into_string(),
                origin: Origin::Request(request.to_owned()),
            },
            valid,
        )?;
        for (index, outcome) in indexes.into_iter().zip(outcomes) {
            if let Outcome::Rejected(message) = outcome {
                errors.push(RecordError {
                    record_index: index,
                    error_messages: vec![message],
                });
            }
        }
    }
    errors.sort_by_key(|e| e.record_index);
    Ok(Uploaded {
        accepted: count - errors.len(),
        errors,
    })
}

/// The body-level rules of the upload API, which make a request a 400 rather than a per-record
/// error; returns the source name.
pub fn check_body(c: &ingest::Container) -> Result<SourceName, UploadError> {
    let bad = |m: String| Err(UploadError::BadBody(m));
    match &c.sourcesystem {
        None => bad("the request body has no \"sourcesystem\"".into()),
        Some(serde_json::Value::String(s)) => match SourceName::parse_unreserved(s) {
            Ok(name) => Ok(name),
            Err(SourceError::Empty) => bad("\"sourcesystem\" must not be empty".into()),
            Err(e) => bad(format!("\"sourcesystem\" {e}")),
        },
        Some(_) => bad("\"sourcesystem\" must be a string".into()),
    }
}
