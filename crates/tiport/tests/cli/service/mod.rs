//! End-to-end tests of `tiport serve`: the real binary on a free port with a fresh data
//! directory, driven over HTTP as a client of the hosted API would drive it.
//!
//! Here: [`Service`], the real binary on a free port with a fresh data directory, and the
//! helpers its tests share; the tests are grouped by what they drive, one file each.

mod imports;
mod operations;
mod queries;
mod tokens;
mod uploads;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{run, seed_samples, stdout, tiport};

const UPLOAD: &str = "threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview";

pub(crate) struct Service {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) creds: Value,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) agent: ureq::Agent,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Service {
    pub(crate) fn start(extra: &[&str]) -> Service {
        Service::start_with_env(extra, &[])
    }

    /// A service started with `extra`, and a token of its first client: where most tests begin.
    pub(crate) fn start_with_token(extra: &[&str]) -> (Service, String) {
        let s = Service::start(extra);
        let token = s.token();
        (s, token)
    }

    pub(crate) fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Service {
        Service::start_in(tempfile::tempdir().unwrap(), extra, env)
    }

    /// A service on `dir`, which may hold a store already (a restart).
    pub(crate) fn start_in(
        dir: tempfile::TempDir,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Service {
        let mut child = tiport()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .envs(env.iter().copied())
            .env("TIPORT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tiport serve");
        // The log names the address once the service listens.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut first_lines = Vec::new();
        let base = loop {
            assert!(Instant::now() < deadline, "tiport serve did not start");
            let line = lines.next().expect("tiport serve exited").unwrap();
            first_lines.push(line.clone());
            if let Some(at) = line.find("listening on http") {
                let rest = &line[at + "listening on ".len()..];
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining the log so the service never blocks on a full pipe, and keep it for
        // tests that read what the service logged.
        let log = std::sync::Arc::new(std::sync::Mutex::new(first_lines));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        let creds: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("initial-credentials.json")).unwrap(),
        )
        .unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Service {
            child,
            base,
            creds,
            dir,
            agent,
            log,
        }
    }

    /// What the service has logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub(crate) fn cred(&self, k: &str) -> String {
        self.creds[k].as_str().unwrap().to_owned()
    }

    pub(crate) fn token_for(&self, client_id: &str, secret: &str) -> String {
        let r = self.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", "https://management.azure.com/.default"),
        ]);
        assert_eq!(r.0, 200, "{}", r.1);
        let v: Value = serde_json::from_str(&r.1).unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert!(v["expires_in"].as_u64().unwrap() > 0);
        v["access_token"].as_str().unwrap().to_owned()
    }

    pub(crate) fn token(&self) -> String {
        self.token_for(&self.cred("client_id"), &self.cred("client_secret"))
    }

    pub(crate) fn token_request(&self, form: &[(&str, &str)]) -> (u16, String) {
        let url = format!("{}/{}/oauth2/v2.0/token", self.base, self.cred("tenant_id"));
        let mut r = self
            .agent
            .post(&url)
            .send_form(form.iter().copied())
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    pub(crate) fn upload_url(&self, ws: &str) -> String {
        format!("{}/workspaces/{ws}/{UPLOAD}", self.base)
    }

    /// POSTs `body` as `content_type` with a bearer token (if any), and returns the answer
    /// unread, for a test that looks at its headers.
    pub(crate) fn send_post(
        &self,
        url: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> ureq::http::Response<ureq::Body> {
        let mut req = self.agent.post(url).header("Content-Type", content_type);
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        req.send(body).unwrap()
    }

    /// POSTs `body` as JSON with a bearer token (if any); returns status, Retry-After, body.
    pub(crate) fn post(
        &self,
        url: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (u16, Option<String>, String) {
        let mut r = self.send_post(url, token, "application/json", body);
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (
            r.status().as_u16(),
            retry,
            r.body_mut().read_to_string().unwrap(),
        )
    }

    pub(crate) fn upload(&self, token: &str, body: &Value) -> (u16, String) {
        let (s, _, b) = self.post(
            &self.upload_url(&self.cred("workspace_id")),
            Some(token),
            body.to_string().as_bytes(),
        );
        (s, b)
    }

    pub(crate) fn healthy(&self) -> bool {
        let mut r = self
            .agent
            .get(format!("{}/healthz", self.base))
            .call()
            .unwrap();
        r.status() == 200 && r.body_mut().read_to_string().unwrap() == "ok"
    }

    pub(crate) fn data_dir(&self) -> String {
        self.dir.path().to_str().unwrap().to_owned()
    }
}

impl Service {
    /// Runs an operator's command on the workspace beside the running service: `tiport
    /// ARGS… --workspace WS --data-dir DIR`, which must succeed; returns its stdout.
    pub(crate) fn admin(&self, args: &[&str]) -> String {
        let (ws, dir) = (self.cred("workspace_id"), self.data_dir());
        let mut all = args.to_vec();
        all.extend(["--workspace", &ws, "--data-dir", &dir]);
        let out = run(&all, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    }

    /// A new client with `role` on the workspace, made with `tiport client create`:
    /// `{"tenant_id","client_id","client_secret"}`.
    pub(crate) fn new_client(&self, role: &str) -> Value {
        serde_json::from_str(&self.admin(&["client", "create", "--role", role])).unwrap()
    }

    /// `tiport role grant` of `role` on the workspace to `principal`.
    pub(crate) fn grant(&self, principal: &str, role: &str) {
        self.admin(&["role", "grant", "--principal", principal, "--role", role]);
    }

    /// A token of a client from [`Service::new_client`].
    pub(crate) fn token_of(&self, client: &Value) -> String {
        self.token_for(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str().unwrap(),
        )
    }
}

impl Service {
    /// Stops the service (SIGTERM, as an operator would) and hands its data directory on.
    pub(crate) fn stop(mut self) -> tempfile::TempDir {
        crate::helpers::sigterm(&self.child);
        self.child.wait().expect("wait for serve to stop");
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SIGTERM: the service stops gracefully. A drop cannot fail the test, so a signal
        // that cannot be sent only ends in the SIGKILL below.
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) with a pid this test spawned and has not reaped (try_wait above).
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
    }
}

use std::process::Command;

pub(crate) fn sample(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(seed_samples().join(name)).unwrap()).unwrap()
}

pub(crate) fn indicator(n: u32) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--{:08x}-1111-4111-8111-111111111111", n),
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "pattern": format!("[ipv4-addr:value = '198.51.100.{}']", n % 250),
        "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"
    })
}

/// The objects `tiport export` finds in the service's store (read by a second process, as an
/// operator would).
pub(crate) fn exported(s: &Service) -> Vec<Value> {
    let out = run(
        &[
            "export",
            "--workspace",
            &s.cred("workspace_id"),
            "--data-dir",
            &s.data_dir(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle: Value = serde_json::from_str(&stdout(&out)).unwrap();
    bundle["objects"].as_array().unwrap().clone()
}

/// A POST written by hand: with no `Content-Type` when none is given, or declaring a length it
/// does not send. Returns the status and body.
pub(crate) fn raw_post(
    base: &str,
    url: &str,
    token: &str,
    declared_length: Option<u64>,
    body: &[u8],
) -> (u16, String) {
    let host = base.strip_prefix("http://").unwrap();
    let path = url.strip_prefix(base).unwrap();
    let mut conn = TcpStream::connect(host).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let len = declared_length.unwrap_or(body.len() as u64);
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut reader = BufReader::new(conn);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap();
        }
    }
    let mut answer = vec![0; content_length];
    reader.read_exact(&mut answer).unwrap();
    (status, String::from_utf8(answer).unwrap())
}

/// A token signed with the service's own key (read from its store, as only a holder of the
/// key could), with the claims given: what the service must still refuse when a claim is wrong.
pub(crate) fn minted(s: &Service, edit: impl FnOnce(&mut Value)) -> String {
    use base64::Engine;
    let db = s.dir.path().join("tiport.db");
    let store = store::sqlite::SqliteStore::open(&db, Default::default()).unwrap();
    let pkcs8 = store::Store::setting(&store, "token_signing_key_pkcs8")
        .unwrap()
        .expect("the service made its key");
    let der = base64::engine::general_purpose::STANDARD
        .decode(pkcs8)
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let tenant = s.cred("tenant_id");
    let client = s.cred("client_id");
    let mut claims = json!({
        "iss": format!("{}/{tenant}/v2.0", s.base), "aud": "https://management.azure.com",
        "sub": client, "appid": client, "tid": tenant,
        "iat": now, "nbf": now, "exp": now + 3600,
    });
    edit(&mut claims);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(&der),
    )
    .unwrap()
}

impl Service {
    /// GETs `path` with a bearer token (if any), and returns the answer unread, for a test
    /// that looks at its headers or reads a large body.
    pub(crate) fn send_get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> ureq::http::Response<ureq::Body> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        req.call().unwrap()
    }

    /// GETs `path` with a bearer token (if any): status and body.
    pub(crate) fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut r = self.send_get(path, token);
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    /// GETs `path` with `token`, which must be answered 200, and returns the body as JSON.
    #[track_caller]
    pub(crate) fn get_json(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.get(path, Some(token));
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"))
    }
}

/// A multipart form: text fields, then the file.
pub(crate) fn form(fields: &[(&str, &str)], file_name: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "tiport-test-boundary-7d3f";
    let mut body = Vec::new();
    for (k, v) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        )
        .unwrap();
    }
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(file);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Service {
    /// Posts a file import; returns status and body.
    pub(crate) fn import(
        &self,
        token: &str,
        fields: &[(&str, &str)],
        name: &str,
        file: &[u8],
    ) -> (u16, Value) {
        self.import_into(&self.cred("workspace_id"), token, fields, name, file)
    }

    /// [`Service::import`] into workspace `ws`.
    pub(crate) fn import_into(
        &self,
        ws: &str,
        token: &str,
        fields: &[(&str, &str)],
        name: &str,
        file: &[u8],
    ) -> (u16, Value) {
        let (content_type, body) = form(fields, name, file);
        let url = format!("{}/workspaces/{ws}/threat-intelligence/imports", self.base);
        let mut r = self.send_post(&url, Some(token), &content_type, &body);
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Polls an import until it ends; returns its record.
    pub(crate) fn finished_import(&self, token: &str, id: &str) -> Value {
        let path = format!(
            "/workspaces/{}/threat-intelligence/imports/{id}",
            self.cred("workspace_id")
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.get(&path, Some(token));
            assert_eq!(status, 200, "{body}");
            let r: Value = serde_json::from_str(&body).unwrap();
            if !["queued", "running"].contains(&r["status"].as_str().unwrap()) {
                return r;
            }
            assert!(Instant::now() < deadline, "import {id} did not end: {r}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, and its key, written into `dir`:
/// the files `serve --tls-cert --tls-key` reads.
pub(crate) fn tls_files(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let (cert, private) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&private, key.signing_key.serialize_pem()).unwrap();
    (cert, private)
}

/// A certificate for `serve --tls-cert … --tls-key …`, and the flags that give it.
pub(crate) struct Tls {
    /// Holds the two files while the test runs.
    _dir: tempfile::TempDir,
    pub cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl Tls {
    pub(crate) fn new() -> Tls {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = tls_files(dir.path());
        Tls {
            _dir: dir,
            cert,
            key,
        }
    }

    /// `--tls-cert CERT --tls-key KEY`.
    pub(crate) fn flags(&self) -> [&str; 4] {
        [
            "--tls-cert",
            self.cert.to_str().unwrap(),
            "--tls-key",
            self.key.to_str().unwrap(),
        ]
    }
}

impl Service {
    /// The `-d` arguments of a client-credentials token request, as curl sends the form.
    pub(crate) fn token_form_for_curl(&self) -> Vec<String> {
        [
            "grant_type=client_credentials".to_owned(),
            format!("client_id={}", self.cred("client_id")),
            format!("client_secret={}", self.cred("client_secret")),
            "scope=https://management.azure.com/.default".to_owned(),
        ]
        .into_iter()
        .flat_map(|field| ["-d".to_owned(), field])
        .collect()
    }
}

/// How many MiB the service's peak memory grew past `before` (a [`peak_rss_kb`] reading). The
/// kernel keeps a process's memory counters approximately (each thread caches a few pages of
/// its count), so a later reading can be a little below an earlier one: that is no growth.
pub(crate) fn grown_mb(s: &Service, before: u64) -> u64 {
    peak_rss_kb(s).saturating_sub(before) / 1024
}

/// The service's peak resident memory so far, in kilobytes (Linux's VmHWM).
pub(crate) fn peak_rss_kb(s: &Service) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}
