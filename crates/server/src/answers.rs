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
//!   `Limits::max_upload_bytes` each, within [`UPLOAD_BODY_DEADLINE`]); all bodies being read
//!   or worked on together may hold at most `Limits::upload_memory_bytes`, one principal's at
//!   most a quarter of it. What is counted is the buffer's capacity as it grows. A body that
//!   cannot get its share within [`UPLOAD_MEMORY_WAIT`] is refused with 429 rather than
//!   queued without bound, and one whose principal holds its quarter already at once.

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

use tiport_core::error::ErrorKind;

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
            return Err(ApiError::busy(
                format!(
                    "{MAX_LARGE_ANSWERS} large answers to this client are still being sent; \
                     read them before asking for more"
                ),
                1,
            ));
        }
        *n += 1;
        Ok(AnswerPermit {
            app: app.clone(),
            principal: principal.to_owned(),
        })
    }

    /// `response`, holding the permit until its body is sent.
    pub fn hold(self, response: Response) -> Response {
        response.map(|body| {
            Body::new(Holding {
                body,
                rest: Bytes::new(),
                _held: self,
            })
        })
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

/// A body holding something until it is dropped, given to hyper in pieces of at most
/// [`PIECE`] bytes. Hyper drops a body once it has taken its last frame, and only takes the
/// next when its own write buffer has room: whole, a 4 MiB page would be taken at once and the
/// permit dropped while the page still waits for the client.
struct Holding<T> {
    body: Body,
    /// What is left of the frame being handed over.
    rest: Bytes,
    _held: T,
}

/// The largest frame [`Holding`] hands to hyper.
const PIECE: usize = 64 << 10;

impl<T: Unpin> HttpBody for Holding<T> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.rest.is_empty() {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => self.rest = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return other,
            }
        }
        let n = self.rest.len().min(PIECE);
        Poll::Ready(Some(Ok(Frame::data(self.rest.split_to(n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.body.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

/// The memory all upload bodies together may hold, and each principal's part of it.
pub struct UploadMemory(Arc<Budget>);

struct Budget {
    total: Arc<Semaphore>,
    /// Units held by each principal's bodies.
    held: Mutex<HashMap<String, usize>>,
    /// The most units one principal's bodies may hold: a quarter of the total, or one body at
    /// the size limit if that is more.
    per_principal: usize,
}

impl UploadMemory {
    /// A budget of `bytes` for bodies of at most `body_limit` bytes each (the budget holds at
    /// least one).
    pub fn new(bytes: usize, body_limit: usize) -> UploadMemory {
        let most = Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        let one_body = body_limit.div_ceil(UNIT).max(1);
        let total = bytes.div_ceil(UNIT).max(one_body).min(most);
        UploadMemory(Arc::new(Budget {
            total: Arc::new(Semaphore::new(total)),
            held: Mutex::new(HashMap::new()),
            per_principal: (total / 4).max(one_body),
        }))
    }
}

/// A body's share of the upload memory, given back when dropped.
struct Share {
    budget: Arc<Budget>,
    principal: String,
    units: usize,
    permit: Option<OwnedSemaphorePermit>,
}

impl Share {
    /// Grows the share to `units`, waiting at most [`UPLOAD_MEMORY_WAIT`] for the budget.
    async fn grow_to(&mut self, units: usize) -> Result<(), ApiError> {
        if units <= self.units {
            return Ok(());
        }
        let more = units - self.units;
        {
            let mut held = self.budget.held.lock().expect("upload memory");
            let mine = held.entry(self.principal.clone()).or_default();
            if *mine + more > self.budget.per_principal {
                return Err(ApiError::busy(
                    "your upload bodies being read or worked on hold as much memory as one \
                     client's may; send the next when one is answered",
                    1,
                ));
            }
            *mine += more;
        }
        // Counted for the principal from here: if the wait fails, dropping the share gives it
        // back with the rest.
        self.units = units;
        let got = tokio::time::timeout(
            UPLOAD_MEMORY_WAIT,
            self.budget.total.clone().acquire_many_owned(more as u32),
        )
        .await;
        let Ok(Ok(got)) = got else {
            // Not taken from the total: only the principal's count is to be given back.
            self.units -= more;
            self.give_back_principal(more);
            return Err(ApiError::busy(
                "the service is holding as many upload bodies as it may; try again shortly",
                1,
            ));
        };
        match &mut self.permit {
            Some(p) => p.merge(got),
            None => self.permit = Some(got),
        }
        Ok(())
    }

    fn give_back_principal(&self, units: usize) {
        let mut held = self.budget.held.lock().expect("upload memory");
        if let Some(mine) = held.get_mut(&self.principal) {
            *mine -= units;
            if *mine == 0 {
                held.remove(&self.principal);
            }
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        if self.units > 0 {
            self.give_back_principal(self.units);
        }
    }
}

/// An upload body read whole, with its share of the memory budget (given back when dropped).
pub struct UploadBody {
    pub bytes: Bytes,
    _share: Share,
}

/// The longest an upload body may take to arrive, whatever its rate: the minimum rate alone
/// lets a body that started fast take hours over its end, holding its share all the while.
pub const UPLOAD_BODY_DEADLINE: Duration = Duration::from_secs(5 * 60);

/// Reads `principal`'s `body` whole, up to `limit` bytes and no further (a larger one is a 413
/// without the service holding it), within [`UPLOAD_BODY_DEADLINE`], taking its share of the
/// upload memory budget as its buffer grows.
pub async fn read_upload(
    memory: &UploadMemory,
    principal: &str,
    content_length: Option<u64>,
    body: Body,
    limit: usize,
) -> Result<UploadBody, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::TooLarge,
            format!("the request body is larger than the {limit} bytes accepted"),
        )
    };
    if content_length.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut share = Share {
        budget: memory.0.clone(),
        principal: principal.to_owned(),
        units: 0,
        permit: None,
    };
    let reading = async {
        let mut body = body;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                if crate::error::is_too_slow(&e) {
                    ApiError::new(ErrorKind::TooSlow, e.to_string())
                } else {
                    ApiError::new(
                        ErrorKind::BadRequest,
                        format!("the request body could not be read: {e}"),
                    )
                }
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let needed = buf.len() + data.len();
            if needed > limit {
                return Err(too_large());
            }
            if needed > buf.capacity() {
                // The buffer grows by doubling, up to the limit, and what it holds (its
                // capacity, not its length) is what is counted. A declared length sizes the
                // first growth, never more than 64 KiB ahead of what arrived.
                let declared = content_length
                    .map_or(0, |n| n as usize)
                    .min(needed + (64 << 10));
                let capacity = needed.max(buf.capacity() * 2).max(declared).min(limit);
                share.grow_to(capacity.div_ceil(UNIT)).await?;
                buf.reserve_exact(capacity - buf.len());
            }
            buf.extend_from_slice(&data);
        }
        Ok(buf)
    };
    let buf = tokio::time::timeout(UPLOAD_BODY_DEADLINE, reading)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorKind::TooSlow,
                format!(
                    "the request body did not arrive within {} minutes",
                    UPLOAD_BODY_DEADLINE.as_secs() / 60
                ),
            )
        })??;
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

    const KIB: usize = 1 << 10;

    #[tokio::test(start_paused = true)]
    async fn bodies_share_the_budget_a_quarter_each_at_most() {
        // 256 KiB in all, bodies of at most 64 KiB: a principal may hold 64 KiB.
        let memory = UploadMemory::new(256 * KIB, 64 * KIB);
        let a = read_upload(&memory, "a", None, body(64 * KIB), 64 * KIB)
            .await
            .unwrap();
        assert_eq!(a.bytes.len(), 64 * KIB);
        // `a` holds its quarter: its next body is refused at once, whatever is free.
        let started = tokio::time::Instant::now();
        let refused = read_upload(&memory, "a", None, body(KIB), 64 * KIB).await;
        assert!(refused.is_err_and(|e| e.kind() == ErrorKind::Busy));
        assert_eq!(started.elapsed(), Duration::ZERO);
        let held: Vec<UploadBody> = futures_util::future::join_all(
            ["b", "c", "d"].map(|p| read_upload(&memory, p, None, body(64 * KIB), 64 * KIB)),
        )
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        // The whole budget is held: another principal waits no longer than it may.
        let refused = read_upload(&memory, "e", None, body(KIB), 64 * KIB).await;
        assert!(refused.is_err_and(|e| e.kind() == ErrorKind::Busy));
        assert_eq!(started.elapsed(), UPLOAD_MEMORY_WAIT);
        // Once a body is done with, its share is free again, for anyone.
        drop(a);
        let e = read_upload(&memory, "e", None, body(KIB), 64 * KIB).await;
        assert!(e.is_ok());
        drop(held);
        let a = read_upload(&memory, "a", None, body(64 * KIB), 64 * KIB).await;
        assert!(a.is_ok(), "a's refused attempts left nothing counted");
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_too_large_declared_or_not() {
        let memory = UploadMemory::new(1 << 20, 1 << 20);
        let declared = read_upload(&memory, "a", Some(2000), body(10), 1000).await;
        assert!(declared.is_err_and(|e| e.kind() == ErrorKind::TooLarge));
        let sent = read_upload(&memory, "a", None, body(2000), 1000).await;
        assert!(sent.is_err_and(|e| e.kind() == ErrorKind::TooLarge));
        // Nothing of them is still held: a body at the size limit fits.
        let whole = read_upload(&memory, "a", None, body(1 << 20), 1 << 20).await;
        assert!(whole.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_must_arrive_within_the_deadline_whatever_its_pace() {
        let memory = UploadMemory::new(1 << 20, 1 << 20);
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
        });
        let feeding = tokio::spawn(async move {
            // A byte a minute, for ever.
            loop {
                if tx.send(Bytes::from_static(b"x")).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
        });
        let started = tokio::time::Instant::now();
        let r = read_upload(&memory, "a", None, Body::from_stream(stream), 1 << 20).await;
        assert!(r.is_err_and(|e| e.kind() == ErrorKind::TooSlow));
        assert_eq!(started.elapsed(), UPLOAD_BODY_DEADLINE);
        feeding.abort();
    }

    #[test]
    fn a_large_answer_is_handed_over_in_pieces() {
        let mut held = Holding {
            body: Body::from(vec![b'x'; 200 << 10]),
            rest: Bytes::new(),
            _held: (),
        };
        assert_eq!(held.size_hint().exact(), Some(200 << 10));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut pieces = Vec::new();
        while let Poll::Ready(Some(Ok(f))) = Pin::new(&mut held).poll_frame(&mut cx) {
            pieces.push(f.into_data().unwrap().len());
            if held.is_end_stream() {
                break;
            }
        }
        assert_eq!(pieces, vec![PIECE, PIECE, PIECE, 8 << 10]);
    }
}
