//! The HTTP service: axum routes over the `tiport-core` use cases.
//!
//! # Key decision: a thin edge
//!
//! Each handler reads its input (path, query string through `params::Params`, headers, body),
//! calls one use case (on a blocking thread: the store is synchronous, and a write returns
//! only once it is durable), and shapes the answer. Use cases return errors that name their
//! kind (`tiport_core::error::DomainError`); handlers pass them on with `?`, and one table
//! ([`error::status_and_code`]) turns a kind into a status and a stable code. HTTP types
//! appear nowhere else in the workspace (tiport-core's only HTTP is a client fetching a JWKS).
//! The edge opens no file but the TLS certificate and key ([`tls_config`], at start): the core
//! hands it the files it streams (an import's incoming file, an error file).
//!
//! The order of checks on an upload is fixed and tested: `api-version` (400), content type
//! (415), token (401), throttling per principal (429), workspace and role (404 for an unknown
//! or foreign workspace, 403 for a reader), body size (413, read at most up to the limit: a
//! longer body is never buffered), then the body itself (400 or per-record errors).

mod answers;
pub mod error;
mod imports;
pub mod listener;
pub mod metrics;
mod params;
mod routes;
mod token;
mod web;

use std::sync::Arc;

use store::Store;
use tiport_core::auth::Authority;
use tiport_core::import_queue::ImportQueue;

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
    /// File imports posted to the service, and the queue that runs them.
    pub imports: Arc<ImportQueue>,
    pub metrics: metrics::Metrics,
    /// Checks client secrets at the token endpoint: bounded work, failures throttled.
    pub guard: tiport_core::guard::SignInGuard,
    /// The web UI overview's counts of each workspace, made in the background.
    pub overview: Arc<tiport_core::overview::Counts>,
    pub(crate) large_answers: answers::LargeAnswers,
    pub(crate) upload_memory: answers::UploadMemory,
}

impl App {
    /// The service over `store`; each import of `imports` that ends is counted in the
    /// metrics.
    pub fn new(
        store: Arc<dyn Store>,
        authority: Authority,
        limits: Limits,
        imports: ImportQueue,
        guard: tiport_core::guard::SignInGuard,
    ) -> App {
        let limiter = (limits.requests_per_minute > 0).then(|| {
            tiport_core::throttle::Throttle::new(
                limits.requests_per_minute as usize,
                std::time::Duration::from_secs(60),
            )
        });
        let metrics = metrics::Metrics::new();
        let import_seconds = metrics.import_seconds.clone();
        let imports = imports.with_on_end(Box::new(move |status, took| {
            import_seconds
                .get_or_create(&metrics::ImportLabels {
                    status: status.as_str().to_owned(),
                })
                .observe(took.as_secs_f64());
        }));
        App {
            overview: tiport_core::overview::Counts::new(store.clone()),
            store,
            authority,
            upload_memory: answers::UploadMemory::new(
                limits.upload_memory_bytes,
                limits.max_upload_bytes,
            ),
            large_answers: answers::LargeAnswers::default(),
            limits,
            limiter,
            imports: Arc::new(imports),
            metrics,
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
