//! What kind of failure an error is, so that each caller maps every error in one place.
//!
//! # Key decision: kinds here, statuses at the edge
//!
//! Every error a use case returns implements [`DomainError`]: it names its [`ErrorKind`] (and,
//! for [`ErrorKind::Busy`], when to come back), and its `Display` is the message a client is
//! shown. The HTTP edge holds the one table from kind to status and stable code
//! (`server::error`), as meilisearch's `ErrorCode` does, so handlers use `?` instead of
//! matching each error. This crate knows no HTTP: a kind says what went wrong, never how a
//! protocol spells it.

use store::StoreError;

/// The kinds of failure, each answered one way by the HTTP edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed: a bad parameter, body or form.
    BadRequest,
    /// The caller did not prove who it is (no token, or one that is not valid).
    Unauthenticated,
    /// The caller may not do this (a role too weak for the operation).
    Forbidden,
    /// No such thing, or not one the caller may see (the same answer for both, so that
    /// workspaces cannot be discovered).
    NotFound,
    /// The input is larger than a limit.
    TooLarge,
    /// The input arrived too slowly.
    TooSlow,
    /// The input is in a format not accepted (not JSON where JSON is read).
    UnsupportedFormat,
    /// The caller sent more requests than its rate allows; see
    /// [`DomainError::retry_after`].
    RateLimited,
    /// There is no room for the work now (a full import queue, answers still being sent);
    /// see [`DomainError::retry_after`].
    Busy,
    /// A fault of the service (the store, the disk). The message is for the log, never for the
    /// client.
    Internal,
}

/// An error a use case returns: its kind and, through `Display`, the message for the client.
pub trait DomainError: std::error::Error {
    fn kind(&self) -> ErrorKind;

    /// Seconds after which the same request may succeed, for [`ErrorKind::Busy`] and
    /// [`ErrorKind::RateLimited`].
    fn retry_after(&self) -> Option<u64> {
        None
    }
}

/// The store's own errors: a missing workspace, import or principal is the caller's
/// `NotFound` (its message, "… not found", is the one clients see); anything else is a fault.
impl DomainError for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            _ => ErrorKind::Internal,
        }
    }
}
