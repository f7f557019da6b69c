//! tiport as its own OAuth 2.0 authorization server: the token endpoint (client credentials),
//! the OpenID configuration and the JWKS, on Entra ID's paths.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde_json::json;
use tiport_core::auth::IssuedToken;
use tiport_core::error::ErrorKind;
use tiport_core::guard::Attempt;

use crate::error::ApiError;
use crate::listener::Secure;
use crate::routes::blocking;
use crate::App;

/// Why a token is not issued: an OAuth 2.0 error (RFC 6749 §5.2), which token clients parse,
/// or a fault of the service, answered as every other fault is.
enum Refusal {
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: String,
        /// Throttled or busy: 429 with `Retry-After`.
        retry_after: Option<u64>,
    },
    Fault(ApiError),
}

fn oauth(status: StatusCode, error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal::OAuth {
        status,
        error,
        description: description.into(),
        retry_after: None,
    }
}

/// Throttled or busy, in OAuth's words.
fn oauth_retry(secs: u64, description: impl Into<String>) -> Refusal {
    Refusal::OAuth {
        status: StatusCode::TOO_MANY_REQUESTS,
        error: "temporarily_unavailable",
        description: description.into(),
        retry_after: Some(secs.max(1)),
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal::Fault(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::OAuth {
                status,
                error,
                description,
                retry_after,
            } => {
                let body = json!({"error": error, "error_description": description});
                let mut r = (status, Json(body)).into_response();
                if let Some(secs) = retry_after {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                r
            }
            Refusal::Fault(e) => e.into_response(),
        }
    }
}

/// The token endpoint's answers carry credentials or say something about them: no cache may
/// keep them (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /{tenant}/oauth2/v2.0/token`: a token for a client's id and secret.
pub async fn token(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    secure: Option<Extension<Secure>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let base = client_base(&app, &headers, secure);
    no_store(match token_answer(app, tenant, peer, &base, form).await {
        Ok(token) => Json(token).into_response(),
        Err(refusal) => refusal.into_response(),
    })
}

async fn token_answer(
    app: Arc<App>,
    tenant: String,
    peer: SocketAddr,
    base: &str,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<IssuedToken, Refusal> {
    if tenant != app.authority.tenant() {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown tenant",
        ));
    }
    let form = read_form(form)?;
    let request = TokenRequest::of(&app, &form)?;
    let address = peer.ip();
    let attempt = app.guard.admit(request.id, address).map_err(|wait| {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::warn!(client_id = ?shorten(request.id), %address, "token request refused: too many failed attempts");
        oauth_retry(
            secs,
            format!(
                "too many failed attempts; try again in {} seconds",
                secs.max(1)
            ),
        )
    })?;
    // From here the attempt counts as a failure unless it succeeds: a client that hangs up
    // before its answer has still had its guess checked.
    if !check_secret(&app, attempt, request.id, request.secret).await? {
        tracing::warn!(client_id = ?shorten(request.id), %address, "token request refused: unknown client or wrong secret");
        return Err(oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        ));
    }
    app.authority
        .token_for(request.id, &request.audience, base)
        .map_err(|e| ApiError::internal(e.to_string()).into())
}

/// The form, or every refusal of it in OAuth's form, which token clients parse, with the
/// status the rejection itself chose (415 for another content type, 413 for a body past the
/// limit), or 408 for a body that arrived too slowly.
fn read_form(
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<HashMap<String, String>, Refusal> {
    form.map(|Form(f)| f).map_err(|rejection| {
        let status = if crate::error::is_too_slow(&rejection) {
            StatusCode::REQUEST_TIMEOUT
        } else {
            rejection.status()
        };
        oauth(
            status,
            "invalid_request",
            format!(
                "the request must be a form (application/x-www-form-urlencoded): {}",
                rejection.body_text()
            ),
        )
    })
}

/// A client credentials grant, as the form asks for it.
struct TokenRequest<'f> {
    audience: String,
    id: &'f str,
    secret: &'f str,
}

impl<'f> TokenRequest<'f> {
    fn of(app: &App, form: &'f HashMap<String, String>) -> Result<TokenRequest<'f>, Refusal> {
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            ));
        }
        let Some(audience) = form
            .get("scope")
            .and_then(|s| app.authority.audience_for_scope(s))
        else {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "scope must be https://management.azure.com/.default (or another accepted \
                 audience)",
            ));
        };
        let (Some(id), Some(secret)) = (form.get("client_id"), form.get("client_secret")) else {
            return Err(oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client_id and client_secret are required",
            ));
        };
        Ok(TokenRequest {
            audience,
            id,
            secret,
        })
    }
}

/// Whether `secret` is client `id`'s, settling `attempt`: a success, a failure, or withdrawn
/// when nothing could be checked (no failure then). The hash is checked on the guard's
/// threads: an unknown client costs what a known one does, and no more checks run at once
/// than there are threads.
async fn check_secret(
    app: &Arc<App>,
    attempt: Attempt<'_>,
    id: &str,
    secret: &str,
) -> Result<bool, Refusal> {
    let (app2, id2) = (app.clone(), id.to_owned());
    let hash = blocking(move || app2.authority.client_secret_hash(&*app2.store, &id2))
        .await
        .and_then(|found| found.map_err(|e| ApiError::internal(e.to_string())));
    let hash = match hash {
        Ok(h) => h,
        Err(e) => {
            attempt.withdraw();
            return Err(e.into());
        }
    };
    app.guard
        .check(attempt, secret.to_owned(), hash)
        .await
        .map_err(|_busy| {
            oauth_retry(
                1,
                "the service is busy checking other secrets; try again shortly",
            )
        })
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

fn unknown_tenant() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "unknown tenant")
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    secure: Option<Extension<Secure>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if tenant != app.authority.tenant() {
        return Err(unknown_tenant());
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

/// `GET /{tenant}/discovery/v2.0/keys`.
pub async fn jwks(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    if tenant != app.authority.tenant() {
        return Err(unknown_tenant());
    }
    Ok(Json(app.authority.jwks()).into_response())
}
