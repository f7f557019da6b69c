//! `tiport serve`: the HTTP service.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use store::{Principal, PrincipalKind, Role, Store, WorkspaceId};
use tiport_core::auth::{self, Authority};
use tiport_core::oidc::TrustedIssuer;

use super::store_args::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    /// A TOML file of settings (keys as the flags, e.g. `requests-per-minute = 100`); the
    /// environment and flags override it. Read before the command line is parsed
    /// (`config::with_file_settings`), so the field itself is not used.
    #[arg(long, env = "TIPORT_CONFIG", value_name = "FILE")]
    #[allow(dead_code)]
    config: Option<std::path::PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// Where to listen (port 0: any free port, which the log's first line names).
    #[arg(long, env = "TIPORT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Requests per minute per principal on the upload API; 0 turns throttling off.
    #[arg(long, env = "TIPORT_REQUESTS_PER_MINUTE", default_value_t = server::Limits::default().requests_per_minute)]
    requests_per_minute: u32,
    /// Objects per upload request.
    #[arg(long, env = "TIPORT_MAX_OBJECTS_PER_REQUEST", default_value_t = server::Limits::default().max_objects_per_request)]
    max_objects_per_request: usize,
    /// The largest upload body, in bytes.
    #[arg(long, env = "TIPORT_MAX_UPLOAD_BYTES", default_value_t = server::Limits::default().max_upload_bytes)]
    max_upload_bytes: usize,
    /// The URL clients use to reach this service, e.g. `https://ti.example.com`: tokens name
    /// it as their issuer, and the OpenID configuration sends clients to it. Without it, each
    /// request's own scheme and `Host` are used (tokens issued under any of the service's
    /// names stay valid under the others); set it behind a proxy that changes them.
    #[arg(long, env = "TIPORT_PUBLIC_URL")]
    public_url: Option<String>,
    /// The largest CSV file an import accepts, in bytes.
    #[arg(long, env = "TIPORT_MAX_CSV_BYTES",
          default_value_t = tiport_core::import::FileLimits::default().csv_bytes)]
    max_csv_bytes: u64,
    /// The largest JSON file an import accepts, in bytes.
    #[arg(long, env = "TIPORT_MAX_JSON_BYTES",
          default_value_t = tiport_core::import::FileLimits::default().json_bytes)]
    max_json_bytes: u64,
    /// A certificate chain (PEM) to serve HTTPS with; needs --tls-key.
    #[arg(
        long,
        env = "TIPORT_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key"
    )]
    tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(
        long,
        env = "TIPORT_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    tls_key: Option<std::path::PathBuf>,
    /// How long an issued token is valid, e.g. `1h`.
    #[arg(long, env = "TIPORT_TOKEN_LIFETIME", default_value = "1h",
          value_parser = crate::cmd::config::parse_duration)]
    token_lifetime: Duration,
    /// An external OpenID Connect issuer whose tokens are accepted: its issuer URL (the
    /// tokens' `iss`) and its JWKS URL, separated by a space. Repeatable; in the environment,
    /// several are separated by commas. Grant its principals roles with `tiport role grant`.
    #[arg(
        long,
        env = "TIPORT_TRUST_ISSUER",
        value_name = "ISSUER JWKS_URL",
        value_delimiter = ','
    )]
    trust_issuer: Vec<TrustedIssuer>,
    /// The most connections open at once. At the cap, the connection that has waited longest
    /// for a request is closed to make room for a new one. Kept below the limit of open files,
    /// which `serve` raises to the most it may.
    #[arg(long, env = "TIPORT_MAX_CONNECTIONS", default_value_t = server::ConnLimits::default().max_connections)]
    max_connections: usize,
    /// File imports that run at once; more wait, `queued`. The embedded store writes one
    /// import at a time whatever this says.
    #[arg(long, env = "TIPORT_MAX_RUNNING_IMPORTS", default_value_t = 1)]
    max_running_imports: usize,
    /// File imports that may wait to run (each keeps its file on disk meanwhile); past that,
    /// an import is refused with 429 and Retry-After.
    #[arg(long, env = "TIPORT_MAX_WAITING_IMPORTS", default_value_t = 20)]
    max_waiting_imports: usize,
    /// How long a connection may take to send a request's head (the request line and headers)
    /// once it is ready for one; an idle keep-alive connection is closed after as long.
    #[arg(long, env = "TIPORT_HEADER_TIMEOUT", default_value = "30s",
          value_parser = crate::cmd::config::parse_duration)]
    header_timeout: Duration,
    /// How often the running service applies the retention periods and fails imports whose
    /// process is gone, e.g. `10m`.
    #[arg(long, env = "TIPORT_HOUSEKEEPING_INTERVAL", default_value = "10m",
          value_parser = crate::cmd::config::parse_duration)]
    housekeeping_interval: Duration,
}

pub fn run(args: Args) -> Result<ExitCode> {
    init_logging();
    let opened = args.store.open()?;
    let data_dir = opened.data_dir.clone();
    let files = opened.files.clone();
    let retention = opened.retention;
    let file_limits = tiport_core::import::FileLimits {
        csv_bytes: args.max_csv_bytes,
        json_bytes: args.max_json_bytes,
    };
    let store: Arc<dyn Store> = Arc::new(opened.store);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let shared = store.clone();
    runtime.block_on(async move {
        let store = shared;
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                Some(server::tls_config(cert, key).map_err(anyhow::Error::msg)?)
            }
            _ => None,
        };
        let conn_limits = server::ConnLimits {
            max_connections: connection_cap(args.max_connections),
            header_timeout: args.header_timeout.max(Duration::from_millis(100)),
            ..server::ConnLimits::default()
        };
        let listener = std::net::TcpListener::bind(args.listen)
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let authority = authority(&args, &*store, &format!("{scheme}://{addr}"))?;
        first_start(&*store, authority.tenant(), &data_dir)?;
        let limits = server::Limits {
            max_objects_per_request: args.max_objects_per_request,
            requests_per_minute: args.requests_per_minute,
            max_upload_bytes: args.max_upload_bytes,
            ..server::Limits::default()
        };
        tracing::info!(%addr, tenant = authority.tenant(), "listening on {scheme}://{addr}");
        let imports = tiport_core::import_queue::ImportQueue::new(
            store.clone(),
            files.clone(),
            file_limits,
            args.max_running_imports,
            args.max_waiting_imports,
        );
        spawn_housekeeping(store.clone(), files, retention, args.housekeeping_interval);
        let guard = tiport_core::guard::SignInGuard::for_this_machine(Default::default())
            .context("cannot start the secret checks")?;
        let app = Arc::new(server::App::new(
            store.clone(),
            authority,
            limits,
            imports,
            guard,
        ));
        fetch_trusted_keys(&app);
        let listener = tokio::net::TcpListener::from_std(listener)?;
        server::serve(listener, app.clone(), tls, conn_limits, shutdown_signal()).await?;
        // Imports still running finish before the process ends (their records then say how
        // they ended; a kill instead leaves them to be failed at the next start).
        let waiting = app.clone();
        tokio::task::spawn_blocking(move || waiting.imports.wait()).await?;
        tracing::info!("stopped; in-flight requests finished");
        anyhow::Ok(())
    })?;
    // Blocking tasks still running (a write being committed) finish with the runtime; then the
    // last reference goes and the store's writer finishes what was queued, and closes.
    drop(runtime);
    drop(store);
    Ok(ExitCode::SUCCESS)
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIPORT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}

/// The token issuer: its key from the store (made on the first start), its public URL, and
/// the external issuers it trusts.
fn authority(args: &Args, store: &dyn Store, listen_url: &str) -> Result<Authority> {
    if let Some(url) = &args.public_url {
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.contains(char::is_whitespace)
        {
            anyhow::bail!("--public-url must be an http:// or https:// URL, not {url:?}");
        }
    }
    let mut authority = Authority::load_or_init(
        store,
        args.public_url.as_deref(),
        listen_url,
        auth::DEFAULT_AUDIENCES
            .iter()
            .map(|a| a.to_string())
            .collect(),
        args.token_lifetime,
    )?;
    authority
        .trust(&args.trust_issuer)
        .map_err(|e| anyhow::anyhow!("--trust-issuer: {e}"))?;
    Ok(authority)
}

/// Opening the store swept once; a service that runs for weeks must keep doing it, or
/// uploaded files and error files outlive their retention. Off the async threads.
fn spawn_housekeeping(
    store: Arc<dyn Store>,
    files: tiport_core::files::ImportFiles,
    retention: store::Retention,
    interval: Duration,
) {
    let interval = interval.max(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.tick().await;
        loop {
            every.tick().await;
            let (store, files) = (store.clone(), files.clone());
            let done = tokio::task::spawn_blocking(move || {
                tiport_core::housekeeping(&*store, &files, &retention)
            })
            .await;
            match done {
                Ok(Ok(h)) => log_housekeeping(&h),
                Ok(Err(e)) => tracing::warn!(error = %e, "housekeeping failed"),
                Err(e) => tracing::warn!(error = %e, "housekeeping task failed"),
            }
        }
    });
}

fn log_housekeeping(h: &tiport_core::Housekeeping) {
    if h.swept.records_deleted > 0 || !h.swept.files_expired.is_empty() {
        tracing::info!(
            records = h.swept.records_deleted,
            files = h.swept.files_expired.len(),
            "expired import records and files removed"
        );
    }
    if h.failed_imports > 0 {
        tracing::warn!(
            imports = h.failed_imports,
            "imports whose process is gone marked failed"
        );
    }
    if let Some(e) = &h.delete_error {
        tracing::warn!(error = %e, "could not delete an expired import file");
    }
}

/// The trusted issuers' keys are fetched in the background: an issuer that cannot be reached
/// now is asked again when a token of it arrives.
fn fetch_trusted_keys(app: &Arc<server::App>) {
    for issuer in app
        .authority
        .trusted()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    {
        let app = app.clone();
        if app.authority.begin_refresh(&issuer) != tiport_core::oidc::Refresh::Start {
            continue;
        }
        tokio::task::spawn_blocking(move || match app.authority.fetch_keys(&issuer) {
            Ok(()) => tracing::info!(%issuer, "trusting the tokens of this issuer"),
            Err(e) => {
                tracing::warn!(%issuer, error = %e, "cannot fetch this trusted issuer's keys yet")
            }
        });
    }
}

/// Descriptors kept for everything but connections: the store's files and connections, import
/// files, the listening socket, the log.
const RESERVED_FILES: u64 = 256;

/// The connection cap: `wanted`, or fewer if the limit of open files (raised first to the
/// hard limit, as far as this process may) would not leave room for the store's own files.
fn connection_cap(wanted: usize) -> usize {
    let files = raise_open_files_limit();
    let room = files.saturating_sub(RESERVED_FILES).max(16) as usize;
    if wanted > room {
        tracing::warn!(
            wanted,
            cap = room,
            open_files = files,
            "fewer connections than asked: the limit of open files leaves room for only this many"
        );
        room
    } else {
        wanted
    }
}

/// Raises the soft limit of open files to the hard limit; returns the limit in force.
fn raise_open_files_limit() -> u64 {
    // SAFETY: getrlimit and setrlimit read and write the struct passed, nothing else.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        // An unlimited hard limit still has the kernel's ceiling (fs.nr_open, 1,048,576 by
        // default); more than that fails.
        let target = lim.rlim_max.min(1 << 20);
        if lim.rlim_cur < target {
            let raised = libc::rlimit {
                rlim_cur: target,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return target;
            }
        }
        lim.rlim_cur
    }
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

/// Whenever the store has no client (a new store, or one that `tiport` commands filled before
/// the service first ran): a contributor client on the first workspace (a `default` one is made
/// if there is none) and, if there is none yet, the admin user; printed once on stdout and
/// written to `DATA_DIR/initial-credentials.json` (mode 0600), whose path the log names.
fn first_start(store: &dyn Store, tenant: &str, data_dir: &Path) -> Result<()> {
    if !store.principals(PrincipalKind::Client)?.is_empty() {
        return Ok(());
    }
    let ws = match store.workspaces()?.first() {
        Some(w) => w.id,
        None => {
            let ws = WorkspaceId::random();
            store.create_workspace(ws, "default")?;
            ws
        }
    };
    let client = auth::create_client(store, tenant, ws, Role::Contributor, "default client")?;
    let mut credentials = serde_json::json!({
        "tenant_id": tenant,
        "workspace_id": ws.to_string(),
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    });
    if store.principal("admin")?.is_none() {
        let password = auth::random_secret()?;
        store.create_principal(&Principal {
            id: "admin".into(),
            kind: PrincipalKind::User,
            name: "admin".into(),
            secret_hash: Some(auth::hash_secret(&password)?),
            created: stix::Timestamp::now(),
        })?;
        store.assign_role(ws, "admin", Role::Contributor)?;
        credentials["username"] = "admin".into();
        credentials["password"] = password.into();
    }
    let path = data_dir.join("initial-credentials.json");
    let mut f = tiport_core::files::create_private(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    use std::io::Write;
    writeln!(f, "{credentials}")?;
    f.sync_all()?;
    println!("{credentials}");
    tracing::info!(path = %path.display(), workspace = %ws, "no client yet: created one (and the admin user if there was none); the credentials are shown once above and kept in this file");
    Ok(())
}
