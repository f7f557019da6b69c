//! The one table from error kind to HTTP status and body.
//!
//! Bodies follow the hosted API's shape, `{"error":{"code":"…","message":"…"}}`, except the
//! throttling answer, whose body the seed fixes: `{"statusCode":429,"message":"Rate limit is
//! exceeded. Try again in N seconds."}`, with `Retry-After: N` (sent on 429 only: some clients
//! retry any answer that carries it).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    /// A malformed request: bad JSON, a missing or unsupported `api-version`, too many objects.
    BadRequest(String),
    /// No token, or one that is not valid; the detail is logged, not sent.
    Unauthorized,
    /// A valid token without the role the operation needs.
    Forbidden(String),
    /// An unknown workspace, or one the caller has no role on (the same answer for both, so
    /// that workspaces cannot be discovered).
    NotFound(String),
    TooLarge(String),
    /// The request body arrived too slowly (see `listener::MinRate`).
    Timeout(String),
    UnsupportedMediaType(String),
    /// Throttled: retry after this many seconds.
    TooManyRequests(u64),
    /// The service has no room for the work now (a full queue of imports): 429 with
    /// `Retry-After`, in the service's own words rather than the throttling message.
    Busy {
        message: String,
        retry_after: u64,
    },
    /// A fault of the service; the detail is logged with the request id, not sent.
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "AuthorizationFailed"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
            ApiError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "RequestTimeout"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType")
            }
            ApiError::TooManyRequests(_) | ApiError::Busy { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.response();
        // Most refusals come before the body was read; the connection then cannot carry
        // another request, and a client that reused it would see it cut. Saying so lets
        // clients open a new one instead.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

impl ApiError {
    fn response(self) -> Response {
        let (status, code) = self.status_and_code();
        match self {
            ApiError::TooManyRequests(secs) => {
                let body = json!({
                    "statusCode": 429,
                    "message": format!("Rate limit is exceeded. Try again in {secs} seconds."),
                });
                let mut r = (status, axum::Json(body)).into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                r
            }
            ApiError::Busy {
                message,
                retry_after,
            } => {
                let body = json!({"error": {"code": code, "message": message}});
                let mut r = (status, axum::Json(body)).into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                r
            }
            ApiError::Unauthorized => {
                let body = json!({"error": {"code": code,
                    "message": "The access token is missing, expired or invalid."}});
                let mut r = (status, axum::Json(body)).into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                let body = json!({"error": {"code": code,
                    "message": "The service failed to handle the request; it has been logged."}});
                (status, axum::Json(body)).into_response()
            }
            ApiError::BadRequest(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::TooLarge(m)
            | ApiError::Timeout(m)
            | ApiError::UnsupportedMediaType(m) => (
                status,
                axum::Json(json!({"error": {"code": code, "message": m}})),
            )
                .into_response(),
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Whether `e`, or an error it wraps, is a body that arrived too slowly: such a failure is the
/// client's (408), not a malformed request.
pub(crate) fn is_too_slow(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<crate::listener::BodyTooSlow>() {
            return true;
        }
        cur = err.source();
    }
    false
}
