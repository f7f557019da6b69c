//! Bounds on what answers and request bodies hold in memory, across connections.
//!
//! The connection rules (`listener`) bound how long a client may take; these bound how much
//! memory many clients together can make the service hold while they take it:
//!
//! - **Large answers per principal.** A page of objects, the versions of one object, or an
//!   error file is up to a few megabytes held until the client has read it. One principal
//!   may have [`MAX_LARGE_ANSWERS`] of them in progress at once; more is 429 with a short
//!   `Retry-After`. Without it, a reader that asked for a thousand pages and read none held
//!   gigabytes.
//! - **Upload bodies together.** An upload body is read whole before it is validated (at most
//!   `Limits::max_upload_bytes` each); all bodies being read or worked on together may hold
//!   at most `Limits::upload_memory_bytes`. A body that cannot get its share within
//!   [`UPLOAD_MEMORY_WAIT`] is refused with 429 rather than queued without bound.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::App;

/// Large answers one principal may have in progress at once.
pub const MAX_LARGE_ANSWERS: usize = 16;

/// How long an upload body waits for its share of the memory budget.
pub const UPLOAD_MEMORY_WAIT: Duration = Duration::from_secs(5);

/// The upload memory budget is counted in units of this many bytes (a semaphore counts in
/// `u32`).
const UNIT: usize = 1024;

/// Large answers in progress, by principal.
#[derive(Default)]
pub struct LargeAnswers(Mutex<HashMap<String, usize>>);

/// One large answer in progress; dropped when its body has been sent (or abandoned).
pub struct AnswerPermit {
    app: Arc<App>,
    principal: String,
}

impl AnswerPermit {
    /// A permit for `principal`, or 429 if it has as many large answers in progress as it may.
    pub fn take(app: &Arc<App>, principal: &str) -> Result<AnswerPermit, ApiError> {
        let mut m = app.large_answers.0.lock().expect("large answers");
        let n = m.entry(principal.to_owned()).or_default();
        if *n >= MAX_LARGE_ANSWERS {
            return Err(ApiError::Busy {
                message: format!(
                    "{MAX_LARGE_ANSWERS} large answers to this client are still being sent; \
                     read them before asking for more"
                ),
                retry_after: 1,
            });
        }
        *n += 1;
        Ok(AnswerPermit {
            app: app.clone(),
            principal: principal.to_owned(),
        })
    }

    /// `response`, holding the permit until its body is sent.
    pub fn hold(self, response: Response) -> Response {
        response.map(|body| Body::new(Holding { body, _held: self }))
    }
}

impl Drop for AnswerPermit {
    fn drop(&mut self) {
        let mut m = self.app.large_answers.0.lock().expect("large answers");
        if let Some(n) = m.get_mut(&self.principal) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.principal);
            }
        }
    }
}

/// A body holding something until it is dropped.
struct Holding<T> {
    body: Body,
    _held: T,
}

impl<T: Unpin> HttpBody for Holding<T> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The memory all upload bodies together may hold.
pub struct UploadMemory(Arc<Semaphore>);

impl UploadMemory {
    pub fn new(bytes: usize) -> UploadMemory {
        let units = (bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        UploadMemory(Arc::new(Semaphore::new(units)))
    }
}

/// An upload body read whole, with its share of the memory budget (given back when dropped).
pub struct UploadBody {
    pub bytes: Bytes,
    _share: Option<OwnedSemaphorePermit>,
}

/// Reads `body` whole, up to `limit` bytes and no further (a larger one is a 413 without the
/// service holding it), taking its share of the upload memory budget as it arrives.
pub async fn read_upload(
    memory: &UploadMemory,
    content_length: Option<u64>,
    body: Body,
    limit: usize,
) -> Result<UploadBody, ApiError> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "the request body is larger than the {limit} bytes accepted"
        ))
    };
    if content_length.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut body = body;
    // Not the declared length: a client that declares 32 MiB and sends nothing holds nothing.
    let mut buf = Vec::with_capacity(content_length.map_or(0, |n| n as usize).min(64 << 10));
    let mut share: Option<OwnedSemaphorePermit> = None;
    let mut units = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            if crate::error::is_too_slow(&e) {
                ApiError::Timeout(e.to_string())
            } else {
                ApiError::BadRequest(format!("the request body could not be read: {e}"))
            }
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            return Err(too_large());
        }
        let needed = (buf.len() + data.len()).div_ceil(UNIT);
        if needed > units {
            let more = (needed - units) as u32;
            let got = tokio::time::timeout(
                UPLOAD_MEMORY_WAIT,
                memory.0.clone().acquire_many_owned(more),
            )
            .await;
            let Ok(Ok(got)) = got else {
                return Err(ApiError::Busy {
                    message: "the service is holding as many upload bodies as it may; \
                              try again shortly"
                        .into(),
                    retry_after: 1,
                });
            };
            match &mut share {
                Some(s) => s.merge(got),
                None => share = Some(got),
            }
            units = needed;
        }
        buf.extend_from_slice(&data);
    }
    Ok(UploadBody {
        bytes: Bytes::from(buf),
        _share: share,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: usize) -> Body {
        Body::from(vec![b'x'; bytes])
    }

    #[tokio::test(start_paused = true)]
    async fn bodies_share_the_budget_and_one_past_it_is_busy_until_another_is_done() {
        let memory = UploadMemory::new(100 << 10);
        let first = read_upload(&memory, None, body(60 << 10), 1 << 20)
            .await
            .unwrap();
        assert_eq!(first.bytes.len(), 60 << 10);
        // 60 KiB held: another 60 KiB does not fit, and waits no longer than it may.
        let started = tokio::time::Instant::now();
        let refused = read_upload(&memory, None, body(60 << 10), 1 << 20).await;
        assert!(matches!(refused, Err(ApiError::Busy { .. })));
        assert_eq!(started.elapsed(), UPLOAD_MEMORY_WAIT);
        // Once the first is done with, its share is free again.
        drop(first);
        let second = read_upload(&memory, None, body(60 << 10), 1 << 20)
            .await
            .unwrap();
        assert_eq!(second.bytes.len(), 60 << 10);
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_too_large_declared_or_not() {
        let memory = UploadMemory::new(1 << 20);
        let declared = read_upload(&memory, Some(2000), body(10), 1000).await;
        assert!(matches!(declared, Err(ApiError::TooLarge(_))));
        let sent = read_upload(&memory, None, body(2000), 1000).await;
        assert!(matches!(sent, Err(ApiError::TooLarge(_))));
        // Nothing of them is still held: the whole budget is there for one body.
        let whole = read_upload(&memory, None, body(1 << 20), 1 << 20).await;
        assert!(whole.is_ok());
    }
}
