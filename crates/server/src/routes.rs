//! The routes and their handlers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use std::net::SocketAddr;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Form, Json, Router};
use futures_util::StreamExt;
use serde_json::json;
use store::{Role, WorkspaceId};
use tiport_core::auth::AuthError;
use tiport_core::export::ObjectForm;
use tiport_core::oidc::Refresh;
use tiport_core::query::{ListParams, QueryError};
use tiport_core::upload::UploadError;

use crate::answers::{read_upload, AnswerPermit};
use crate::error::ApiError;
use crate::listener::Secure;
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
            post(upload_current),
        )
        .route(
            "/workspaces/{id}/threatintelligence:upload-indicators",
            post(upload_legacy),
        )
        .route(
            "/{id}/threatintelligence:upload-indicators",
            post(upload_legacy),
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
        .layer(axum::middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("a blocking task failed: {e}")))
}

// --- Tokens ---

/// An OAuth 2.0 error answer (RFC 6749 §5.2), which token clients parse.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// The token endpoint's answers carry credentials or say something about them: no cache may
/// keep them (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Throttled or busy: 429 with `Retry-After`, in OAuth's words.
fn oauth_retry(secs: u64, description: &str) -> Response {
    let mut r = oauth_error(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        description,
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    r
}

async fn token(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    secure: Option<Extension<Secure>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let base = client_base(&app, &headers, secure);
    no_store(token_answer(app, tenant, peer, &base, form).await)
}

async fn token_answer(
    app: Arc<App>,
    tenant: String,
    peer: SocketAddr,
    base: &str,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    if tenant != app.authority.tenant() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "unknown tenant");
    }
    let form = match form {
        Ok(Form(f)) => f,
        Err(rejection) => {
            // Every refusal in OAuth's form, which token clients parse, with the status the
            // rejection itself chose (415 for another content type, 413 for a body past the
            // limit), or 408 for a body that arrived too slowly.
            let status = if crate::error::is_too_slow(&rejection) {
                StatusCode::REQUEST_TIMEOUT
            } else {
                rejection.status()
            };
            return oauth_error(
                status,
                "invalid_request",
                &format!(
                    "the request must be a form (application/x-www-form-urlencoded): {}",
                    rejection.body_text()
                ),
            );
        }
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        );
    }
    let Some(audience) = form
        .get("scope")
        .and_then(|s| app.authority.audience_for_scope(s))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "scope must be https://management.azure.com/.default (or another accepted audience)",
        );
    };
    let (Some(id), Some(secret)) = (form.get("client_id"), form.get("client_secret")) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id and client_secret are required",
        );
    };
    let address = peer.ip();
    let attempt = match app.guard.admit(id, address) {
        Ok(attempt) => attempt,
        Err(wait) => {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            tracing::warn!(client_id = ?shorten(id), %address, "token request refused: too many failed attempts");
            return oauth_retry(
                secs,
                &format!(
                    "too many failed attempts; try again in {} seconds",
                    secs.max(1)
                ),
            );
        }
    };
    // From here the attempt counts as a failure unless it succeeds: a client that hangs up
    // before its answer has still had its guess checked.
    let (app2, id2) = (app.clone(), id.clone());
    let hash = match blocking(move || app2.authority.client_secret_hash(&*app2.store, &id2)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            attempt.withdraw();
            return ApiError::Internal(e.to_string()).into_response();
        }
        Err(e) => {
            attempt.withdraw();
            return e.into_response();
        }
    };
    // The hash is checked on the guard's threads: an unknown client costs what a known one
    // does, and no more checks run at once than there are threads.
    let (tx, rx) = tokio::sync::oneshot::channel();
    if app
        .guard
        .verify(secret.clone(), hash, move |ok| {
            let _ = tx.send(ok);
        })
        .is_err()
    {
        // Nothing was checked: not a failure.
        attempt.withdraw();
        return oauth_retry(
            1,
            "the service is busy checking other secrets; try again shortly",
        );
    }
    let Ok(true) = rx.await else {
        tracing::warn!(client_id = ?shorten(id), %address, "token request refused: unknown client or wrong secret");
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    };
    attempt.succeeded();
    match app.authority.token_for(id, &audience, base) {
        Ok(t) => Json(t).into_response(),
        Err(e) => ApiError::Internal(e.to_string()).into_response(),
    }
}

/// A name from a request as it goes in the log: at most 64 characters (the log shows it
/// quoted and escaped).
fn shorten(name: &str) -> String {
    name.chars().take(64).collect()
}

/// Where this request's client reaches the service (see `Authority::base_url`).
fn client_base(app: &App, headers: &HeaderMap, secure: Option<Extension<Secure>>) -> String {
    let scheme = match secure {
        Some(Extension(Secure(true))) => "https",
        _ => "http",
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    app.authority.base_url(scheme, host)
}

async fn openid_configuration(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    secure: Option<Extension<Secure>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if tenant != app.authority.tenant() {
        return Err(ApiError::NotFound("unknown tenant".into()));
    }
    // The URLs a client is sent to are the ones it used to get here (or the pinned public
    // URL): a client that reached us as `https://ti.example.com` must not be sent to the
    // address we listen on, whose certificate it cannot verify.
    let base = client_base(&app, &headers, secure);
    let t = app.authority.tenant();
    // The answer depends on the Host a client sent: a cache between clients and the service
    // must neither keep it nor hand one client's answer to another.
    let headers = [(header::CACHE_CONTROL, "no-store"), (header::VARY, "Host")];
    Ok((
        headers,
        Json(json!({
            "issuer": app.authority.issuer(&base),
            "token_endpoint": format!("{base}/{t}/oauth2/v2.0/token"),
            // MSAL-based clients look for it; tiport has no interactive sign-in for clients.
            "authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/authorize"),
            "jwks_uri": format!("{base}/{t}/discovery/v2.0/keys"),
            "response_types_supported": ["token"],
            "grant_types_supported": ["client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "tenant_region_scope": null,
        })),
    )
        .into_response())
}

async fn jwks(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    if tenant != app.authority.tenant() {
        return Err(ApiError::NotFound("unknown tenant".into()));
    }
    Ok(Json(app.authority.jwks()).into_response())
}

// --- Upload ---

async fn upload_current(
    State(app): State<Arc<App>>,
    Path(ws): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    upload(app, ws, query, headers, body, UPLOAD_API_VERSION).await
}

async fn upload_legacy(
    State(app): State<Arc<App>>,
    Path(ws): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    upload(app, ws, query, headers, body, LEGACY_API_VERSION).await
}

async fn upload(
    app: Arc<App>,
    ws: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Body,
    api_version: &str,
) -> Result<Response, ApiError> {
    match query.get("api-version") {
        None => {
            return Err(ApiError::BadRequest(format!(
                "the api-version query parameter is required (api-version={api_version})"
            )))
        }
        Some(v) if v != api_version => {
            return Err(ApiError::BadRequest(format!(
                "api-version {v} is not supported here; use {api_version}"
            )))
        }
        Some(_) => {}
    }
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
    let app2 = app.clone();
    let result = blocking(move || {
        tiport_core::upload::upload(&*app2.store, workspace, &body.bytes, &request, max)
    })
    .await?;
    match result {
        Ok(done) => {
            app.metrics.objects_accepted.inc_by(done.accepted as u64);
            app.metrics
                .objects_rejected
                .inc_by(done.errors.len() as u64);
            if done.errors.is_empty() && api_version == LEGACY_API_VERSION {
                // The legacy API's clients call `response.json()` on every 200.
                Ok((StatusCode::OK, Json(json!({}))).into_response())
            } else if done.errors.is_empty() {
                Ok(StatusCode::OK.into_response())
            } else {
                Ok((StatusCode::OK, Json(json!({ "errors": done.errors }))).into_response())
            }
        }
        Err(UploadError::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::BadRequest(e.to_string())),
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
        Err(ApiError::UnsupportedMediaType(format!(
            "the body must be JSON (Content-Type: application/json), not {mime:?}"
        )))
    }
}

/// The principal of the request's bearer token. A token of a trusted external issuer that
/// names a key we have not seen makes us fetch that issuer's JWKS again (issuers publish a new
/// key before they sign with it) and check the token once more.
pub(crate) async fn authenticate(app: &Arc<App>, headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(ApiError::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized);
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
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(12);
                while app.authority.fetch_in_flight(&issuer)
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
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
            Err(ApiError::Unauthorized)
        }
    }
}

/// Per principal: a 429 with the seconds until a request would be let through.
pub(crate) fn throttle(app: &App, principal: &str) -> Result<(), ApiError> {
    let Some(limiter) = &app.limiter else {
        return Ok(());
    };
    match limiter.check(principal) {
        Ok(()) => Ok(()),
        Err(wait) => {
            // Whole seconds, rounded up, so that honouring it is always enough.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            app.metrics.throttled.inc();
            Err(ApiError::TooManyRequests(secs.max(1)))
        }
    }
}

/// The workspace, if the principal has at least `needed` on it: an unknown workspace and one
/// the principal has no role on are both 404.
pub(crate) async fn authorize(
    app: &Arc<App>,
    ws: &str,
    principal: &str,
    needed: Role,
) -> Result<WorkspaceId, ApiError> {
    let not_found = || ApiError::NotFound(format!("workspace {ws} not found"));
    let workspace = WorkspaceId::parse(ws).map_err(|_| not_found())?;
    let (app2, who) = (app.clone(), principal.to_owned());
    let role = blocking(move || app2.store.role(workspace, &who)).await??;
    match (role, needed) {
        (None, _) => {
            // The operator's clue when a new principal (an external issuer's, named
            // `<sub>@<issuer>`) needs `tiport role grant`.
            tracing::info!(%principal, %workspace, "no role on the workspace");
            Err(not_found())
        }
        (Some(Role::Reader), Role::Contributor) => Err(ApiError::Forbidden(
            "the reader role cannot upload; a contributor role on the workspace is needed".into(),
        )),
        (Some(_), _) => Ok(workspace),
    }
}

// --- Queries ---

/// A JSON answer assembled from stored JSON texts, which are sent as they are (not parsed and
/// written again).
fn raw_json(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::BadParameter(m) => ApiError::BadRequest(m),
        QueryError::Store(e) => e.into(),
    }
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

async fn list_objects(
    State(app): State<Arc<App>>,
    Path(ws): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (workspace, permit) = large_reader(&app, &headers, &ws).await?;
    let form = form_of(&q)?;
    let params = ListParams {
        object_type: q.get("type").cloned(),
        source: q.get("source").cloned(),
        observable: q.get("observable").cloned(),
        label: q.get("label").cloned(),
        valid_at: q.get("valid_at").cloned(),
        revoked: q.get("revoked").cloned(),
        limit: q.get("limit").cloned(),
        cursor: q.get("cursor").cloned(),
    };
    let app2 = app.clone();
    let page = blocking(move || tiport_core::query::list(&*app2.store, workspace, &params))
        .await?
        .map_err(query_error)?;
    let bytes: usize = page.objects.iter().map(|o| o.json.len() + 1).sum();
    let mut body = String::with_capacity(bytes + 64);
    body.push_str("{\"objects\":[");
    // Each object's text is dropped once copied: the page is held once, not twice.
    for (i, o) in page.objects.into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&form.text(&o));
    }
    body.push_str("],\"next\":");
    body.push_str(&serde_json::to_string(&page.next).expect("a string or null"));
    body.push('}');
    Ok(permit.hold(raw_json(body)))
}

/// `?original=true`: objects as stored, not upgraded to valid STIX 2.1.
fn form_of(q: &HashMap<String, String>) -> Result<ObjectForm, ApiError> {
    match q.get("original").map(String::as_str) {
        None | Some("") | Some("false") => Ok(ObjectForm::Stix21),
        Some("true") => Ok(ObjectForm::Original),
        Some(v) => Err(ApiError::BadRequest(format!(
            "original must be true or false, not {v:?}"
        ))),
    }
}

async fn get_object(
    State(app): State<Arc<App>>,
    Path((ws, object)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let workspace = reader(&app, &headers, &ws).await?;
    let form = form_of(&q)?;
    let id = tiport_core::query::parse_id(&object).map_err(query_error)?;
    let app2 = app.clone();
    let found = blocking(move || app2.store.current(workspace, &id)).await??;
    match found {
        Some(o) => Ok(raw_json(form.text(&o).into_owned())),
        None => Err(ApiError::NotFound(format!("object {object} not found"))),
    }
}

async fn get_versions(
    State(app): State<Arc<App>>,
    Path((ws, object)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (workspace, permit) = large_reader(&app, &headers, &ws).await?;
    let id = tiport_core::query::parse_id(&object).map_err(query_error)?;
    // Streamed, a batch at a time: an object may have thousands of versions of megabytes
    // each. Each batch is read on a blocking thread that is given back before the batch is
    // sent, so a client that reads slowly holds neither a thread nor a read of the store.
    // The first batch decides the status (none: 404); a failure after it can only cut the
    // answer short.
    let (app2, id2) = (app.clone(), id.clone());
    let read = move |after: Option<stix::Timestamp>| {
        let (app, id) = (app2.clone(), id2.clone());
        blocking(move || version_batch(&*app.store, workspace, &id, after.as_ref()))
    };
    let (first, more) = read(None).await??;
    let Some(last) = first.last().map(|o| o.modified) else {
        return Err(ApiError::NotFound(format!("object {object} not found")));
    };
    let head = Bytes::from(versions_chunk("{\"versions\":[", &first));
    // The state between batches: where the next begins, if there is one.
    let next = more.then_some(last);
    let rest = futures_util::stream::unfold(Some(next), move |state| {
        let read = read.clone();
        async move {
            match state? {
                None => Some((Ok(Bytes::from_static(b"]}")), None)),
                Some(after) => match read(Some(after)).await {
                    // Nothing after `after` any more (nothing deletes versions today, but a
                    // batch found empty must still end the answer as valid JSON).
                    Ok(Ok((batch, _))) if batch.is_empty() => {
                        Some((Ok(Bytes::from_static(b"]}")), None))
                    }
                    Ok(Ok((batch, more))) => {
                        let next = batch.last().map(|o| o.modified).filter(|_| more);
                        let chunk = Bytes::from(versions_chunk(",", &batch));
                        Some((Ok(chunk), Some(next)))
                    }
                    Ok(Err(e)) => Some((Err(std::io::Error::other(e.to_string())), None)),
                    Err(_) => Some((Err(std::io::Error::other("a blocking task failed")), None)),
                },
            }
        }
    });
    let body = Body::from_stream(futures_util::stream::once(async move { Ok(head) }).chain(rest));
    Ok(permit.hold(([(header::CONTENT_TYPE, "application/json")], body).into_response()))
}

/// The most versions, and about the most bytes, read in one batch.
const VERSION_BATCH: usize = 256;
const VERSION_BATCH_BYTES: usize = 4 << 20;

/// Up to a batch of the versions of `id` after `after` (all, from the first, without it),
/// and whether there are more.
fn version_batch(
    store: &dyn store::Store,
    workspace: WorkspaceId,
    id: &stix::StixId,
    after: Option<&stix::Timestamp>,
) -> Result<(Vec<store::StoredObject>, bool), store::StoreError> {
    let (mut batch, mut bytes, mut more) = (Vec::new(), 0, false);
    store.scan_versions(workspace, id, after, &mut |o| {
        if batch.len() >= VERSION_BATCH || bytes >= VERSION_BATCH_BYTES {
            more = true;
            return false;
        }
        bytes += o.json.len();
        batch.push(o);
        true
    })?;
    Ok((batch, more))
}

/// `lead` and the versions' texts, separated by commas.
fn versions_chunk(lead: &str, versions: &[store::StoredObject]) -> String {
    let mut chunk = String::with_capacity(
        lead.len() + versions.iter().map(|o| o.json.len() + 1).sum::<usize>(),
    );
    chunk.push_str(lead);
    for (i, o) in versions.iter().enumerate() {
        if i > 0 {
            chunk.push(',');
        }
        chunk.push_str(&o.json);
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
