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
//!   counting only the time the service is waiting for it ([`MinRate`]);
//! - an answer the client does not read stalls the socket: a write that makes no progress for
//!   [`ConnLimits::write_timeout`] ends the connection ([`Stalls`]);
//! - at most [`ConnLimits::max_connections`] are open. When a new one arrives at the cap, the
//!   connection that has waited longest for a request (one that is idle, or has not finished
//!   its first request head, or its TLS handshake) is closed to make room; only if every
//!   connection is busy with a request is the newcomer refused.
//!
//! The last rule is what keeps the service reachable while an attacker holds many connections:
//! an attacker's connections never finish a request, so they are always the ones waiting
//! longest, and a client that sends its request as soon as it connects is never the one
//! closed. A fixed per-address quota was the alternative; it does nothing against many
//! addresses and would refuse a busy proxy.
//!
//! Only HTTP/1.1 is spoken, over TCP and over TLS (ALPN `http/1.1`); cleartext HTTP/2 (h2c) is
//! not, which `axum::serve` offered whenever hyper's HTTP/2 support was compiled in.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
use tokio::time::Sleep;
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
#[error("the request body arrived more slowly than {0} bytes a second")]
pub struct BodyTooSlow(pub u64);

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
                // Out of file descriptors or memory, or the peer reset before we accepted:
                // none of these ends the service. A short pause keeps a full descriptor table
                // from turning the loop into a spin.
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
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
    while conns.open() > 0 && tokio::time::Instant::now() < deadline {
        let _ = tokio::time::timeout_at(deadline, conns.closed.notified()).await;
    }
    Ok(())
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
    let stream = Stalls::new(stream, limits.write_timeout);
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
    let (rate, grace) = (limits.body_min_rate, limits.body_grace);
    let tracked = conn.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let busy = Busy::start(tracked.clone());
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(Secure(secure));
        let req = req.map(|b| Body::new(MinRate::new(b, rate, grace)));
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
            tracing::debug!(%peer, "idle connection closed to make room for a new one");
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
    epoch: Instant,
}

struct Live {
    next: u64,
    conns: HashMap<u64, Arc<Conn>>,
}

/// One connection's state, as the cap's rule reads it.
struct Conn {
    /// Requests being answered (more than one only if a client pipelines).
    in_flight: AtomicUsize,
    /// When it last started waiting for a request, in milliseconds since [`Conns::epoch`].
    waiting_since: AtomicU64,
    /// Told to close, to make room.
    evict: Notify,
    epoch: Instant,
}

impl Conn {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
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
            epoch: Instant::now(),
        }
    }

    fn open(&self) -> usize {
        self.live.lock().expect("connections").conns.len()
    }

    /// A place for a new connection: at the cap, the one that has waited longest for a
    /// request is told to close and its place taken; `None` if every one is busy.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut live = self.live.lock().expect("connections");
        if live.conns.len() >= self.max {
            let victim = live
                .conns
                .iter()
                .filter(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, c)| c.waiting_since.load(Ordering::Acquire))
                .map(|(id, _)| *id)?;
            let evicted = live.conns.remove(&victim).expect("found above");
            // A permit is stored if its task is not waiting yet: it closes when it next looks.
            evicted.evict.notify_one();
        }
        let id = live.next;
        live.next += 1;
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            waiting_since: AtomicU64::new(self.epoch.elapsed().as_millis() as u64),
            evict: Notify::new(),
            epoch: self.epoch,
        });
        live.conns.insert(id, conn.clone());
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

/// A request body that must keep arriving at `rate` bytes a second once `grace` has passed.
/// Only the time the service spends waiting for it counts: a handler that checks a token
/// before it reads the body does not use up the client's allowance.
pub struct MinRate<B> {
    inner: B,
    rate: u64,
    grace: Duration,
    bytes: u64,
    /// Time spent waiting for the body before the current wait.
    waited: Duration,
    waiting_since: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> MinRate<B> {
    pub fn new(inner: B, rate: u64, grace: Duration) -> Self {
        MinRate {
            inner,
            rate: rate.max(1),
            grace,
            bytes: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            timer: None,
        }
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
                if let Some(since) = this.waiting_since.take() {
                    this.waited += since.elapsed();
                }
                if let Some(Ok(f)) = &frame {
                    this.bytes += f.data_ref().map_or(0, |d| d.len() as u64);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let now = Instant::now();
                let since = *this.waiting_since.get_or_insert(now);
                // The bytes received so far buy this much waiting in all.
                let allowed =
                    this.grace + Duration::from_secs_f64(this.bytes as f64 / this.rate as f64);
                let deadline = since + allowed.saturating_sub(this.waited);
                if now >= deadline {
                    return Poll::Ready(Some(Err(Box::new(BodyTooSlow(this.rate)))));
                }
                let deadline = tokio::time::Instant::from_std(deadline);
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(BodyTooSlow(this.rate)))));
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

/// A stream whose writes fail once one has made no progress for `timeout`: a client that
/// stops reading its answer would otherwise hold its connection (and the answer's buffers)
/// for ever.
struct Stalls<S> {
    inner: S,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> Stalls<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        Stalls {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// After a write attempt: clears the timer on progress, or arms it (and fails once it
    /// fires) while the socket takes nothing.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client stopped reading",
                    )));
                }
                Poll::Pending
            }
        }
    }
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
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, r)
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
}
