//! Accepting connections, plain or TLS, with bounds that a hostile client cannot get around.
//!
//! # Key decision: our own accept loop, and room made by closing the idlest connection
//!
//! `axum::serve` accepts every connection it can and never closes one that is slow to speak,
//! so about a thousand connections that send half a request line (or nothing, or a body one
//! byte every five seconds) used up the process's file descriptors and nobody else was served.
//! Here, each phase of a connection has its own bound:
//!
//! - the TLS handshake must end within [`ConnLimits::handshake_timeout`];
//! - a request head must arrive within [`ConnLimits::header_timeout`] of the connection
//!   becoming ready for it (hyper's header timer, which also runs while a keep-alive
//!   connection is idle, so it is the idle timeout too);
//! - a request body must keep arriving at [`ConnLimits::body_min_rate`] after a grace period,
//!   counting only the time the service is waiting for it, and never pause for longer than
//!   [`ConnLimits::body_gap`] ([`MinRate`]);
//! - an answer must be taken at [`ConnLimits::answer_min_rate`] after a grace period,
//!   counting only the time the socket is full, and a write that makes no progress for
//!   [`ConnLimits::write_timeout`] ends the connection ([`Stalls`]);
//! - at most [`ConnLimits::max_connections`] are open. When a new one arrives at the cap, the
//!   connection that has waited longest for its client (one that is idle, or has not finished
//!   its request head or its TLS handshake, or whose request is waiting for more of its body)
//!   is closed to make room, sparing those accepted less than a second ago while there are
//!   others; only if every connection is busy with a request the service is working on, or
//!   with an answer it is sending, is the newcomer refused.
//!
//! The last rule is what keeps the service reachable while an attacker holds many connections:
//! an attacker's connections wait on the attacker (for a head, for a body), so they are always
//! the ones waiting longest, and a client that sends its request as soon as it connects is
//! never the one closed. A connection whose request is being worked on, or whose answer is
//! being written, is never closed for room: that could lose an answer the service had already
//! committed to. A fixed per-address quota was the alternative; it does nothing against many
//! addresses and would refuse a busy proxy.
//!
//! Only HTTP/1.1 is spoken, over TCP and over TLS (ALPN `http/1.1`); cleartext HTTP/2 (h2c) is
//! not, which `axum::serve` offered whenever hyper's HTTP/2 support was compiled in.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request};
use axum::Router;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
// Tokio's clock rather than std's, so the tests can run with time paused.
use tokio::time::{Instant as TokioInstant, Sleep};
use tower::ServiceExt;

/// The bounds every connection is held to; see the module documentation.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    pub header_timeout: Duration,
    /// Bytes per second a request body must keep up, after [`ConnLimits::body_grace`].
    pub body_min_rate: u64,
    pub body_grace: Duration,
    /// The longest a request body may pause, however much arrived before: without it, a
    /// client that sent a megabyte quickly would have earned an hour of silence.
    pub body_gap: Duration,
    /// Bytes per second a client must take its answer at, after [`ConnLimits::answer_grace`],
    /// counting only the time the socket is full.
    pub answer_min_rate: u64,
    pub answer_grace: Duration,
    /// The longest one write may make no progress.
    pub write_timeout: Duration,
    /// The largest request head, in bytes (hyper's read buffer, which bounds what a
    /// connection holds in memory while its head arrives).
    pub max_head_bytes: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(30),
            // Kestrel's defaults: 240 bytes a second after a grace of five seconds. A phone on
            // a bad link manages that; one byte every few seconds does not.
            body_min_rate: 240,
            body_grace: Duration::from_secs(5),
            body_gap: Duration::from_secs(20),
            answer_min_rate: 240,
            answer_grace: Duration::from_secs(10),
            write_timeout: Duration::from_secs(60),
            max_head_bytes: 64 << 10,
        }
    }
}

/// Whether a request came over TLS: the handlers that name the service's own URLs need the
/// scheme the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secure(pub bool);

/// The answer to a request body that arrived too slowly (see [`MinRate`]).
#[derive(Debug, thiserror::Error)]
pub enum BodyTooSlow {
    #[error("the request body arrived more slowly than {0} bytes a second")]
    Rate(u64),
    #[error("the request body paused for more than {0} seconds")]
    Gap(u64),
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown` completes;
/// requests in flight then get up to 30 seconds to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let conns = Arc::new(Conns::new(limits.max_connections));
    let limits = Arc::new(limits);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // No error from accept ends the service. Out of descriptors or memory, the
                // same call fails again at once: a short pause keeps the loop from spinning
                // until a connection closes. A peer that reset before we accepted says nothing
                // about the next one, which is taken without delay.
                if is_resource_exhaustion(&e) {
                    tracing::warn!(error = %e, "accept failed: out of resources");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                } else {
                    tracing::debug!(error = %e, "accept failed");
                }
                continue;
            }
        };
        // Without TCP_NODELAY, a small write that follows another (a client's body after its
        // headers, an answer after a 100 Continue) waits for the peer's delayed
        // acknowledgement, up to 40 ms on Linux: measured as 40 ms more on every upload.
        let _ = stream.set_nodelay(true);
        let Some(slot) = conns.admit() else {
            tracing::warn!(%peer, "connection refused: every connection is busy with a request");
            drop(stream);
            continue;
        };
        let (router, limits, tls, stop) =
            (router.clone(), limits.clone(), tls.clone(), stop_rx.clone());
        tokio::spawn(async move {
            connection(stream, peer, tls, router, &limits, &slot, stop).await;
            drop(slot);
        });
    }
    let _ = stop_tx.send(true);
    // Every connection closes once its request in flight is answered; they get 30 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        // Registered before the count is read, so a close between the two still wakes us.
        let closed = conns.closed.notified();
        tokio::pin!(closed);
        closed.as_mut().enable();
        if conns.tasks.load(Ordering::Acquire) == 0 || tokio::time::Instant::now() >= deadline {
            break;
        }
        let _ = tokio::time::timeout_at(deadline, closed).await;
    }
    Ok(())
}

/// Whether a failed accept means the process is out of descriptors or memory, rather than
/// that one peer went away.
fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS)
    )
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    limits: &ConnLimits,
    slot: &Slot,
    mut stop: watch::Receiver<bool>,
) {
    let conn = slot.conn.clone();
    let stream = Stalls::new(stream, limits, conn.clone());
    match tls {
        None => http(stream, false, peer, router, limits, &conn, stop).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream));
            let stream = tokio::select! {
                r = handshake => match r {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
                () = conn.evict.notified() => return,
                _ = stop.changed() => return,
            };
            http(stream, true, peer, router, limits, &conn, stop).await
        }
    }
}

async fn http<I>(
    io: I,
    secure: bool,
    peer: SocketAddr,
    router: Router,
    limits: &ConnLimits,
    conn: &Arc<Conn>,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rate, grace, gap) = (limits.body_min_rate, limits.body_grace, limits.body_gap);
    let tracked = conn.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let busy = Busy::start(tracked.clone());
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(Secure(secure));
        let conn = tracked.clone();
        let req = req.map(|b| Body::new(MinRate::new(b, rate, grace, gap).tracked(conn)));
        let answer = router.clone().oneshot(req);
        async move {
            let mut response = match answer.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if secure {
                response.headers_mut().insert(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static("max-age=31536000"),
                );
            }
            // The request counts as in flight until its answer is sent (or abandoned).
            Ok::<_, Infallible>(response.map(|body| Answer { body, _busy: busy }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_head_bytes)
        .max_buf_size(limits.max_head_bytes.max(8192));
    let serving = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(serving);
    tokio::select! {
        r = serving.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        }
        () = conn.evict.notified() => {
            // Chosen when it was waiting on its client; if a request has since become work
            // the service is doing, that request is answered first.
            if conn.handling() {
                serving.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(30), serving).await;
            }
            tracing::debug!(%peer, "connection closed to make room for a new one");
        }
        _ = stop.changed() => {
            serving.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(30), serving).await;
        }
    }
}

/// The open connections, and the rule that makes room at the cap.
struct Conns {
    max: usize,
    live: Mutex<Live>,
    /// Notified when a connection closes (shutdown waits for the last one).
    closed: Notify,
    /// Connections still open, counted until their task ends: one closed for room is out of
    /// `live` at once, but may finish a request for up to 30 s (shutdown waits for it too).
    tasks: AtomicUsize,
    epoch: Instant,
}

struct Live {
    next: u64,
    conns: HashMap<u64, Arc<Conn>>,
}

/// Connections accepted less than this long ago are closed for room only if there is no
/// other candidate: a client that connected a moment ago has not had time to send its head.
const YOUNG_MS: u64 = 1000;

/// One connection's state, as the cap's rule reads it.
struct Conn {
    /// Requests being answered (more than one only if a client pipelines).
    in_flight: AtomicUsize,
    /// Requests of `in_flight` whose handler is waiting for more of the body.
    body_waits: AtomicUsize,
    /// Bytes of an answer are waiting for the client to read (the socket is full).
    writing: AtomicBool,
    /// When it last started waiting on its client (for a request, or for more of a body), in
    /// milliseconds since [`Conns::epoch`].
    waiting_since: AtomicU64,
    /// When it was accepted, in milliseconds since [`Conns::epoch`].
    accepted: u64,
    /// Told to close, to make room.
    evict: Notify,
    epoch: Instant,
}

impl Conn {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether the service is doing work for it: answering a request that is not waiting for
    /// its body, or writing an answer. Such a connection is never closed for room.
    fn handling(&self) -> bool {
        self.writing.load(Ordering::Acquire)
            || self.in_flight.load(Ordering::Acquire) > self.body_waits.load(Ordering::Acquire)
    }
}

/// A connection's place among the open ones, given back when dropped.
struct Slot {
    id: u64,
    conn: Arc<Conn>,
    conns: Arc<Conns>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.conns
            .live
            .lock()
            .expect("connections")
            .conns
            .remove(&self.id);
        self.conns.tasks.fetch_sub(1, Ordering::AcqRel);
        self.conns.closed.notify_waiters();
    }
}

impl Conns {
    fn new(max: usize) -> Conns {
        Conns {
            max: max.max(1),
            live: Mutex::new(Live {
                next: 0,
                conns: HashMap::new(),
            }),
            closed: Notify::new(),
            tasks: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.live.lock().expect("connections").conns.len()
    }

    /// A place for a new connection: at the cap, the one that has waited longest on its
    /// client (sparing young ones while there are others) is told to close and its place
    /// taken; `None` if the service is working for every one.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut live = self.live.lock().expect("connections");
        let now = self.epoch.elapsed().as_millis() as u64;
        if live.conns.len() >= self.max {
            let victim = live
                .conns
                .iter()
                .filter(|(_, c)| !c.handling())
                .min_by_key(|(_, c)| {
                    let young = now.saturating_sub(c.accepted) < YOUNG_MS;
                    (young, c.waiting_since.load(Ordering::Acquire))
                })
                .map(|(id, _)| *id)?;
            let evicted = live.conns.remove(&victim).expect("found above");
            // A permit is stored if its task is not waiting yet: it closes when it next looks.
            evicted.evict.notify_one();
        }
        let id = live.next;
        live.next += 1;
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            body_waits: AtomicUsize::new(0),
            writing: AtomicBool::new(false),
            waiting_since: AtomicU64::new(now),
            accepted: now,
            evict: Notify::new(),
            epoch: self.epoch,
        });
        live.conns.insert(id, conn.clone());
        self.tasks.fetch_add(1, Ordering::AcqRel);
        Some(Slot {
            id,
            conn,
            conns: self.clone(),
        })
    }
}

/// A request in flight on a connection; when dropped (its answer sent or abandoned), the
/// connection waits for a request again.
struct Busy(Arc<Conn>);

impl Busy {
    fn start(conn: Arc<Conn>) -> Busy {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.waiting_since.store(self.0.now(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body, holding its request's [`Busy`] until it is sent.
struct Answer {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Answer {
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

/// A request body that must keep arriving at `rate` bytes a second once `grace` has passed,
/// and never pause for longer than `gap`. Only the time the service spends waiting for it
/// counts: a handler that checks a token before it reads the body does not use up the
/// client's allowance.
pub struct MinRate<B> {
    inner: B,
    rate: u64,
    grace: Duration,
    gap: Duration,
    bytes: u64,
    /// Time spent waiting for the body before the current wait.
    waited: Duration,
    waiting_since: Option<TokioInstant>,
    timer: Option<Pin<Box<Sleep>>>,
    /// The connection, told while this body is waiting on its client (which makes the
    /// connection one that may be closed for room).
    conn: Option<Arc<Conn>>,
}

impl<B> MinRate<B> {
    pub fn new(inner: B, rate: u64, grace: Duration, gap: Duration) -> Self {
        MinRate {
            inner,
            rate: rate.max(1),
            grace,
            gap,
            bytes: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            timer: None,
            conn: None,
        }
    }

    fn tracked(mut self, conn: Arc<Conn>) -> Self {
        self.conn = Some(conn);
        self
    }

    /// Ends the current wait, if there is one.
    fn arrived(&mut self) {
        if let Some(since) = self.waiting_since.take() {
            self.waited += since.elapsed();
            if let Some(conn) = &self.conn {
                conn.body_waits.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

impl<B> Drop for MinRate<B> {
    fn drop(&mut self) {
        self.arrived();
    }
}

impl<B> HttpBody for MinRate<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.arrived();
                if let Some(Ok(f)) = &frame {
                    this.bytes += f.data_ref().map_or(0, |d| d.len() as u64);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let now = TokioInstant::now();
                let since = match this.waiting_since {
                    Some(since) => since,
                    None => {
                        this.waiting_since = Some(now);
                        if let Some(conn) = &this.conn {
                            conn.body_waits.fetch_add(1, Ordering::AcqRel);
                            conn.waiting_since.store(conn.now(), Ordering::Release);
                        }
                        now
                    }
                };
                // The bytes received so far buy this much waiting in all, but no single
                // pause may be longer than the gap.
                let allowed =
                    this.grace + Duration::from_secs_f64(this.bytes as f64 / this.rate as f64);
                let by_rate = since + allowed.saturating_sub(this.waited);
                let by_gap = since + this.gap;
                let (deadline, why) = if by_gap < by_rate {
                    (by_gap, BodyTooSlow::Gap(this.gap.as_secs()))
                } else {
                    (by_rate, BodyTooSlow::Rate(this.rate))
                };
                if deadline_passed(&mut this.timer, now, deadline, cx) {
                    return Poll::Ready(Some(Err(Box::new(why))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A stream whose writes fail when the client takes its answer too slowly: at less than
/// `rate` bytes a second once `grace` has passed, counting only the time the socket is full,
/// or with no progress at all for `timeout`. A client that stops reading (or reads a byte now
/// and then) would otherwise hold its connection, and the answer's buffers, for ever.
struct Stalls<S> {
    inner: S,
    rate: u64,
    grace: Duration,
    timeout: Duration,
    /// Bytes the socket has taken.
    written: u64,
    /// Time the socket was full, before the current stall.
    blocked: Duration,
    stalled_since: Option<TokioInstant>,
    timer: Option<Pin<Box<Sleep>>>,
    conn: Arc<Conn>,
}

impl<S> Stalls<S> {
    fn new(inner: S, limits: &ConnLimits, conn: Arc<Conn>) -> Self {
        Stalls {
            inner,
            rate: limits.answer_min_rate.max(1),
            grace: limits.answer_grace,
            timeout: limits.write_timeout,
            written: 0,
            blocked: Duration::ZERO,
            stalled_since: None,
            timer: None,
            conn,
        }
    }

    /// After a write attempt: counts progress and ends the stall, or starts (or continues) a
    /// stall and fails once it has lasted too long.
    fn watch(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        match r {
            Poll::Ready(r) => {
                if let Some(since) = self.stalled_since.take() {
                    self.blocked += since.elapsed();
                }
                if let Ok(n) = &r {
                    self.written += *n as u64;
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let now = TokioInstant::now();
                let since = *self.stalled_since.get_or_insert(now);
                self.conn.writing.store(true, Ordering::Release);
                let allowed =
                    self.grace + Duration::from_secs_f64(self.written as f64 / self.rate as f64);
                let deadline =
                    (since + allowed.saturating_sub(self.blocked)).min(since + self.timeout);
                if deadline_passed(&mut self.timer, now, deadline, cx) {
                    return Poll::Ready(Err(too_slow()));
                }
                Poll::Pending
            }
        }
    }
}

/// Whether `deadline` has passed by `now`; if not, `timer` (made on first use, moved when the
/// deadline moves) wakes the task then, so that the caller, answering `Pending`, is polled again
/// and finds it passed.
fn deadline_passed(
    timer: &mut Option<Pin<Box<Sleep>>>,
    now: TokioInstant,
    deadline: TokioInstant,
    cx: &mut Context<'_>,
) -> bool {
    if now >= deadline {
        return true;
    }
    let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    timer.as_mut().poll(cx).is_ready()
}

fn too_slow() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the client stopped reading its answer, or read it too slowly",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Stalls<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stalls<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx).map_ok(|()| 0);
        let r = self.watch(cx, r).map_ok(|_| ());
        if let Poll::Ready(Ok(())) = r {
            // Everything written has left for the client: nothing is held for it any more.
            self.conn.writing.store(false, Ordering::Release);
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conns(max: usize) -> Arc<Conns> {
        Arc::new(Conns::new(max))
    }

    #[test]
    fn at_the_cap_the_longest_waiting_idle_connection_makes_room() {
        let c = conns(3);
        let a = c.admit().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let b = c.admit().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let busy = c.admit().unwrap();
        let _request = Busy::start(busy.conn.clone());
        // The cap is reached: `a`, the oldest idle one, is told to close and loses its place.
        let d = c.admit().unwrap();
        assert_eq!(c.open(), 3);
        assert!(!c.live.lock().unwrap().conns.contains_key(&a.id));
        assert!(c.live.lock().unwrap().conns.contains_key(&b.id));
        assert!(c.live.lock().unwrap().conns.contains_key(&busy.id));
        drop((a, b, d));
    }

    #[test]
    fn a_connection_busy_with_a_request_is_never_closed_for_room() {
        let c = conns(2);
        let x = c.admit().unwrap();
        let y = c.admit().unwrap();
        let _bx = Busy::start(x.conn.clone());
        let _by = Busy::start(y.conn.clone());
        assert!(
            c.admit().is_none(),
            "every connection is busy: the newcomer is refused"
        );
        drop(_bx);
        // Its answer sent, `x` waits for a request again and may make room.
        assert!(c.admit().is_some());
    }

    #[test]
    fn a_request_waiting_for_its_body_may_be_closed_for_room_but_not_one_being_answered() {
        let c = conns(2);
        let slow = c.admit().unwrap();
        let working = c.admit().unwrap();
        let _a = Busy::start(slow.conn.clone());
        let _b = Busy::start(working.conn.clone());
        // The first request's handler waits for a body that trickles in.
        slow.conn.body_waits.fetch_add(1, Ordering::AcqRel);
        std::thread::sleep(Duration::from_millis(5));
        let _fresh = c.admit().expect("the one waiting on its client makes room");
        let live = c.live.lock().unwrap();
        assert!(!live.conns.contains_key(&slow.id));
        assert!(live.conns.contains_key(&working.id));
    }

    #[test]
    fn a_connection_writing_an_answer_is_never_closed_for_room() {
        let c = conns(1);
        let reading_slowly = c.admit().unwrap();
        // The answer was handed over (the request is done) but still sits in the socket.
        reading_slowly.conn.writing.store(true, Ordering::Release);
        assert!(c.admit().is_none());
        reading_slowly.conn.writing.store(false, Ordering::Release);
        assert!(c.admit().is_some());
    }

    #[test]
    fn a_young_connection_is_spared_while_an_older_one_can_make_room() {
        let c = Arc::new(Conns::new(2));
        let old = c.admit().unwrap();
        std::thread::sleep(Duration::from_millis(YOUNG_MS + 50));
        let young = c.admit().unwrap();
        // The old one sent a request and is idle again since just now: it waited less than
        // the young one, which has not spoken, but the young one is spared.
        old.conn
            .waiting_since
            .store(old.conn.now(), Ordering::Release);
        let _next = c.admit().unwrap();
        let live = c.live.lock().unwrap();
        assert!(!live.conns.contains_key(&old.id));
        assert!(live.conns.contains_key(&young.id));
    }

    /// A request body fed by the test, a frame at a time.
    struct Fed(tokio::sync::mpsc::Receiver<Bytes>);

    impl HttpBody for Fed {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    fn limits() -> ConnLimits {
        ConnLimits::default()
    }

    /// Reads `body` to its end or its first error, answering when and how it stopped.
    async fn read_to_end<B>(body: B) -> (Duration, Result<u64, String>)
    where
        B: HttpBody<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        use http_body_util::BodyExt;
        let start = TokioInstant::now();
        let mut body = body;
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => bytes += f.data_ref().map_or(0, |d| d.len() as u64),
                Err(e) => return (start.elapsed(), Err(e.to_string())),
            }
        }
        (start.elapsed(), Ok(bytes))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_starts_is_cut_off_after_the_grace_period() {
        let (_tx, rx) = tokio::sync::mpsc::channel(1);
        let l = limits();
        let body = MinRate::new(Fed(rx), l.body_min_rate, l.body_grace, l.body_gap);
        let (after, r) = read_to_end(body).await;
        assert!(r.unwrap_err().contains("more slowly than 240 bytes"));
        assert_eq!(after.as_secs(), l.body_grace.as_secs());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_may_not_pause_longer_than_the_gap_whatever_it_sent_before() {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let l = limits();
        let conn = conns(1).admit().unwrap().conn.clone();
        let body =
            MinRate::new(Fed(rx), l.body_min_rate, l.body_grace, l.body_gap).tracked(conn.clone());
        // A megabyte at once earns more than an hour at the minimum rate; the gap still holds.
        tx.send(Bytes::from(vec![b'x'; 1 << 20])).await.unwrap();
        let reading = tokio::spawn(read_to_end(body));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            conn.body_waits.load(Ordering::Acquire),
            1,
            "waiting on the client"
        );
        let (after, r) = reading.await.unwrap();
        assert_eq!(
            r.unwrap_err(),
            "the request body paused for more than 20 seconds"
        );
        assert_eq!(after.as_secs(), l.body_gap.as_secs());
        assert_eq!(
            conn.body_waits.load(Ordering::Acquire),
            0,
            "the wait ended with the body"
        );
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_up_the_rate_is_read_whole() {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let l = limits();
        let body = MinRate::new(Fed(rx), l.body_min_rate, l.body_grace, l.body_gap);
        let reading = tokio::spawn(read_to_end(body));
        // 300 bytes a second for a minute, in one-second steps.
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tx.send(Bytes::from(vec![b'x'; 300])).await.unwrap();
        }
        drop(tx);
        let (_, r) = reading.await.unwrap();
        assert_eq!(r.unwrap(), 60 * 300);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_the_client_does_not_read_fails_and_marks_the_connection_writing() {
        use tokio::io::AsyncWriteExt;
        let (server, _client) = tokio::io::duplex(1024);
        let l = limits();
        let conn = conns(1).admit().unwrap().conn.clone();
        let mut stream = Stalls::new(server, &l, conn.clone());
        let start = TokioInstant::now();
        let r = stream.write_all(&[b'x'; 4096]).await;
        let after = start.elapsed();
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        assert!(conn.writing.load(Ordering::Acquire));
        // 1024 bytes were taken: they buy 1024/240 s on top of the grace period.
        let expected = l.answer_grace + Duration::from_secs_f64(1024.0 / 240.0);
        assert!(
            after >= expected && after < expected + Duration::from_secs(1),
            "{after:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_read_at_a_fair_pace_is_written_whole() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (server, mut client) = tokio::io::duplex(1024);
        let conn = conns(1).admit().unwrap().conn.clone();
        let mut stream = Stalls::new(server, &limits(), conn.clone());
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut total = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                match client.read(&mut buf).await.unwrap() {
                    0 => return total,
                    n => total += n,
                }
            }
        });
        stream.write_all(&[b'x'; 30_000]).await.unwrap();
        stream.flush().await.unwrap();
        assert!(
            !conn.writing.load(Ordering::Acquire),
            "flushed: nothing held"
        );
        drop(stream);
        assert_eq!(reader.await.unwrap(), 30_000);
    }
}
