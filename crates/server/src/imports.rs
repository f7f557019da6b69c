//! File imports over HTTP (seed 000): upload by multipart form, the import run in the
//! background, its record, its error file, and the templates.
//!
//! The form is HTTP, so it is read here, under bounds of our own; what the form asks for, and
//! everything after it (recording the import, queueing it, running it), is
//! `tiport_core::import_queue`'s.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::json;
use store::{ImportFormat, Role};
use tiport_core::error::ErrorKind;
use tiport_core::import::{ImportForm, RecordView};
use tiport_core::query::{self, ErrorsParams, ImportErrors, ImportListParams};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;
use crate::params::Params;
use crate::routes::{authenticate, authorize, blocking, large_reader, reader, throttle};
use crate::App;

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

/// The longest an import's form may take to arrive.
const FORM_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, message)
}

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
    throttle(&app, &principal)?;
    let workspace = authorize(&app, &ws, &principal, Role::Contributor).await?;
    let record = receive(&app, &principal, workspace, &headers, body).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": record.id.to_string(), "status": record.status.as_str()})),
    )
        .into_response())
}

/// Reads an import's form from `body` and records and queues the import it asks for, in a
/// place of `principal`'s in the queue: the part of a file import that does not depend on how
/// the caller was authenticated (a token for the API, a session for the web UI), which the
/// caller has done, with the rate and the role.
pub(crate) async fn receive(
    app: &Arc<App>,
    principal: &str,
    workspace: store::WorkspaceId,
    headers: &HeaderMap,
    body: Body,
) -> Result<store::ImportRecord, ApiError> {
    // A place in the queue before the body is read: a refused import costs no disk, leaves no
    // record.
    let place = app.imports.reserve(principal)?;
    let boundary = multipart_boundary(headers)?;
    // Deleted whatever happens below (the import keeps a copy of its own).
    let files = app.imports.files().clone();
    let (incoming, file) = blocking(move || files.receive())
        .await?
        .map_err(|e| ApiError::internal(format!("cannot make the upload area: {e}")))?;
    let form = read_form_in_time(app, boundary, body, file).await?;
    let request = form.request(workspace)?;
    // The import is recorded and queued by a task of its own: if the client hangs up now, the
    // import still runs (and is in the list), rather than being recorded and never run.
    Ok(
        tokio::task::spawn_blocking(move || place.post(&request, incoming))
            .await
            .map_err(|e| ApiError::internal(format!("the import could not be recorded: {e}")))??,
    )
}

fn multipart_boundary(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| {
            bad_request("expected a multipart form (Content-Type: multipart/form-data; boundary=…)")
        })
}

/// [`read_form`], which must arrive whole within [`FORM_DEADLINE`]: the minimum rate alone
/// would let one client take days over a file at the size limit, holding its place in the
/// queue.
async fn read_form_in_time(
    app: &App,
    boundary: String,
    body: Body,
    file: std::fs::File,
) -> Result<ImportForm, ApiError> {
    tokio::time::timeout(FORM_DEADLINE, read_form(app, boundary, body, file))
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorKind::TooSlow,
                format!(
                    "the form did not arrive within {} minutes; an import's file must be sent \
                     faster than that",
                    FORM_DEADLINE.as_secs() / 60
                ),
            )
        })?
}

/// Reads the form, streaming its file to `file`, and gives its text fields (those an import
/// reads; others are counted and skipped, never kept).
async fn read_form(
    app: &App,
    boundary: String,
    body: Body,
    file: std::fs::File,
) -> Result<ImportForm, ApiError> {
    let limit = app.imports.limits().largest();
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
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut form = ImportForm::default();
    // Taken by the file part: a form has one.
    let mut out = Some(tokio::fs::File::from_std(file));
    let (mut parts, mut text_bytes) = (0usize, 0usize);
    loop {
        heads.start();
        let next = multipart.next_field().await;
        heads.stop();
        let Some(field) = next.map_err(|e| form_error(e, limit))? else {
            break;
        };
        parts += 1;
        if parts > MAX_PARTS {
            return Err(bad_request(format!(
                "the form has more than {MAX_PARTS} parts; an import needs a file, source, format \
                 and mode"
            )));
        }
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let out = out
                .take()
                .ok_or_else(|| bad_request("more than one file field"))?;
            form.file_name = Some(field.file_name().unwrap_or("upload").to_owned());
            write_file(field, out, limit).await?;
        } else {
            let value = read_text(field, &name, &mut text_bytes, limit).await?;
            let Some(slot) = text_field(&mut form, &name) else {
                continue;
            };
            let value = String::from_utf8(value)
                .map_err(|_| bad_request(format!("field {name:?} is not UTF-8")))?;
            if slot.replace(value).is_some() {
                return Err(bad_request(format!(
                    "field {name:?} is given more than once"
                )));
            }
        }
    }
    Ok(form)
}

/// Where the form keeps the text field `name`, if it is one an import reads.
fn text_field<'f>(form: &'f mut ImportForm, name: &str) -> Option<&'f mut Option<String>> {
    match name {
        "source" => Some(&mut form.source),
        "format" => Some(&mut form.format),
        "mode" => Some(&mut form.mode),
        _ => None,
    }
}

/// Streams the file part to `out`, refusing it past `limit` bytes.
async fn write_file(
    mut field: multer::Field<'_>,
    mut out: tokio::fs::File,
    limit: u64,
) -> Result<(), ApiError> {
    let cannot_store =
        |e: std::io::Error| ApiError::internal(format!("cannot store the upload: {e}"));
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(|e| form_error(e, limit))? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::new(
                ErrorKind::TooLarge,
                format!("the file is larger than {limit} bytes, the most an import accepts"),
            ));
        }
        out.write_all(&chunk).await.map_err(cannot_store)?;
    }
    out.flush().await.map_err(cannot_store)
}

/// Reads a text part whole, within [`MAX_FIELD_BYTES`], counting it against the
/// [`MAX_TEXT_BYTES`] of all text parts together.
async fn read_text(
    mut field: multer::Field<'_>,
    name: &str,
    text_bytes: &mut usize,
    limit: u64,
) -> Result<Vec<u8>, ApiError> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| form_error(e, limit))? {
        value.extend_from_slice(&chunk);
        *text_bytes += chunk.len();
        if value.len() > MAX_FIELD_BYTES {
            return Err(bad_request(format!(
                "field {:?} is longer than {MAX_FIELD_BYTES} bytes",
                shorten(name)
            )));
        }
        if *text_bytes > MAX_TEXT_BYTES {
            return Err(bad_request(format!(
                "the form's text fields are longer than {MAX_TEXT_BYTES} bytes together"
            )));
        }
    }
    Ok(value)
}

/// Why the form could not be read: too slow (408), a part's head too long (400), past the
/// size limit (413), or not a form (400).
fn form_error(e: multer::Error, limit: u64) -> ApiError {
    if crate::error::is_too_slow(&e) {
        ApiError::new(ErrorKind::TooSlow, e.to_string())
    } else if let Some(m) = HeadBudget::exceeded(&e) {
        bad_request(m)
    } else if matches!(e, multer::Error::StreamSizeExceeded { .. }) {
        ApiError::new(
            ErrorKind::TooLarge,
            format!("the form is larger than {limit} bytes, the most an import accepts"),
        )
    } else {
        bad_request(format!("the multipart form could not be read: {e}"))
    }
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

/// `GET …/imports?sort=source|name|imported|total|created&order=asc|desc&limit=&cursor=`: a
/// page of the list (an array, as before paging), the next page named by a `Link` header
/// (`rel="next"`), as a page of objects is named by `next`.
pub async fn list(
    State(app): State<Arc<App>>,
    Path(ws): Path<String>,
    Params(params): Params<ImportListParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (workspace, permit) = large_reader(&app, &headers, &ws).await?;
    let (store, asked) = (app.store.clone(), params.clone());
    let page = blocking(move || query::imports(&*store, workspace, &asked)).await??;
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

/// `v` safe in a query string: bytes other than letters, digits, `-`, `_` and `.` are
/// percent-encoded.
pub(crate) fn form_urlencoded(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET …/imports/{id}`.
pub async fn get(
    State(app): State<Arc<App>>,
    Path((ws, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let workspace = reader(&app, &headers, &ws).await?;
    let store = app.store.clone();
    let r = blocking(move || query::import(&*store, workspace, &id)).await??;
    Ok(Json(RecordView::of(&r)).into_response())
}

/// `GET …/imports/{id}/errors`: the error file, or with `?preview=N` its first N entries as JSON.
pub async fn errors(
    State(app): State<Arc<App>>,
    Path((ws, id)): Path<(String, String)>,
    Params(params): Params<ErrorsParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (workspace, permit) = large_reader(&app, &headers, &ws).await?;
    let (store, id2) = (app.store.clone(), id.clone());
    let found = blocking(move || query::import_errors(&*store, workspace, &id2, &params)).await??;
    Ok(permit.hold(match found {
        ImportErrors::Preview(entries) => Json(entries).into_response(),
        ImportErrors::File { file, format } => error_file_answer(file, format, &id),
    }))
}

/// Import `id`'s error file as a download, streamed, in its import's format (the API's and the
/// web UI's).
pub(crate) fn error_file_answer(file: std::fs::File, format: ImportFormat, id: &str) -> Response {
    let (content_type, ext) = match format {
        ImportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ImportFormat::Json => ("application/json", "json"),
    };
    let file = tokio::fs::File::from_std(file);
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
        .into_response()
}

/// `GET /templates/{name}`: `csv-file`, `csv-other` or `json`. No token needed: they are
/// documentation.
pub async fn template(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (text, content_type) = tiport_core::templates::by_name(&name).ok_or_else(|| {
        ApiError::new(
            ErrorKind::NotFound,
            format!("no template {name:?}: csv-file, csv-other or json"),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
