//! The HTTP service: axum routes over the `tiport-core` use cases.
//!
//! # Key decision: a thin edge
//!
//! Each handler reads its input, calls one use case (on a blocking thread: the store is
//! synchronous, and a write returns only once it is durable), and writes the answer. Every
//! error goes through one table ([`error::ApiError`]) from kind to status and body; HTTP types
//! appear nowhere else in the workspace.
//!
//! The order of checks on an upload is fixed and tested: `api-version` (400), content type
//! (415), token (401), throttling per principal (429), workspace and role (404 for an unknown
//! or foreign workspace, 403 for a reader), body size (413, read at most up to the limit, never
//! buffered whole), then the body itself (400 or per-record errors).

mod answers;
pub mod error;
mod imports;
pub mod listener;
pub mod metrics;
mod routes;

use std::sync::{Arc, Mutex};

use store::Store;
use tiport_core::auth::Authority;
use tiport_core::files::ImportFiles;
use tiport_core::import::FileLimits;

pub use listener::ConnLimits;

/// What the service enforces; all configurable (`tiport serve` flags, environment, file).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Objects per upload request (the hosted API's 100).
    pub max_objects_per_request: usize,
    /// Requests per minute per principal; 0 turns throttling off.
    pub requests_per_minute: u32,
    /// The largest upload body accepted, in bytes.
    pub max_upload_bytes: usize,
    /// The memory all upload bodies being read or worked on may hold together, in bytes.
    pub upload_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_objects_per_request: 100,
            requests_per_minute: 100,
            // 100 objects of up to ~1 MB each is far beyond any real request; the record limit
            // of the reader (16 MiB) is the other bound.
            max_upload_bytes: 32 << 20,
            // Sixteen bodies at the size limit, or thousands of real ones.
            upload_memory_bytes: 512 << 20,
        }
    }
}

/// Everything a handler needs.
pub struct App {
    pub store: Arc<dyn Store>,
    pub authority: Authority,
    pub limits: Limits,
    limiter: Option<tiport_core::throttle::Throttle>,
    pub imports: Imports,
    pub metrics: metrics::Metrics,
    /// Checks client secrets at the token endpoint: bounded work, failures throttled.
    pub guard: tiport_core::guard::SignInGuard,
    pub(crate) large_answers: answers::LargeAnswers,
    pub(crate) upload_memory: answers::UploadMemory,
}

/// File imports over HTTP: where their files go, their size limits, and the queue that runs
/// them: at most `max_running` at once, on worker threads at background priority (so that
/// uploads keep their latency), and at most `max_waiting` queued behind them (each holds a
/// copy of its file on disk); more is refused with 429.
pub struct Imports {
    pub files: ImportFiles,
    pub limits: FileLimits,
    /// This process, as the owner recorded on the imports it runs.
    pub owner: String,
    max_running: usize,
    max_waiting: usize,
    queue: Mutex<ImportQueue>,
}

/// Imports one principal may be posting at once. An import holds its place in the queue from
/// the moment it is posted, so without this one client posting slowly could hold every place.
const MAX_POSTING_PER_PRINCIPAL: usize = 2;

#[derive(Default)]
struct ImportQueue {
    waiting: std::collections::VecDeque<tiport_core::import::ImportJob>,
    /// Imports being posted, by principal: their place is kept while the file arrives and is
    /// recorded.
    posting: std::collections::HashMap<String, usize>,
    reserved: usize,
    running: usize,
    workers: Vec<std::thread::JoinHandle<()>>,
    /// Set at shutdown: workers take no new imports.
    stopping: bool,
}

/// Why an import could not have a place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoPlace {
    /// The queue is full: this many imports are waiting or being posted.
    Full(usize),
    /// The principal is already posting as many imports as it may.
    Posting,
    /// The service is stopping.
    Stopping,
}

impl Imports {
    pub fn new(files: ImportFiles, limits: FileLimits) -> Imports {
        Imports::with_queue(files, limits, 1, 20)
    }

    /// At most `max_running` imports at once (at least one), `max_waiting` more queued.
    pub fn with_queue(
        files: ImportFiles,
        limits: FileLimits,
        max_running: usize,
        max_waiting: usize,
    ) -> Imports {
        Imports {
            files,
            limits,
            owner: tiport_core::owner::current(),
            max_running: max_running.max(1),
            max_waiting,
            queue: Mutex::new(ImportQueue::default()),
        }
    }

    /// A place for an import `principal` is posting, if the queue has room and the principal
    /// is not already posting as many as it may.
    fn reserve(app: &Arc<App>, principal: &str) -> Result<Place, NoPlace> {
        let this = &app.imports;
        let mut q = this.queue.lock().expect("import queue");
        if q.stopping {
            return Err(NoPlace::Stopping);
        }
        let waiting = q.waiting.len() + q.reserved;
        if waiting + q.running.min(this.max_running) >= this.max_running + this.max_waiting {
            return Err(NoPlace::Full(waiting));
        }
        let posting = q.posting.entry(principal.to_owned()).or_default();
        if *posting >= MAX_POSTING_PER_PRINCIPAL {
            return Err(NoPlace::Posting);
        }
        *posting += 1;
        q.reserved += 1;
        Ok(Place {
            app: app.clone(),
            principal: principal.to_owned(),
            held: true,
        })
    }

    /// Queues `job` (recorded `queued`) in the place reserved for it, starting a worker if
    /// fewer than the most run. If the service is stopping, the import ends failed instead.
    fn submit(mut place: Place, job: tiport_core::import::ImportJob) {
        let app = place.app.clone();
        let this = &app.imports;
        let mut q = this.queue.lock().expect("import queue");
        place.give_back(&mut q);
        if q.stopping {
            drop(q);
            fail_unstarted(&*app.store, &job);
            return;
        }
        q.workers.retain(|t| !t.is_finished());
        q.waiting.push_back(job);
        if q.running >= this.max_running {
            return;
        }
        q.running += 1;
        let worker = app.clone();
        let spawned = std::thread::Builder::new()
            .name("import-worker".into())
            .spawn(move || work(&worker));
        match spawned {
            Ok(t) => q.workers.push(t),
            Err(e) => {
                q.running -= 1;
                tracing::error!(error = %e, "cannot start an import worker; the import waits for one");
            }
        }
    }

    /// Lets the imports that run finish, and ends those still waiting as failed (the service is
    /// stopping; their files are kept until retention removes them).
    pub fn wait(&self, store: &dyn Store) {
        let (waiting, workers) = {
            let mut q = self.queue.lock().expect("import queue");
            q.stopping = true;
            (
                std::mem::take(&mut q.waiting),
                std::mem::take(&mut q.workers),
            )
        };
        for job in waiting {
            fail_unstarted(store, &job);
        }
        for t in workers {
            let _ = t.join();
        }
    }
}

/// An import worker: runs queued imports, at background priority, until none is waiting.
fn work(app: &Arc<App>) {
    tiport_core::priority::background();
    loop {
        let job = {
            let mut q = app.imports.queue.lock().expect("import queue");
            match q.waiting.pop_front().filter(|_| !q.stopping) {
                Some(j) => j,
                None => {
                    q.running -= 1;
                    return;
                }
            }
        };
        // A bug that panics in one import must not take the worker with it: the import would
        // stay `running` and the queue would count a worker that no longer exists, so no
        // import would ever run again.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            imports::run_one(app, &job);
        }));
        if ran.is_err() {
            tracing::error!(import = %job.id, "the import stopped on an internal error");
            if let Err(e) = tiport_core::import::fail(
                &*app.store,
                &job,
                "tiport met an internal error running this import and stopped it; import the \
                 file again, and report the problem if it happens again",
            ) {
                tracing::error!(import = %job.id, error = %e, "cannot mark the import failed");
            }
        }
    }
}

fn fail_unstarted(store: &dyn Store, job: &tiport_core::import::ImportJob) {
    if let Err(e) = tiport_core::import::fail(
        store,
        job,
        "the service stopped before the import started; import the file again",
    ) {
        tracing::warn!(import = %job.id, error = %e, "cannot mark a waiting import failed");
    }
}

/// An import's place in the queue while it is posted; given back if the post fails.
struct Place {
    app: Arc<App>,
    principal: String,
    held: bool,
}

impl Place {
    fn give_back(&mut self, q: &mut ImportQueue) {
        if !std::mem::take(&mut self.held) {
            return;
        }
        q.reserved -= 1;
        if let Some(n) = q.posting.get_mut(&self.principal) {
            *n -= 1;
            if *n == 0 {
                q.posting.remove(&self.principal);
            }
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.held {
            let app = self.app.clone();
            let mut q = app.imports.queue.lock().expect("import queue");
            self.give_back(&mut q);
        }
    }
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        authority: Authority,
        limits: Limits,
        imports: Imports,
        guard: tiport_core::guard::SignInGuard,
    ) -> App {
        let limiter = (limits.requests_per_minute > 0).then(|| {
            tiport_core::throttle::Throttle::new(
                limits.requests_per_minute as usize,
                std::time::Duration::from_secs(60),
            )
        });
        App {
            store,
            authority,
            upload_memory: answers::UploadMemory::new(
                limits.upload_memory_bytes,
                limits.max_upload_bytes,
            ),
            large_answers: answers::LargeAnswers::default(),
            limits,
            limiter,
            imports,
            metrics: metrics::Metrics::new(),
            guard,
        }
    }
}

/// The service's routes.
pub fn router(app: Arc<App>) -> axum::Router {
    routes::router(app)
}

/// Reads a certificate chain and its private key (PEM) into a TLS configuration, with `ring` as
/// the crypto provider.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` on `listener`, over HTTPS when `tls` is given, until `shutdown` completes;
/// requests in flight then get up to 30 seconds to finish. See [`listener`] for the bounds
/// every connection is held to.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(listener, router(app), tls, limits, shutdown).await
}
