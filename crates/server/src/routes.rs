//! The routes, the handlers of uploads and object queries, and what every handler shares:
//! authentication, throttling, roles, blocking work.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use store::{Role, WorkspaceId};
use tiport_core::auth::{AccessError, AuthError};
use tiport_core::error::ErrorKind;
use tiport_core::oidc::Refresh;
use tiport_core::query::{self, ListParams, ObjectPage, ObjectParams, QueryError, Versions};

use crate::answers::{read_upload, AnswerPermit};
use crate::error::ApiError;
use crate::params::Params;
use crate::token::{jwks, openid_configuration, token};
use crate::{imports, App};

/// The `api-version` of the current upload API, and of the legacy upload-indicators API.
const UPLOAD_API_VERSION: &str = "2024-02-01-preview";
const LEGACY_API_VERSION: &str = "2022-07-01";

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        // Entra ID's paths, so that clients built for it need only a different base URL.
        .route(
            "/{id}/oauth2/v2.0/token",
            // A token request is a few hundred bytes of form.
            post(token).layer(DefaultBodyLimit::max(16 << 10)),
        )
        .route(
            "/{id}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{id}/discovery/v2.0/keys", get(jwks))
        .route(
            "/workspaces/{id}/threat-intelligence-stix-objects:upload",
            post(upload::<false>),
        )
        .route(
            "/workspaces/{id}/threatintelligence:upload-indicators",
            post(upload::<true>),
        )
        .route(
            "/{id}/threatintelligence:upload-indicators",
            post(upload::<true>),
        )
        .route(
            "/workspaces/{id}/threat-intelligence/objects",
            get(list_objects),
        )
        .route(
            "/workspaces/{id}/threat-intelligence/objects/{object}",
            get(get_object),
        )
        .route(
            "/workspaces/{id}/threat-intelligence/objects/{object}/versions",
            get(get_versions),
        )
        .route(
            "/workspaces/{id}/threat-intelligence/imports",
            post(imports::create)
                .get(imports::list)
                // The form's file is streamed to disk under its own limit (imports.rs).
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/workspaces/{id}/threat-intelligence/imports/{import}",
            get(imports::get),
        )
        .route(
            "/workspaces/{id}/threat-intelligence/imports/{import}/errors",
            get(imports::errors),
        )
        .route("/templates/{name}", get(imports::template))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .merge(crate::web::routes())
        .layer(axum::middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a blocking task failed: {e}")))
}

// --- Upload ---

/// The upload APIs' query string.
#[derive(Deserialize)]
struct UploadParams {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

/// The two upload routes, one handler: the current API (`LEGACY = false`) and the legacy
/// upload-indicators API, which differ in the api-version they require and in the answer to a
/// success (the legacy clients parse every 200's body).
async fn upload<const LEGACY: bool>(
    State(app): State<Arc<App>>,
    Path(ws): Path<String>,
    Params(params): Params<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let api_version = if LEGACY {
        LEGACY_API_VERSION
    } else {
        UPLOAD_API_VERSION
    };
    check_api_version(params.api_version.as_deref(), api_version)?;
    check_json_content_type(&headers)?;
    let principal = authenticate(&app, &headers).await?;
    throttle(&app, &principal)?;
    let workspace = authorize(&app, &ws, &principal, Role::Contributor).await?;
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Held (with its share of the upload memory) until the upload is done with it.
    let body = read_upload(
        &app.upload_memory,
        &principal,
        content_length,
        body,
        app.limits.max_upload_bytes,
    )
    .await?;
    let request = uuid::Uuid::new_v4().to_string();
    let max = app.limits.max_objects_per_request;
    let store = app.store.clone();
    let done = blocking(move || {
        tiport_core::upload::upload(&*store, workspace, &body.bytes, &request, max)
    })
    .await??;
    app.metrics.objects_accepted.inc_by(done.accepted as u64);
    app.metrics
        .objects_rejected
        .inc_by(done.errors.len() as u64);
    Ok(if done.errors.is_empty() && LEGACY {
        // The legacy API's clients call `response.json()` on every 200.
        (StatusCode::OK, Json(json!({}))).into_response()
    } else if done.errors.is_empty() {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::OK, Json(json!({ "errors": done.errors }))).into_response()
    })
}

/// The `api-version` a request names must be the API's.
fn check_api_version(asked: Option<&str>, api_version: &str) -> Result<(), ApiError> {
    let bad = |m: String| Err(ApiError::new(ErrorKind::BadRequest, m));
    match asked {
        None => bad(format!(
            "the api-version query parameter is required (api-version={api_version})"
        )),
        Some(v) if v != api_version => bad(format!(
            "api-version {v} is not supported here; use {api_version}"
        )),
        Some(_) => Ok(()),
    }
}

/// No `Content-Type` is read as JSON (some clients send none); an explicit other type is 415.
fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::UnsupportedFormat,
            format!("the body must be JSON (Content-Type: application/json), not {mime:?}"),
        ))
    }
}

/// The principal of the request's bearer token. A token of a trusted external issuer that
/// names a key we have not seen makes us fetch that issuer's JWKS again (issuers publish a new
/// key before they sign with it) and check the token once more.
pub(crate) async fn authenticate(app: &Arc<App>, headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::unauthorized)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(ApiError::unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthorized());
    }
    let token = token.trim();
    let mut verified = app.authority.verify(token);
    if let Err(AuthError::UnknownKey { issuer, .. }) = &verified {
        let issuer = issuer.clone();
        match app.authority.begin_refresh(&issuer) {
            Refresh::Start => {
                let (app2, issuer2) = (app.clone(), issuer.clone());
                if let Err(e) = blocking(move || app2.authority.fetch_keys(&issuer2)).await? {
                    tracing::warn!(%issuer, error = %e, "cannot refresh a trusted issuer's keys");
                }
            }
            Refresh::InFlight => {
                // Another request's fetch (or the one at start) may bring the key: wait for it
                // here, holding no thread, a little longer than its timeout.
                let wait = std::time::Duration::from_secs(12);
                let _ = tokio::time::timeout(wait, app.authority.fetch_finished(&issuer)).await;
            }
            Refresh::Recent => {}
        }
        // Whatever happened, the keys may have changed since the first check.
        verified = app.authority.verify(token);
    }
    match verified {
        Ok(identity) => Ok(identity.principal),
        Err(e) => {
            tracing::info!(error = %e, "token refused");
            Err(ApiError::unauthorized())
        }
    }
}

/// Per principal: a 429 with the seconds until a request would be let through.
pub(crate) fn throttle(app: &App, principal: &str) -> Result<(), ApiError> {
    let Some(limiter) = &app.limiter else {
        return Ok(());
    };
    limiter.check(principal).map_err(|wait| {
        // Whole seconds, rounded up, so that honouring it is always enough.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        app.metrics.throttled.inc();
        ApiError::throttled(secs.max(1))
    })
}

/// The workspace, if the principal has at least `needed` on it: an unknown workspace and one
/// the principal has no role on are both 404.
pub(crate) async fn authorize(
    app: &Arc<App>,
    ws: &str,
    principal: &str,
    needed: Role,
) -> Result<WorkspaceId, ApiError> {
    let (store, ws2, who) = (app.store.clone(), ws.to_owned(), principal.to_owned());
    let allowed =
        blocking(move || tiport_core::auth::authorize(&*store, &ws2, &who, needed)).await?;
    if let Err(AccessError::NoRole { workspace, .. }) = &allowed {
        // The operator's clue when a new principal (an external issuer's, named
        // `<sub>@<issuer>`) needs `tiport role grant`.
        tracing::info!(%principal, %workspace, "no role on the workspace");
    }
    Ok(allowed?)
}

// --- Queries ---

/// A JSON answer assembled from stored JSON texts, which are sent as they are (not parsed and
/// written again).
fn raw_json(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// The workspace `ws`, if the principal of the request may read it.
pub(crate) async fn reader(
    app: &Arc<App>,
    headers: &HeaderMap,
    ws: &str,
) -> Result<WorkspaceId, ApiError> {
    let principal = authenticate(app, headers).await?;
    authorize(app, ws, &principal, Role::Reader).await
}

/// As [`reader`], for an answer that may be large: with the permit that counts it against
/// the principal's large answers in progress.
pub(crate) async fn large_reader(
    app: &Arc<App>,
    headers: &HeaderMap,
    ws: &str,
) -> Result<(WorkspaceId, AnswerPermit), ApiError> {
    let principal = authenticate(app, headers).await?;
    let workspace = authorize(app, ws, &principal, Role::Reader).await?;
    Ok((workspace, AnswerPermit::take(app, &principal)?))
}

/// `GET …/objects`: a page of objects, `{"objects":[…],"next":…}`.
async fn list_objects(
    State(app): State<Arc<App>>,
    Path(ws): Path<String>,
    Params(params): Params<ListParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (workspace, permit) = large_reader(&app, &headers, &ws).await?;
    let store = app.store.clone();
    // The body is built on the blocking thread too: copying a page of megabytes is work.
    let body = blocking(move || query::list_objects(&*store, workspace, &params).map(objects_body))
        .await??;
    Ok(permit.hold(raw_json(body)))
}

/// The answer of a page: its objects' texts, copied as they are.
///
/// Written by hand rather than by serde with `serde_json::value::RawValue`, because this is the
/// hot path of every list and serde was measurably slower (criterion, 2026-12-05, this
/// project's 2-core machine; building the body from texts as the store hands them over): a
/// page of 1,000 indicators (1.4 MB) took 1.14 ms by hand, 2.68 ms with
/// `RawValue::from_string` (which parses every text again to check it is JSON), 1.45 ms with
/// the unsafe `RawValue::from_string_unchecked`; a page of four 1 MiB objects 3.6, 4.9 and
/// 4.4 ms. The texts need no check: the store keeps only what `stix` accepted, compacted by
/// `ingest::json::minify`. `next` is serialized by serde.
fn objects_body(page: ObjectPage) -> String {
    let bytes: usize = page.objects.iter().map(|o| o.len() + 1).sum();
    let mut body = String::with_capacity(bytes + 64);
    body.push_str("{\"objects\":[");
    // Each object's text is dropped once copied.
    for (i, o) in page.objects.into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&o);
    }
    body.push_str("],\"next\":");
    body.push_str(&serde_json::to_string(&page.next).expect("a string or null"));
    body.push('}');
    body
}

/// `GET …/objects/{object}`: its current version.
async fn get_object(
    State(app): State<Arc<App>>,
    Path((ws, object)): Path<(String, String)>,
    Params(params): Params<ObjectParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let workspace = reader(&app, &headers, &ws).await?;
    let store = app.store.clone();
    let text = blocking(move || query::object(&*store, workspace, &object, &params)).await??;
    Ok(raw_json(text))
}

/// `GET …/objects/{object}/versions`: `{"versions":[…]}`, oldest first, streamed a batch at a
/// time: an object may have thousands of versions of megabytes each. Each batch is read on a
/// blocking thread that is given back before the batch is sent, so a client that reads slowly
/// holds neither a thread nor a read of the store. The first batch decides the status (none:
/// 404); a failure after it can only cut the answer short.
async fn get_versions(
    State(app): State<Arc<App>>,
    Path((ws, object)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (workspace, permit) = large_reader(&app, &headers, &ws).await?;
    let versions = query::versions(workspace, &object)?;
    let (versions, head) = next_versions(&app, versions, "{\"versions\":[").await?;
    // An object without versions is a 404 on the first batch, so the first is never `None`.
    let head = Bytes::from(head?.unwrap_or_default());
    let rest = futures_util::stream::unfold(Some(versions), move |state| {
        let app = app.clone();
        async move {
            let versions = state?;
            let (chunk, next) = match next_versions(&app, versions, ",").await {
                Ok((_, Ok(None))) => (Ok(Bytes::from_static(b"]}")), None),
                Ok((versions, Ok(Some(chunk)))) => (Ok(Bytes::from(chunk)), Some(versions)),
                Ok((_, Err(e))) => (Err(std::io::Error::other(e.to_string())), None),
                Err(_) => (Err(std::io::Error::other("a blocking task failed")), None),
            };
            Some((chunk, next))
        }
    });
    let body = Body::from_stream(futures_util::stream::once(async move { Ok(head) }).chain(rest));
    Ok(permit.hold(([(header::CONTENT_TYPE, "application/json")], body).into_response()))
}

/// The next batch of `versions` as a piece of the answer (after `lead`), read on a blocking
/// thread, with `versions` to read on from; `None` once every version was read.
async fn next_versions(
    app: &Arc<App>,
    mut versions: Versions,
    lead: &'static str,
) -> Result<(Versions, Result<Option<String>, QueryError>), ApiError> {
    let store = app.store.clone();
    blocking(move || {
        let batch = versions.next_batch(&*store);
        let chunk = batch.map(|b| b.map(|b| versions_chunk(lead, &b)));
        (versions, chunk)
    })
    .await
}

/// `lead` and the versions' texts, separated by commas (by hand, as [`objects_body`] says
/// why).
fn versions_chunk(lead: &str, versions: &[String]) -> String {
    let mut chunk =
        String::with_capacity(lead.len() + versions.iter().map(|o| o.len() + 1).sum::<usize>());
    chunk.push_str(lead);
    for (i, o) in versions.iter().enumerate() {
        if i > 0 {
            chunk.push(',');
        }
        chunk.push_str(o);
    }
    chunk
}

// --- Operations ---

/// Counts every answer by route pattern, method and status, and times it.
async fn track(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method()).to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let labels = crate::metrics::RequestLabels {
        route,
        method,
        status: response.status().as_u16(),
    };
    app.metrics
        .request_seconds
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    app.metrics.requests.get_or_create(&labels).inc();
    let mut response = response;
    // A stored object may hold `<script>`: no answer of ours is to be sniffed into HTML.
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A method as a metric label: one of a fixed set, so that a client inventing methods
/// (`M0001`, `M0002`, …) cannot add a series per name.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let (running, waiting) = app.imports.occupancy();
    app.metrics.imports_running.set(running as i64);
    app.metrics.imports_waiting.set(waiting as i64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

/// The OpenAPI document of every route (`openapi.json` beside this file; a test checks that it
/// names every route the router has).
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
