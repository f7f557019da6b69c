//! The one table from error kind to HTTP status and body.
//!
//! Every error a handler meets becomes an [`ApiError`]: a use case's error through its
//! [`DomainError`] kind (so handlers use `?`), the edge's own (a body too large, a form too
//! long) through [`ApiError::new`] with a kind. [`status_and_code`] is the only place a kind
//! becomes a status and a stable code.
//!
//! Bodies follow the hosted API's shape, `{"error":{"code":"…","message":"…"}}`, except the
//! throttling answer, whose body the seed fixes: `{"statusCode":429,"message":"Rate limit is
//! exceeded. Try again in N seconds."}`, with `Retry-After: N` (sent on 429 only: some clients
//! retry any answer that carries it).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tiport_core::error::{DomainError, ErrorKind};

/// An error answer: its kind, the message for the client (for the log only, for
/// [`ErrorKind::Internal`] and [`ErrorKind::Unauthenticated`]), and when to come back.
#[derive(Debug)]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    retry_after: Option<u64>,
}

/// The table: each kind's status and the stable code the body names (the hosted API's codes,
/// which its clients read).
pub fn status_and_code(kind: ErrorKind) -> (StatusCode, &'static str) {
    match kind {
        ErrorKind::BadRequest => (StatusCode::BAD_REQUEST, "BadRequest"),
        ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
        ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "AuthorizationFailed"),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, "NotFound"),
        ErrorKind::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
        ErrorKind::TooSlow => (StatusCode::REQUEST_TIMEOUT, "RequestTimeout"),
        ErrorKind::UnsupportedFormat => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType")
        }
        ErrorKind::RateLimited | ErrorKind::Busy => {
            (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests")
        }
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
    }
}

impl ApiError {
    /// An error of the edge itself, of `kind`, saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The status this error answers with.
    pub(crate) fn status(&self) -> StatusCode {
        status_and_code(self.kind).0
    }

    /// What a person is told of this error (a web page's words for it): the message, but for
    /// internal failures, which are logged and only said to have happened.
    pub(crate) fn public_message(&self) -> String {
        match self.kind {
            ErrorKind::Internal => {
                tracing::error!(detail = %self.message, "request failed");
                "The service failed to handle the request; it has been logged.".into()
            }
            ErrorKind::RateLimited => format!(
                "Too many requests. Try again in {} seconds.",
                self.retry_after.unwrap_or(1)
            ),
            _ => self.message.clone(),
        }
    }

    /// No token, or one that is not valid; the detail is logged by whoever refused it.
    pub fn unauthorized() -> ApiError {
        ApiError::new(ErrorKind::Unauthenticated, "")
    }

    /// Throttled: retry after `secs` seconds.
    pub fn throttled(secs: u64) -> ApiError {
        ApiError {
            retry_after: Some(secs),
            ..ApiError::new(ErrorKind::RateLimited, "")
        }
    }

    /// No room for the work now: 429 with `Retry-After`, in the service's own words rather
    /// than the throttling message.
    pub fn busy(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(ErrorKind::Busy, message)
        }
    }

    /// A fault of the service; `detail` is logged, not sent.
    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Internal, detail)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// Every use case's error, by its kind: the message is its `Display`.
impl<E: DomainError> From<E> for ApiError {
    fn from(e: E) -> ApiError {
        ApiError {
            kind: e.kind(),
            message: e.to_string(),
            retry_after: e.retry_after(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = status_and_code(self.kind);
        let body = match self.kind {
            ErrorKind::RateLimited => json!({
                "statusCode": 429,
                "message": format!(
                    "Rate limit is exceeded. Try again in {} seconds.",
                    self.retry_after.unwrap_or(1)
                ),
            }),
            ErrorKind::Unauthenticated => json!({"error": {"code": code,
                "message": "The access token is missing, expired or invalid."}}),
            ErrorKind::Internal => {
                tracing::error!(detail = %self.message, "request failed");
                json!({"error": {"code": code,
                    "message": "The service failed to handle the request; it has been logged."}})
            }
            _ => json!({"error": {"code": code, "message": self.message}}),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.kind == ErrorKind::Unauthenticated {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // Most refusals come before the body was read; the connection then cannot carry
        // another request, and a client that reused it would see it cut. Saying so lets
        // clients open a new one instead.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn answer(e: ApiError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let r = e.into_response();
        let (parts, body) = r.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn use_case_errors_answer_by_their_kind() {
        let e: ApiError = store::StoreError::NotFound("import x".into()).into();
        let (status, headers, body) = answer(e).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"error": {"code": "NotFound", "message": "import x not found"}})
        );
        assert_eq!(headers["connection"], "close");
        assert!(headers.get("retry-after").is_none());

        let e: ApiError = tiport_core::import_queue::NoPlace::Posting.into();
        let (status, headers, body) = answer(e).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "10");
        assert_eq!(body["error"]["code"], "TooManyRequests");

        // A fault says nothing of itself.
        let e: ApiError = store::StoreError::Closed.into();
        let (status, _, body) = answer(e).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("closed"), "{body}");
    }

    #[tokio::test]
    async fn throttling_and_missing_tokens_keep_their_own_answers() {
        let (status, headers, body) = answer(ApiError::throttled(7)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "7");
        assert_eq!(
            body,
            json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."})
        );
        let (status, headers, body) = answer(ApiError::unauthorized()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers["www-authenticate"], "Bearer");
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    }
}
