//! File imports over HTTP (seed 000): upload by multipart form, the import run in the
//! background, its record, its error file, and the templates.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::json;
use store::{ImportFormat, ImportId, ImportMode, Role};
use tiport_core::import::{self, FileImport, QueueError, RecordView};
use tiport_core::query::{ImportListParams, QueryError};
use tiport_core::source::{SourceError, SourceName};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;
use crate::routes::{authenticate, authorize, blocking, large_reader, reader};
use crate::{App, NoPlace};

/// Bounds of the import form, which a client could otherwise make as large as it likes
/// before the service even knows whether there is a file in it: 80,000 text fields of 3 KB
/// each held 184 MiB. The file itself is streamed to disk under the import size limits.
const MAX_PARTS: usize = 16;
/// One text field (source, format, mode).
const MAX_FIELD_BYTES: usize = 4096;
/// All text fields together.
const MAX_TEXT_BYTES: usize = 16 << 10;
/// The head of one part (its boundary line and headers) and whatever comes before the first.
const MAX_PART_HEAD_BYTES: usize = 16 << 10;
/// The form fields the import reads; others are counted and skipped, never kept.
const KNOWN_FIELDS: [&str; 3] = ["source", "format", "mode"];

/// `POST /workspaces/{ws}/threat-intelligence/imports`: fields `file`, `format` (`csv`|`json`),
/// `source`, `mode` (`valid-only`|`all-or-nothing`); the file is streamed to disk, never held in
/// memory, and refused with 413 as soon as it passes the larger of the two size limits (the
/// limit of its format is checked once the format is known). Answers 202 with the import's id;
/// the import runs in the background.
pub async fn create(
    State(app): State<Arc<App>>,
    Path(ws): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = authenticate(&app, &headers).await?;
    // An import is a request like any other: it counts against the principal's rate.
    crate::routes::throttle(&app, &principal)?;
    let workspace = authorize(&app, &ws, &principal, Role::Contributor).await?;
    // A place in the queue before the body is read: a refused import costs no disk, leaves no
    // record. (With the embedded store, recording an import waits for one that is writing,
    // so imports being posted count as waiting too.)
    let place = crate::Imports::reserve(&app, &principal).map_err(|why| match why {
        NoPlace::Full(waiting) => ApiError::Busy {
            message: format!(
                "{waiting} imports are already waiting to run; try again when some have finished"
            ),
            retry_after: 30,
        },
        NoPlace::Posting => ApiError::Busy {
            message: "you are already posting as many imports at once as one client may; \
                      try again when one of them has been accepted"
                .into(),
            retry_after: 10,
        },
        NoPlace::Stopping => ApiError::Busy {
            message: "the service is stopping; post the import again when it is back".into(),
            retry_after: 30,
        },
    })?;
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "expected a multipart form (Content-Type: multipart/form-data; boundary=…)".into(),
            )
        })?;
    let incoming = app
        .imports
        .files
        .incoming()
        .map_err(|e| ApiError::Internal(format!("cannot make the upload area: {e}")))?;
    // Whatever happens below, the streamed file does not stay.
    let cleanup = RemoveOnDrop(incoming.clone());
    // The whole form must arrive within the deadline: the minimum rate alone would let one
    // client take days over a file at the size limit, holding its place in the queue.
    let form = tokio::time::timeout(FORM_DEADLINE, read_form(&app, boundary, body, &incoming))
        .await
        .map_err(|_| {
            ApiError::Timeout(format!(
                "the form did not arrive within {} minutes; an import's file must be sent \
                 faster than that",
                FORM_DEADLINE.as_secs() / 60
            ))
        })??;
    let request = form.request(workspace)?;
    // The import is recorded and queued by a task of its own: if the client hangs up now, the
    // import still runs (and is in the list), rather than being recorded and never run.
    let recorded = tokio::task::spawn_blocking(move || {
        let app = place.app.clone();
        let i = &app.imports;
        let queued = import::queue(
            &*app.store,
            &i.files,
            &request,
            &incoming,
            &i.limits,
            &i.owner,
        );
        drop(cleanup);
        let (record, job) = queued?;
        crate::Imports::submit(place, job);
        Ok::<_, QueueError>(record)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the import could not be recorded: {e}")))?;
    let record = match recorded {
        Ok(r) => r,
        Err(e @ QueueError::TooLarge { .. }) => return Err(ApiError::TooLarge(e.to_string())),
        Err(QueueError::UnknownWorkspace(w)) => {
            return Err(ApiError::NotFound(format!("workspace {w} not found")))
        }
        Err(e) => return Err(ApiError::Internal(e.to_string())),
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": record.id.to_string(), "status": record.status.as_str()})),
    )
        .into_response())
}

/// The longest an import's form may take to arrive.
const FORM_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// An import form as read: its file is on disk.
struct ImportForm {
    fields: HashMap<String, String>,
    file_name: Option<String>,
}

/// Reads the form, streaming its file to `incoming`.
async fn read_form(
    app: &App,
    boundary: String,
    body: Body,
    incoming: &std::path::Path,
) -> Result<ImportForm, ApiError> {
    let limit = app
        .imports
        .limits
        .csv_bytes
        .max(app.imports.limits.json_bytes);
    // Bytes read while multer looks for the next part's head: past the bound, the stream fails.
    let heads = Arc::new(HeadBudget::default());
    let stream = {
        let heads = heads.clone();
        http_body_util::BodyStream::new(body).map(move |frame| match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => heads.take(data.len()).map(|()| data),
                Err(_) => Ok(axum::body::Bytes::new()),
            },
            Err(e) => Err(e.into_inner()),
        })
    };
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limit + (MAX_TEXT_BYTES + MAX_PARTS * MAX_PART_HEAD_BYTES) as u64),
    );
    let mut form = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut file_name: Option<String> = None;
    let mut size = 0u64;
    let (mut parts, mut text_bytes) = (0usize, 0usize);
    let bad = |e: multer::Error| {
        if crate::error::is_too_slow(&e) {
            ApiError::Timeout(e.to_string())
        } else if let Some(m) = HeadBudget::exceeded(&e) {
            ApiError::BadRequest(m)
        } else if matches!(e, multer::Error::StreamSizeExceeded { .. }) {
            ApiError::TooLarge(format!(
                "the form is larger than {limit} bytes, the most an import accepts"
            ))
        } else {
            ApiError::BadRequest(format!("the multipart form could not be read: {e}"))
        }
    };
    loop {
        heads.start();
        let next = form.next_field().await;
        heads.stop();
        let Some(mut field) = next.map_err(bad)? else {
            break;
        };
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::BadRequest(format!(
                "the form has more than {MAX_PARTS} parts; an import needs a file, source, format \
                 and mode"
            )));
        }
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            if file_name.is_some() {
                return Err(ApiError::BadRequest("more than one file field".into()));
            }
            file_name = Some(field.file_name().unwrap_or("upload").to_owned());
            let mut out = tokio::fs::File::create(incoming)
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
                text_bytes += chunk.len();
                if value.len() > MAX_FIELD_BYTES {
                    return Err(ApiError::BadRequest(format!(
                        "field {:?} is longer than {MAX_FIELD_BYTES} bytes",
                        shorten(&name)
                    )));
                }
                if text_bytes > MAX_TEXT_BYTES {
                    return Err(ApiError::BadRequest(format!(
                        "the form's text fields are longer than {MAX_TEXT_BYTES} bytes together"
                    )));
                }
            }
            if !KNOWN_FIELDS.contains(&name.as_str()) {
                continue;
            }
            let value = String::from_utf8(value)
                .map_err(|_| ApiError::BadRequest(format!("field {name:?} is not UTF-8")))?;
            if fields.insert(name.clone(), value).is_some() {
                return Err(ApiError::BadRequest(format!(
                    "field {name:?} is given more than once"
                )));
            }
        }
    }
    Ok(ImportForm { fields, file_name })
}

impl ImportForm {
    /// The import the form asks for, or what is wrong with its fields.
    fn request(self, workspace: store::WorkspaceId) -> Result<FileImport, ApiError> {
        let fields = self.fields;
        let file_name = self
            .file_name
            .ok_or_else(|| ApiError::BadRequest("the form has no file field".into()))?;
        let source = match SourceName::parse(fields.get("source").map_or("", String::as_str)) {
            Ok(s) => s,
            Err(SourceError::Empty) => {
                return Err(ApiError::BadRequest(
                    "the form needs a non-empty source field".into(),
                ))
            }
            Err(e) => return Err(ApiError::BadRequest(format!("the source field {e}"))),
        };
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
        Ok(FileImport {
            workspace,
            source,
            file_name,
            format,
            mode,
        })
    }
}

/// Runs one import on a worker of the queue, at background priority.
pub(crate) fn run_one(app: &App, job: &import::ImportJob) {
    let id = job.id;
    let started = std::time::Instant::now();
    let status = match import::run(&*app.store, job, &mut |f| Box::new(f)) {
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
    app.metrics
        .import_seconds
        .get_or_create(&crate::metrics::ImportLabels { status })
        .observe(started.elapsed().as_secs_f64());
}

/// A part's name as an error message quotes it.
fn shorten(name: &str) -> String {
    name.chars().take(64).collect()
}

/// Counts the bytes multer reads while it looks for a part's head, and fails the stream past
/// [`MAX_PART_HEAD_BYTES`]: multer buffers a head until its blank line, however long. The
/// first chunk read in a search is not counted: it usually holds the head and the start of
/// the part's data, and its size is bounded by the connection's read buffer
/// ([`crate::ConnLimits::max_head_bytes`], 64 KiB). So multer holds at most that plus
/// [`MAX_PART_HEAD_BYTES`] (80 KiB) while it looks for a head.
#[derive(Default)]
struct HeadBudget {
    reading: std::sync::atomic::AtomicBool,
    chunks: std::sync::atomic::AtomicUsize,
    used: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error("a part of the form has a head (or preamble) longer than {MAX_PART_HEAD_BYTES} bytes")]
struct HeadTooLong;

impl HeadBudget {
    fn start(&self) {
        self.used.store(0, std::sync::atomic::Ordering::Relaxed);
        self.chunks.store(0, std::sync::atomic::Ordering::Relaxed);
        self.reading
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn stop(&self) {
        self.reading
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    fn take(&self, n: usize) -> Result<(), axum::BoxError> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.reading.load(Relaxed)
            && self.chunks.fetch_add(1, Relaxed) > 0
            && self.used.fetch_add(n, Relaxed) + n > MAX_PART_HEAD_BYTES
        {
            return Err(Box::new(HeadTooLong));
        }
        Ok(())
    }

    /// The message for a form that failed because a head was too long.
    fn exceeded(e: &multer::Error) -> Option<String> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if err.is::<HeadTooLong>() {
                return Some(err.to_string());
            }
            cur = err.source();
        }
        None
    }
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `GET …/imports?sort=source|name|imported|total|created&order=asc|desc&limit=&cursor=`: a
/// page of the list (an array, as before paging), the next page named by a `Link` header
/// (`rel="next"`), as a page of objects is named by `next`.
pub async fn list(
    State(app): State<Arc<App>>,
    Path(ws): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (workspace, permit) = large_reader(&app, &headers, &ws).await?;
    let params = ImportListParams {
        sort: q.get("sort").cloned(),
        order: q.get("order").cloned(),
        limit: q.get("limit").cloned(),
        cursor: q.get("cursor").cloned(),
    };
    let app2 = app.clone();
    let p2 = params.clone();
    let page = blocking(move || tiport_core::query::imports(&*app2.store, workspace, &p2))
        .await?
        .map_err(|e| match e {
            QueryError::BadParameter(m) => ApiError::BadRequest(m),
            QueryError::Store(e) => e.into(),
        })?;
    let views: Vec<RecordView> = page.records.iter().map(RecordView::of).collect();
    let mut response = Json(views).into_response();
    if let Some(next) = &page.next {
        let mut link =
            format!("</workspaces/{workspace}/threat-intelligence/imports?cursor={next}");
        for (k, v) in [
            ("sort", &params.sort),
            ("order", &params.order),
            ("limit", &params.limit),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                link.push_str(&format!("&{k}={}", form_urlencoded(v)));
            }
        }
        link.push_str(">; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(permit.hold(response))
}

/// `v` safe in a query string (the list's own parameters are plain words and numbers).
fn form_urlencoded(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn record(
    app: &Arc<App>,
    workspace: store::WorkspaceId,
    id: &str,
) -> Result<store::ImportRecord, ApiError> {
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
    let workspace = reader(&app, &headers, &ws).await?;
    let r = record(&app, workspace, &id).await?;
    Ok(Json(RecordView::of(&r)).into_response())
}

/// `GET …/imports/{id}/errors`: the error file, or with `?preview=N` its first N entries as JSON.
pub async fn errors(
    State(app): State<Arc<App>>,
    Path((ws, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (workspace, permit) = large_reader(&app, &headers, &ws).await?;
    let r = record(&app, workspace, &id).await?;
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
        return Ok(permit.hold(Json(entries).into_response()));
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
    Ok(permit.hold(
        (
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"errors-{id}.{ext}\""),
                ),
            ],
            Body::from_stream(tokio_util::io::ReaderStream::new(file)),
        )
            .into_response(),
    ))
}

/// `GET /templates/{name}`: `csv-file`, `csv-other` or `json`. No token needed: they are
/// documentation.
pub async fn template(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (text, content_type) = tiport_core::templates::by_name(&name).ok_or_else(|| {
        ApiError::NotFound(format!("no template {name:?}: csv-file, csv-other or json"))
    })?;
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
