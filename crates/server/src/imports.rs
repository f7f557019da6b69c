//! File imports over HTTP (seed 000): upload by multipart form, the import run in the
//! background, its record, its error file, and the templates.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use store::{ImportFormat, ImportId, ImportMode, ImportSort, Order, Role};
use tiport_core::import::{self, FileImport, QueueError, RecordView};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;
use crate::routes::{authenticate, authorize, blocking};
use crate::App;

/// Text fields of the form are short; a longer one is refused rather than read.
const MAX_FIELD_BYTES: usize = 4096;

/// `POST /workspaces/{ws}/threat-intelligence/imports`: fields `file`, `format` (`csv`|`json`),
/// `source`, `mode` (`valid-only`|`all-or-nothing`); the file is streamed to disk, never held in
/// memory, and refused with 413 as soon as it passes the larger of the two size limits (the
/// limit of its format is checked once the format is known). Answers 202 with the import's id;
/// the import runs in the background.
pub async fn create(
    State(app): State<Arc<App>>,
    Path(ws): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let principal = authenticate(&app, &headers).await?;
    let workspace = authorize(&app, &ws, &principal, Role::Contributor).await?;
    let mut multipart =
        multipart.map_err(|e| ApiError::BadRequest(format!("expected a multipart form: {e}")))?;
    let incoming = app
        .imports
        .files
        .incoming()
        .map_err(|e| ApiError::Internal(format!("cannot make the upload area: {e}")))?;
    // Whatever happens below, the streamed file does not stay.
    let _cleanup = RemoveOnDrop(incoming.clone());
    let limit = app
        .imports
        .limits
        .csv_bytes
        .max(app.imports.limits.json_bytes);
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut file_name: Option<String> = None;
    let mut size = 0u64;
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("the multipart form could not be read: {e}"))
    };
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            if file_name.is_some() {
                return Err(ApiError::BadRequest("more than one file field".into()));
            }
            file_name = Some(field.file_name().unwrap_or("upload").to_owned());
            let mut out = tokio::fs::File::create(&incoming)
                .await
                .map_err(|e| ApiError::Internal(format!("cannot store the upload: {e}")))?;
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                size += chunk.len() as u64;
                if size > limit {
                    return Err(ApiError::TooLarge(format!(
                        "the file is larger than {limit} bytes, the most an import accepts"
                    )));
                }
                out.write_all(&chunk)
                    .await
                    .map_err(|e| ApiError::Internal(format!("cannot store the upload: {e}")))?;
            }
            out.flush()
                .await
                .map_err(|e| ApiError::Internal(format!("cannot store the upload: {e}")))?;
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                value.extend_from_slice(&chunk);
                if value.len() > MAX_FIELD_BYTES {
                    return Err(ApiError::BadRequest(format!("field {name:?} is too long")));
                }
            }
            let value = String::from_utf8(value)
                .map_err(|_| ApiError::BadRequest(format!("field {name:?} is not UTF-8")))?;
            fields.insert(name, value);
        }
    }
    let file_name =
        file_name.ok_or_else(|| ApiError::BadRequest("the form has no file field".into()))?;
    let source = fields
        .get("source")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("the form needs a non-empty source field".into()))?;
    let format = match fields.get("format").map(|f| f.trim().to_ascii_lowercase()) {
        None => None,
        Some(f) if f.is_empty() || f == "auto" => None,
        Some(f) if f == "csv" => Some(ImportFormat::Csv),
        Some(f) if f == "json" => Some(ImportFormat::Json),
        Some(f) => {
            return Err(ApiError::BadRequest(format!(
                "format must be csv or json, not {f:?}"
            )))
        }
    };
    let mode = match fields.get("mode").map(|m| m.trim().to_ascii_lowercase()) {
        None => ImportMode::ValidOnly,
        Some(m) if m.is_empty() || m == "valid-only" => ImportMode::ValidOnly,
        Some(m) if m == "all-or-nothing" => ImportMode::AllOrNothing,
        Some(m) => {
            return Err(ApiError::BadRequest(format!(
                "mode must be valid-only or all-or-nothing, not {m:?}"
            )))
        }
    };
    let request = FileImport {
        workspace,
        source,
        file_name,
        format,
        mode,
    };
    let app2 = app.clone();
    let path = incoming.clone();
    let queued = blocking(move || {
        let i = &app2.imports;
        import::queue(&*app2.store, &i.files, &request, &path, &i.limits, &i.owner)
    })
    .await?;
    let (record, job) = match queued {
        Ok(q) => q,
        Err(e @ QueueError::TooLarge { .. }) => return Err(ApiError::TooLarge(e.to_string())),
        Err(QueueError::UnknownWorkspace(w)) => {
            return Err(ApiError::NotFound(format!("workspace {w} not found")))
        }
        Err(e) => return Err(ApiError::Internal(e.to_string())),
    };
    let app2 = app.clone();
    let thread = std::thread::Builder::new()
        .name(format!("import-{}", record.id))
        .spawn(move || {
            let id = job.id;
            let started = std::time::Instant::now();
            let status = match import::run(&*app2.store, &job, &mut |f| Box::new(f)) {
                Ok(ended) => {
                    tracing::info!(import = %id, status = %ended.finish.status,
                        total = ended.finish.total, imported = ended.finish.imported,
                        invalid = ended.finish.invalid, "import ended");
                    ended.finish.status.as_str().to_owned()
                }
                Err(e) => {
                    tracing::error!(import = %id, error = %e, "import failed");
                    "failed".to_owned()
                }
            };
            app2.metrics
                .import_seconds
                .get_or_create(&crate::metrics::ImportLabels { status })
                .observe(started.elapsed().as_secs_f64());
        })
        .map_err(|e| ApiError::Internal(format!("cannot start the import: {e}")))?;
    app.imports.track(thread);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": record.id.to_string(), "status": record.status.as_str()})),
    )
        .into_response())
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `GET …/imports?sort=source|name|imported|total|created&order=asc|desc`.
pub async fn list(
    State(app): State<Arc<App>>,
    Path(ws): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = authenticate(&app, &headers).await?;
    let workspace = authorize(&app, &ws, &principal, Role::Reader).await?;
    let sort = match q.get("sort").map(String::as_str) {
        None | Some("") | Some("created") => ImportSort::Created,
        Some("source") => ImportSort::Source,
        Some("name") => ImportSort::Name,
        Some("imported") => ImportSort::Imported,
        Some("total") => ImportSort::Total,
        Some(s) => {
            return Err(ApiError::BadRequest(format!(
                "sort must be source, name, imported, total or created, not {s:?}"
            )))
        }
    };
    let order = match q.get("order").map(String::as_str) {
        None | Some("") | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(o) => {
            return Err(ApiError::BadRequest(format!(
                "order must be asc or desc, not {o:?}"
            )))
        }
    };
    let app2 = app.clone();
    let records = blocking(move || app2.store.imports(workspace, sort, order)).await??;
    let views: Vec<RecordView> = records.iter().map(RecordView::of).collect();
    Ok(Json(views).into_response())
}

async fn record(
    app: &Arc<App>,
    headers: &HeaderMap,
    ws: &str,
    id: &str,
) -> Result<store::ImportRecord, ApiError> {
    let principal = authenticate(app, headers).await?;
    let workspace = authorize(app, ws, &principal, Role::Reader).await?;
    let not_found = || ApiError::NotFound(format!("import {id} not found"));
    let id = ImportId::parse(id).map_err(|_| not_found())?;
    let app2 = app.clone();
    blocking(move || app2.store.import(workspace, id))
        .await??
        .ok_or_else(not_found)
}

/// `GET …/imports/{id}`.
pub async fn get(
    State(app): State<Arc<App>>,
    Path((ws, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let r = record(&app, &headers, &ws, &id).await?;
    Ok(Json(RecordView::of(&r)).into_response())
}

/// `GET …/imports/{id}/errors`: the error file, or with `?preview=N` its first N entries as JSON.
pub async fn errors(
    State(app): State<Arc<App>>,
    Path((ws, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let r = record(&app, &headers, &ws, &id).await?;
    let Some(path) = r.error_path.clone() else {
        return Err(ApiError::NotFound(format!(
            "import {id} has no error file (no invalid records, not finished, or expired)"
        )));
    };
    if let Some(n) = q.get("preview") {
        let n: usize = n.parse().ok().filter(|n| *n <= 10_000).ok_or_else(|| {
            ApiError::BadRequest(format!("preview must be 0 to 10000, not {n:?}"))
        })?;
        let entries = blocking(move || ingest::errorfile::preview(&path, n))
            .await?
            .map_err(|e| ApiError::Internal(format!("cannot read the error file: {e}")))?;
        return Ok(Json(entries).into_response());
    }
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::NotFound(format!(
                "the error file of import {id} has expired"
            )))
        }
        Err(e) => {
            return Err(ApiError::Internal(format!(
                "cannot read the error file: {e}"
            )))
        }
    };
    let (content_type, ext) = match r.format {
        ImportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ImportFormat::Json => ("application/json", "json"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"errors-{id}.{ext}\""),
            ),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(file)),
    )
        .into_response())
}

/// `GET /templates/{name}`: `csv-file`, `csv-other` or `json`. No token needed: they are
/// documentation.
pub async fn template(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (text, content_type) = tiport_core::templates::by_name(&name).ok_or_else(|| {
        ApiError::NotFound(format!("no template {name:?}: csv-file, csv-other or json"))
    })?;
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
