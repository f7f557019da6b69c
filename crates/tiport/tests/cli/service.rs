//! End-to-end tests of `tiport serve`: the real binary on a free port with a fresh data
//! directory, driven over HTTP as a client of the hosted API would drive it.

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
        let base = loop {
            assert!(Instant::now() < deadline, "tiport serve did not start");
            let line = lines.next().expect("tiport serve exited").unwrap();
            if let Some(at) = line.find("listening on http") {
                let rest = &line[at + "listening on ".len()..];
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining the log so the service never blocks on a full pipe, and keep it for
        // tests that read what the service logged.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
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

    /// POSTs `body` with a bearer token (if any); returns status, Retry-After, body.
    pub(crate) fn post(
        &self,
        url: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (u16, Option<String>, String) {
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut r = req.send(body).unwrap();
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

#[test]
fn seed_uploads_get_the_seed_answers_and_are_stored() {
    let s = Service::start(&[]);
    assert!(s.healthy());
    let token = s.token();
    let mut ids = Vec::new();
    for name in [
        "upload-request-two-indicators.json",
        "upload-request-indicator.json",
        "upload-request-attack-pattern.json",
        "upload-request-identity-threat-actor-relationship.json",
    ] {
        let body = sample(name);
        for o in body["stixobjects"].as_array().unwrap() {
            ids.push(o["id"].as_str().unwrap().to_owned());
        }
        let (status, answer) = s.upload(&token, &body);
        assert_eq!((status, answer.as_str()), (200, ""), "{name}");
    }
    let mut stored: Vec<String> = exported(&s)
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    stored.sort();
    ids.sort();
    assert_eq!(stored, ids);
}

#[test]
fn four_indicators_one_without_id_get_the_seeds_error_body() {
    let s = Service::start(&[]);
    let token = s.token();
    let mut fourth = indicator(4);
    fourth.as_object_mut().unwrap().remove("id");
    let body = json!({"sourcesystem": "test",
        "stixobjects": [indicator(1), indicator(2), indicator(3), fourth]});
    let (status, answer) = s.upload(&token, &body);
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer, sample("upload-validation-error-response.json"));
    assert_eq!(exported(&s).len(), 3, "the valid ones are stored");
}

#[test]
fn legacy_upload_indicators_route_and_body() {
    let s = Service::start(&[]);
    let token = s.token();
    let ws = s.cred("workspace_id");
    let body = json!({"SourceSystem": "legacy feed", "Value": [indicator(7)]}).to_string();
    for path in [
        format!(
            "{}/{ws}/threatintelligence:upload-indicators?api-version=2022-07-01",
            s.base
        ),
        format!(
            "{}/workspaces/{ws}/threatintelligence:upload-indicators?api-version=2022-07-01",
            s.base
        ),
    ] {
        // Success is a JSON body on this route: its clients call `response.json()`.
        let (status, _, answer) = s.post(&path, Some(&token), body.as_bytes());
        assert_eq!((status, answer.as_str()), (200, "{}"), "{path}");
    }
    assert_eq!(exported(&s).len(), 1);
}

#[test]
fn bad_tokens_are_401_and_the_service_stays_up() {
    let s = Service::start(&[]);
    let url = s.upload_url(&s.cred("workspace_id"));
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
    let good = s.token();
    let (h, p, sig) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none_header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let hs_header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let mut claims: Value = serde_json::from_slice(&b64.decode(&p).unwrap()).unwrap();
    claims["sub"] = json!("someone-else");
    let forged_payload = b64.encode(claims.to_string());
    let tampered = format!("{h}.{forged_payload}.{sig}");
    let alg_none = format!("{none_header}.{p}.");
    let hs256 = format!("{hs_header}.{p}.{sig}");
    for (what, token) in [
        ("missing", None),
        ("garbage", Some("not-a-jwt")),
        ("tampered claims", Some(tampered.as_str())),
        ("alg none", Some(alg_none.as_str())),
        ("alg confusion (HS256)", Some(hs256.as_str())),
    ] {
        let (status, retry, answer) = s.post(&url, token, body.as_bytes());
        assert_eq!(status, 401, "{what}: {answer}");
        assert_eq!(retry, None, "{what}: Retry-After only on 429");
        assert!(s.healthy());
    }
    // A token from another tiport (another tenant and key) is refused too.
    let other = Service::start(&[]);
    let foreign = other.token();
    assert_eq!(s.post(&url, Some(&foreign), body.as_bytes()).0, 401);
    // Wrong credentials get no token.
    let (status, answer) = s.token_request(&[
        ("grant_type", "client_credentials"),
        ("client_id", &s.cred("client_id")),
        ("client_secret", "wrong"),
        ("scope", "https://management.azure.com/.default"),
    ]);
    assert_eq!(status, 401, "{answer}");
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap()["error"],
        "invalid_client"
    );
    assert_eq!(exported(&s).len(), 0);
}

#[test]
fn roles_and_workspaces_decide_403_and_404() {
    let s = Service::start(&[]);
    let ws = s.cred("workspace_id");
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
    // A reader of the workspace may not upload.
    let reader = s.new_client("reader");
    assert_eq!(reader["tenant_id"], s.creds["tenant_id"]);
    let reader_token = s.token_of(&reader);
    assert_eq!(
        s.post(&s.upload_url(&ws), Some(&reader_token), body.as_bytes())
            .0,
        403
    );
    // Another workspace the contributor has no role on, and one that does not exist: 404.
    let out = run(
        &[
            "workspace",
            "create",
            "--name",
            "other",
            "--data-dir",
            &s.data_dir(),
        ],
        None,
    );
    let other: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let token = s.token();
    for ws in [
        other["id"].as_str().unwrap(),
        "6f1d2c3b-0000-4000-8000-000000000000",
        "not-a-uuid",
    ] {
        assert_eq!(
            s.post(&s.upload_url(ws), Some(&token), body.as_bytes()).0,
            404,
            "{ws}"
        );
    }
}

#[test]
fn bodies_the_api_refuses() {
    let s = Service::start(&["--max-upload-bytes", "100000"]);
    let token = s.token();
    let url = s.upload_url(&s.cred("workspace_id"));
    let many: Vec<Value> = (0..101).map(indicator).collect();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "malformed JSON",
            b"{\"sourcesystem\": \"t\", \"stixobjects\": [".to_vec(),
            400,
        ),
        (
            "no sourcesystem",
            json!({"stixobjects": [indicator(1)]})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            "reserved sourcesystem",
            json!({"sourcesystem": "Microsoft Sentinel", "stixobjects": [indicator(1)]})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            "101 objects",
            json!({"sourcesystem": "t", "stixobjects": many})
                .to_string()
                .into_bytes(),
            400,
        ),
    ];
    // Too large: answered from Content-Length, before the body. A client that asks first
    // (`Expect: 100-continue`, as curl does for big bodies) never sends it; one that writes the
    // whole body before reading may see the connection closed instead, which is why this one
    // goes through curl.
    let big = s.dir.path().join("big.json");
    std::fs::write(
        &big,
        json!({"sourcesystem": "t", "stixobjects": [], "pad": "x".repeat(200_000)}).to_string(),
    )
    .unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Expect: 100-continue",
        ])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(format!("@{}", big.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "413");
    for (what, body, want) in cases {
        let (status, _, answer) = s.post(&url, Some(&token), &body);
        assert_eq!(status, want, "{what}: {answer}");
    }
    // api-version missing or wrong.
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
    let base = format!(
        "{}/workspaces/{}/threat-intelligence-stix-objects:upload",
        s.base,
        s.cred("workspace_id")
    );
    for q in ["", "?api-version=2022-07-01"] {
        assert_eq!(
            s.post(&format!("{base}{q}"), Some(&token), body.as_bytes())
                .0,
            400,
            "{q}"
        );
    }
    // An explicit non-JSON type is 415; no type at all is read as JSON.
    let mut r = s
        .agent
        .post(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "text/plain")
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(
        r.status(),
        415,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    let (status, answer) = raw_post(&s.base, &url, &token, None, body.as_bytes());
    assert_eq!((status, answer.as_str()), (200, ""));
    assert_eq!(exported(&s).len(), 1);
    assert!(s.healthy());
}

#[test]
fn a_huge_declared_body_is_refused_before_it_is_sent() {
    let s = Service::start(&[]);
    let token = s.token();
    let url = s.upload_url(&s.cred("workspace_id"));
    // Declares 300 MB and sends none of it: the answer comes at once, nothing is buffered.
    let started = Instant::now();
    let (status, _) = raw_post(&s.base, &url, &token, Some(300_000_000), b"");
    assert_eq!(status, 413);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(s.healthy());
}

#[test]
fn the_101st_request_in_a_minute_is_throttled_until_retry_after() {
    let s = Service::start(&[]);
    let token = s.token();
    let url = s.upload_url(&s.cred("workspace_id"));
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
    for i in 0..100 {
        let (status, retry, answer) = s.post(&url, Some(&token), body.as_bytes());
        assert_eq!((status, retry), (200, None), "request {i}: {answer}");
    }
    let (status, retry, answer) = s.post(&url, Some(&token), body.as_bytes());
    assert_eq!(status, 429, "{answer}");
    let secs: u64 = retry.expect("Retry-After on 429").parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer,
        json!({"statusCode": 429,
               "message": format!("Rate limit is exceeded. Try again in {secs} seconds.")})
    );
    // Another principal is not affected.
    let other = s.new_client("contributor");
    let other_token = s.token_of(&other);
    assert_eq!(s.post(&url, Some(&other_token), body.as_bytes()).0, 200);
    // Honouring Retry-After lets the next request through.
    std::thread::sleep(Duration::from_secs(secs));
    assert_eq!(s.post(&url, Some(&token), body.as_bytes()).0, 200);
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

#[test]
fn tokens_with_a_wrong_claim_are_401() {
    let s = Service::start(&[]);
    let url = s.upload_url(&s.cred("workspace_id"));
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
    // The minting itself is right: the same claims unedited are accepted.
    let fine = minted(&s, |_| {});
    assert_eq!(s.post(&url, Some(&fine), body.as_bytes()).0, 200);
    let now = |c: &Value| c["iat"].as_i64().unwrap();
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "expired",
            Box::new(move |c| c["exp"] = json!(now(c) - 3600)),
        ),
        (
            "not yet valid",
            Box::new(move |c| c["nbf"] = json!(now(c) + 3600)),
        ),
        (
            "wrong audience",
            Box::new(|c| c["aud"] = json!("https://graph.microsoft.com")),
        ),
        (
            "wrong issuer",
            Box::new(|c| c["iss"] = json!("https://login.example.com/t/v2.0")),
        ),
        (
            "no expiry",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "no not-before",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("nbf");
            }),
        ),
    ];
    for (what, edit) in cases {
        let token = minted(&s, edit);
        let (status, _, answer) = s.post(&url, Some(&token), body.as_bytes());
        assert_eq!(status, 401, "{what}: {answer}");
    }
    // Every accepted audience works, with or without the trailing slash.
    for aud in [
        "https://management.azure.com/",
        "https://management.core.windows.net",
        "https://management.core.windows.net/",
    ] {
        let token = minted(&s, |c| c["aud"] = json!(aud));
        assert_eq!(s.post(&url, Some(&token), body.as_bytes()).0, 200, "{aud}");
    }
}

#[test]
fn the_readme_example_works_as_written() {
    // The README's second block of "## The service", run by bash against a service on a free
    // port: only the address, the data directory and the shared folder are put in.
    let readme = std::fs::read_to_string(crate::helpers::repo_root().join("README.md")).unwrap();
    let section = &readme[readme
        .find("## The service")
        .expect("README has the section")..];
    let block = section
        .split("```sh\n")
        .nth(2)
        .and_then(|b| b.split("```").next())
        .expect("the client example");
    let s = Service::start(&[]);
    let script = block
        .replace("http://127.0.0.1:8080", &s.base)
        .replace("./tiport-data", &s.data_dir())
        .replace("../shared", crate::helpers::shared().to_str().unwrap());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert_eq!(exported(&s).len(), 2);
}

impl Service {
    pub(crate) fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut r = req.call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }
}

fn ids_of(page: &Value) -> Vec<String> {
    page["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn queries_list_filter_page_and_read_versions() {
    let s = Service::start(&[]);
    let token = s.token();
    let ws = s.cred("workspace_id");
    let ind = |n: u32, pattern: &str, labels: Value, extra: Value| {
        let mut o = indicator(n);
        o["pattern"] = json!(pattern);
        o["labels"] = labels;
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    };
    let objects = vec![
        ind(
            1,
            "[ipv4-addr:value = '198.51.100.0/24']",
            json!(["c2"]),
            json!({}),
        ),
        ind(
            2,
            "[domain-name:value = 'Evil.Example.COM']",
            json!(["c2", "phishing"]),
            json!({}),
        ),
        ind(
            3,
            "[ipv4-addr:value = '203.0.113.9']",
            json!(["scanner"]),
            json!({"revoked": true}),
        ),
        ind(
            4,
            "[url:value = 'http://x.example/a']",
            json!(["phishing"]),
            json!({"valid_until": "2024-06-01T00:00:00Z"}),
        ),
        json!({"type": "attack-pattern", "spec_version": "2.1",
               "id": "attack-pattern--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
               "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
               "name": "Spearphishing"}),
    ];
    let (status, answer) = s.upload(
        &token,
        &json!({"sourcesystem": "feed", "stixobjects": objects}),
    );
    assert_eq!((status, answer.as_str()), (200, ""));
    let list = |q: &str| -> Value {
        let (status, body) = s.get(
            &format!("/workspaces/{ws}/threat-intelligence/objects{q}"),
            Some(&token),
        );
        assert_eq!(status, 200, "{q}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let all = list("");
    assert_eq!(all["objects"].as_array().unwrap().len(), 5);
    assert_eq!(all["next"], Value::Null);
    // Pages of two, by cursor, cover everything once, in id order.
    let mut paged = Vec::new();
    let mut q = "?limit=2".to_owned();
    loop {
        let page = list(&q);
        assert!(page["objects"].as_array().unwrap().len() <= 2);
        paged.extend(ids_of(&page));
        match page["next"].as_str() {
            Some(c) => q = format!("?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, ids_of(&all));
    let mut sorted = paged.clone();
    sorted.sort();
    assert_eq!(paged, sorted);

    let id = |n: u32| indicator(n)["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ids_of(&list("?type=attack-pattern")),
        vec!["attack-pattern--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"]
    );
    assert_eq!(ids_of(&list("?label=phishing")), vec![id(2), id(4)]);
    assert_eq!(ids_of(&list("?revoked=true")), vec![id(3)]);
    assert_eq!(
        ids_of(&list("?valid_at=2024-07-01T00:00:00Z&type=indicator")),
        vec![id(1), id(2), id(3)]
    );
    // Observables: an address inside a stored block, a domain in another case, a URL.
    assert_eq!(ids_of(&list("?observable=198.51.100.7")), vec![id(1)]);
    assert_eq!(ids_of(&list("?observable=evil.example.com")), vec![id(2)]);
    assert_eq!(
        ids_of(&list("?observable=http://x.example/a&label=phishing")),
        vec![id(4)]
    );
    assert!(ids_of(&list("?observable=192.0.2.1")).is_empty());
    assert_eq!(list("?source=feed")["objects"].as_array().unwrap().len(), 5);
    assert!(ids_of(&list("?source=other")).is_empty());

    // One object, and its versions once a newer one arrives.
    let mut newer = indicator(2);
    newer["pattern"] = json!("[domain-name:value = 'evil.example.com']");
    newer["modified"] = json!("2024-02-01T00:00:00.000Z");
    assert_eq!(
        s.upload(
            &token,
            &json!({"sourcesystem": "feed", "stixobjects": [newer]})
        )
        .0,
        200
    );
    let (status, body) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/objects/{}", id(2)),
        Some(&token),
    );
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["modified"],
        "2024-02-01T00:00:00.000Z"
    );
    let (status, body) = s.get(
        &format!(
            "/workspaces/{ws}/threat-intelligence/objects/{}/versions",
            id(2)
        ),
        Some(&token),
    );
    assert_eq!(status, 200);
    let versions: Value = serde_json::from_str(&body).unwrap();
    let modified: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["modified"].as_str().unwrap())
        .collect();
    assert_eq!(
        modified,
        vec!["2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"]
    );

    // What is refused.
    for (path, want) in [
        (format!("/workspaces/{ws}/threat-intelligence/objects/indicator--6f1d2c3b-0000-4000-8000-000000000000"), 404),
        (format!("/workspaces/{ws}/threat-intelligence/objects/not-an-id"), 400),
        (format!("/workspaces/{ws}/threat-intelligence/objects?limit=0"), 400),
        (format!("/workspaces/{ws}/threat-intelligence/objects?limit=5000"), 400),
        (format!("/workspaces/{ws}/threat-intelligence/objects?cursor=%21%21"), 400),
        (format!("/workspaces/{ws}/threat-intelligence/objects?revoked=maybe"), 400),
        (format!("/workspaces/{ws}/threat-intelligence/objects?valid_at=yesterday"), 400),
        ("/workspaces/6f1d2c3b-0000-4000-8000-000000000000/threat-intelligence/objects".to_owned(), 404),
    ] {
        assert_eq!(s.get(&path, Some(&token)).0, want, "{path}");
    }
    assert_eq!(
        s.get(
            &format!("/workspaces/{ws}/threat-intelligence/objects"),
            None
        )
        .0,
        401
    );
    // A reader reads.
    let reader = s.new_client("reader");
    let rt = s.token_of(&reader);
    assert_eq!(
        s.get(
            &format!("/workspaces/{ws}/threat-intelligence/objects?limit=1"),
            Some(&rt)
        )
        .0,
        200
    );
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
        let mut r = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", &content_type)
            .send(&body[..])
            .unwrap();
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

#[test]
fn file_imports_over_http_in_both_modes() {
    let s = Service::start(&[]);
    let token = s.token();
    let ws = s.cred("workspace_id");
    // The seed's CSV: every row valid.
    let csv = std::fs::read(seed_samples().join("bulk-import-example.csv")).unwrap();
    let (status, queued) = s.import(
        &token,
        &[("source", "My feed"), ("format", "csv")],
        "bulk.csv",
        &csv,
    );
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["status"], "queued");
    let r = s.finished_import(&token, queued["id"].as_str().unwrap());
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["fileName"], "bulk.csv");
    assert_eq!(r["imported"], r["total"]);
    for key in [
        "id", "source", "fileName", "format", "mode", "status", "total", "imported", "invalid",
        "created", "finished",
    ] {
        assert!(r.get(key).is_some(), "{key} in {r}");
    }

    // Generated JSON with injected invalid records: valid-only stores the rest and lists them.
    let file = crate::helpers::test_data("stix_2mb_invalid.json");
    let (records, injected) =
        crate::import::manifest(&crate::helpers::test_data("stix_2mb_invalid.manifest.json"));
    let json_file = std::fs::read(&file).unwrap();
    let (status, queued) = s.import(
        &token,
        &[("source", "gen"), ("mode", "valid-only")],
        "gen.json",
        &json_file,
    );
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();
    let r = s.finished_import(&token, &id);
    assert_eq!(r["status"], "partially-succeeded", "{r}");
    assert_eq!(r["total"], records);
    assert_eq!(r["invalid"], injected.len() as u64);
    assert_eq!(r["imported"], records - injected.len() as u64);
    let (status, body) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/imports/{id}/errors"),
        Some(&token),
    );
    assert_eq!(status, 200);
    let listed: Vec<u64> = serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["recordIndex"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, injected.keys().copied().collect::<Vec<_>>());
    let (status, body) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/imports/{id}/errors?preview=3"),
        Some(&token),
    );
    assert_eq!(status, 200);
    let preview: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(preview.as_array().unwrap().len(), 3);
    assert_eq!(
        preview[0]["recordIndex"].as_u64(),
        injected.keys().next().copied()
    );

    // The same file all-or-nothing: failed, nothing more stored.
    let before = exported(&s).len();
    let (status, queued) = s.import(
        &token,
        &[("source", "gen2"), ("mode", "all-or-nothing")],
        "gen.json",
        &json_file,
    );
    assert_eq!(status, 202);
    let r = s.finished_import(&token, queued["id"].as_str().unwrap());
    assert_eq!(
        (r["status"].as_str(), r["imported"].as_u64()),
        (Some("failed"), Some(0)),
        "{r}"
    );
    assert_eq!(exported(&s).len(), before);

    // The list, sorted.
    let (status, body) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/imports?sort=total&order=asc"),
        Some(&token),
    );
    assert_eq!(status, 200);
    let totals: Vec<u64> = serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["total"].as_u64().unwrap())
        .collect();
    assert_eq!(totals.len(), 3);
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");

    // What is refused.
    let (status, _) = s.import(&token, &[("format", "csv")], "x.csv", &csv);
    assert_eq!(status, 400, "no source");
    let (status, _) = s.import(
        &token,
        &[("source", "s"), ("mode", "sometimes")],
        "x.csv",
        &csv,
    );
    assert_eq!(status, 400, "bad mode");
    for (path, want) in [
        (
            format!(
                "/workspaces/{ws}/threat-intelligence/imports/6f1d2c3b-0000-4000-8000-000000000000"
            ),
            404,
        ),
        (
            format!("/workspaces/{ws}/threat-intelligence/imports?sort=size"),
            400,
        ),
    ] {
        assert_eq!(s.get(&path, Some(&token)).0, want, "{path}");
    }
}

#[test]
fn file_import_limits_roles_and_templates() {
    let s = Service::start(&["--max-csv-bytes", "1000", "--max-json-bytes", "5000"]);
    let token = s.token();
    let big_csv = std::fs::read(seed_samples().join("bulk-import-example.csv"))
        .unwrap()
        .repeat(10);
    assert!(
        big_csv.len() > 1000 && big_csv.len() < 5000,
        "{}",
        big_csv.len()
    );
    let (status, answer) = s.import(
        &token,
        &[("source", "s"), ("format", "csv")],
        "big.csv",
        &big_csv,
    );
    assert_eq!(status, 413, "over the CSV limit: {answer}");
    // Over both limits: refused while streaming.
    let (status, _) = s.import(&token, &[("source", "s")], "huge.json", &vec![b' '; 50_000]);
    assert_eq!(status, 413);
    assert!(s.healthy());
    // Nothing of the refused uploads stays on disk.
    let incoming = s.dir.path().join("imports/incoming");
    assert_eq!(
        std::fs::read_dir(&incoming).map(|d| d.count()).unwrap_or(0),
        0
    );

    // A reader may list but not import.
    let ws = s.cred("workspace_id");
    let reader = s.new_client("reader");
    let rt = s.token_of(&reader);
    let small = std::fs::read(seed_samples().join("bulk-import-example.csv")).unwrap();
    assert_eq!(s.import(&rt, &[("source", "s")], "a.csv", &small).0, 403);
    assert_eq!(
        s.get(
            &format!("/workspaces/{ws}/threat-intelligence/imports"),
            Some(&rt)
        )
        .0,
        200
    );

    // Templates, without a token.
    let (status, body) = s.get("/templates/csv-other", None);
    assert_eq!(status, 200);
    assert!(body.contains("observableType"), "{body}");
    let (status, body) = s.get("/templates/json", None);
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).unwrap().is_array());
    assert_eq!(s.get("/templates/xlsx", None).0, 404);
}

/// `{anything}` → `{}`: the router's and the document's parameter names differ.
fn normalized(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn openapi_names_routes_that_exist_and_metrics_count_them() {
    let s = Service::start(&[]);
    let token = s.token();
    let (status, body) = s.get("/openapi.json", None);
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let mut documented = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
            // Any plausible values: a route that exists answers from its handler, whatever
            // it says; one that does not is counted as "unmatched".
            let concrete = path
                .replace("{tenantId}", &s.cred("tenant_id"))
                .replace("{workspaceId}", &s.cred("workspace_id"))
                .replace(
                    "{objectId}",
                    "indicator--6f1d2c3b-0000-4000-8000-000000000000",
                )
                .replace("{importId}", "6f1d2c3b-0000-4000-8000-000000000000")
                .replace("{name}", "json");
            let url = format!("{}{concrete}", s.base);
            let req = match method.as_str() {
                "get" => s
                    .agent
                    .get(&url)
                    .header("Authorization", &format!("Bearer {token}"))
                    .call(),
                "post" => s
                    .agent
                    .post(&url)
                    .header("Authorization", &format!("Bearer {token}"))
                    .send(&b"{}"[..]),
                other => panic!("method {other} in the document: teach this test"),
            };
            let status = req.unwrap().status().as_u16();
            assert_ne!(status, 405, "{method} {path}");
        }
    }
    assert_eq!(documented.len(), 17, "{documented:?}");
    let (status, metrics) = s.get("/metrics", None);
    assert_eq!(status, 200);
    for (method, path) in &documented {
        let found = metrics.lines().any(|l| {
            l.starts_with("tiport_http_requests_total{")
                && l.contains(&format!("method=\"{method}\""))
                && l.split("route=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .is_some_and(|r| normalized(r) == normalized(path))
        });
        assert!(found, "{method} {path} was not routed:\n{metrics}");
    }
    for name in [
        "tiport_upload_objects_accepted_total",
        "tiport_upload_objects_rejected_total",
        "tiport_throttled_requests_total",
        "tiport_http_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name}:\n{metrics}");
    }
}

#[test]
fn a_config_file_sits_between_the_defaults_and_the_environment() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("tiport.toml");
    std::fs::write(
        &cfg,
        "requests-per-minute = 2\nmax-objects-per-request = 3\ntoken-lifetime = \"10m\"\n",
    )
    .unwrap();
    // The environment overrides the file for max-objects-per-request.
    let s = Service::start_with_env(
        &["--config", cfg.to_str().unwrap()],
        &[("TIPORT_MAX_OBJECTS_PER_REQUEST", "5")],
    );
    let url = s.upload_url(&s.cred("workspace_id"));
    let (status, body) = s.token_request(&[
        ("grant_type", "client_credentials"),
        ("client_id", &s.cred("client_id")),
        ("client_secret", &s.cred("client_secret")),
        ("scope", "https://management.azure.com/.default"),
    ]);
    assert_eq!(status, 200);
    let token: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(token["expires_in"], 600, "token-lifetime from the file");
    let token = token["access_token"].as_str().unwrap().to_owned();
    let four: Vec<Value> = (1..=4).map(indicator).collect();
    let body = json!({"sourcesystem": "t", "stixobjects": four}).to_string();
    assert_eq!(
        s.post(&url, Some(&token), body.as_bytes()).0,
        200,
        "5 from the environment, not 3"
    );
    assert_eq!(s.post(&url, Some(&token), body.as_bytes()).0, 200);
    assert_eq!(
        s.post(&url, Some(&token), body.as_bytes()).0,
        429,
        "2 a minute from the file"
    );

    // A file `serve` must refuse: exit status 2, and what it said.
    let dir = tempfile::tempdir().unwrap();
    let refused = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        let out = run(
            &[
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--data-dir",
                dir.path().to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(2), "{text}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // An unknown key is an error naming it.
    let stderr = refused("requests-per-minut = 2\n");
    assert!(
        stderr.contains("unknown setting \"requests-per-minut\""),
        "{stderr}"
    );
    // A trusted issuer whose keys would come over plain HTTP from another host is refused, the
    // message naming the file and the key.
    let stderr =
        refused("trust-issuer = [\"https://idp.example/t/v2.0 http://idp.example/keys\"]\n");
    assert!(
        stderr.contains("tiport.toml: trust-issuer: the JWKS URL") && stderr.contains("https://"),
        "{stderr}"
    );
}

#[test]
fn https_from_serve_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, private) = crate::service::tls_files(dir.path());
    let s = Service::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        private.to_str().unwrap(),
    ]);
    assert!(s.base.starts_with("https://"), "{}", s.base);
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "--cacert", cert.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(
        curl(&[&format!("{}/healthz", s.base)]),
        (true, "ok".to_owned())
    );
    // The whole client flow over TLS: a token, then an upload.
    let (ok, body) = curl(&[
        &format!("{}/{}/oauth2/v2.0/token", s.base, s.cred("tenant_id")),
        "-d",
        "grant_type=client_credentials",
        "-d",
        &format!("client_id={}", s.cred("client_id")),
        "-d",
        &format!("client_secret={}", s.cred("client_secret")),
        "-d",
        "scope=https://management.azure.com/.default",
    ]);
    assert!(ok, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    let upload = json!({"sourcesystem": "tls", "stixobjects": [indicator(1)]}).to_string();
    let (ok, status) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!(
            "Authorization: Bearer {}",
            token["access_token"].as_str().unwrap()
        ),
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &upload,
        &s.upload_url(&s.cred("workspace_id")),
    ]);
    assert_eq!((ok, status.as_str()), (true, "200"));
    // The issuer names the HTTPS address.
    let (_, config) = curl(&[&format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        s.base,
        s.cred("tenant_id")
    )]);
    let config: Value = serde_json::from_str(&config).unwrap();
    assert!(
        config["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{config}"
    );
    // Plain HTTP to the TLS port gets no answer of ours.
    let plain = s.base.replacen("https://", "http://", 1);
    let (ok, _) = curl(&["--max-time", "5", &format!("{plain}/healthz")]);
    assert!(!ok);
}

#[test]
fn every_acknowledged_object_survives_a_kill() {
    // A fixed public URL, as a deployment has: the issuer, and so the tokens, outlive a restart
    // on another port.
    let public = ["--public-url", "https://tiport.example"];
    let s = Service::start(&public);
    let token = s.token();
    let url = s.upload_url(&s.cred("workspace_id"));
    // Four clients upload batches of new objects until the service dies under them.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..4u32 {
        let (agent, url, token, acked) = (
            s.agent.clone(),
            url.clone(),
            token.clone(),
            acknowledged.clone(),
        );
        clients.push(std::thread::spawn(move || {
            for batch in 0u32.. {
                let objects: Vec<Value> = (0..50)
                    .map(|i| indicator(c * 10_000_000 + batch * 100 + i))
                    .collect();
                let ids: Vec<String> = objects
                    .iter()
                    .map(|o| o["id"].as_str().unwrap().to_owned())
                    .collect();
                let body = json!({"sourcesystem": "kill", "stixobjects": objects}).to_string();
                let sent = agent
                    .post(&url)
                    .header("Authorization", &format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .send(body.as_bytes());
                match sent {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().extend(ids),
                    _ => return,
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let mut s = s;
    crate::helpers::sigkill(&mut s.child);
    s.child.wait().expect("wait for the killed serve");
    for c in clients {
        c.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 200,
        "the clients got going: {}",
        acknowledged.len()
    );
    // Restart on the same data directory; the old token still works (the key is in the store).
    // The data directory moves to the new service (the old one keeps an empty stand-in).
    let (dir, creds) = (
        std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap()),
        s.creds.clone(),
    );
    drop(s);
    let s = Service::start_in(dir, &public, &[]);
    assert_eq!(s.creds, creds);
    let (status, _, _) = s.post(
        &s.upload_url(&s.cred("workspace_id")),
        Some(&token),
        json!({"sourcesystem": "after", "stixobjects": []})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 200);
    let stored: std::collections::HashSet<String> = exported(&s)
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged objects lost",
        lost.len(),
        acknowledged.len()
    );
}

#[test]
fn sigterm_lets_an_import_in_flight_finish() {
    let s = Service::start(&[]);
    let token = s.token();
    // A JSON array of the generated file's records ten times over: long enough to be running
    // when the signal comes.
    let one = std::fs::read_to_string(crate::helpers::test_data("stix_2mb_invalid.json")).unwrap();
    let inner = one
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim();
    let file = format!("[{}]", [inner; 10].join(","));
    let (records, injected) =
        crate::import::manifest(&crate::helpers::test_data("stix_2mb_invalid.manifest.json"));
    let (status, queued) = s.import(&token, &[("source", "sig")], "ten.json", file.as_bytes());
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();
    // The signal must find the import running, or the test shows nothing: wait until it is.
    let path = format!(
        "/workspaces/{}/threat-intelligence/imports/{id}",
        s.cred("workspace_id")
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = s.get(&path, Some(&token));
        assert_eq!(status, 200, "{body}");
        let r: Value = serde_json::from_str(&body).unwrap();
        match r["status"].as_str().unwrap() {
            "running" => break,
            "queued" => {}
            other => panic!("the import ended ({other}) before the signal could find it running"),
        }
        assert!(Instant::now() < deadline, "the import did not start: {r}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut s = s;
    crate::helpers::sigterm(&s.child);
    let exited = s.child.wait().unwrap();
    assert!(exited.success(), "a clean stop: {exited:?}");
    // After a restart the import is finished, not failed as interrupted.
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s);
    let s = Service::start_in(dir, &[], &[]);
    let r = s.finished_import(&s.token(), &id);
    assert_eq!(r["status"], "partially-succeeded", "{r}");
    assert_eq!(r["total"], records * 10);
    assert_eq!(r["invalid"], injected.len() as u64 * 10);
}

/// A stand-in for an external OpenID Connect issuer: it serves a JWKS (which the test can
/// change, as an issuer rotating keys does) and counts how often it was fetched.
struct Issuer {
    url: String,
    jwks: std::sync::Arc<std::sync::Mutex<String>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Issuer {
    fn start() -> Issuer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        let jwks = std::sync::Arc::new(std::sync::Mutex::new(r#"{"keys":[]}"#.to_owned()));
        let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (j, f) = (jwks.clone(), fetches.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                f.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = j.lock().unwrap().clone();
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Issuer { url, jwks, fetches }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An ES256 key of the stand-in issuer: its JWK and a signer.
struct IssuerKey {
    kid: String,
    jwk: Value,
    encoding: jsonwebtoken::EncodingKey,
}

impl IssuerKey {
    fn new(kid: &str) -> IssuerKey {
        use base64::Engine;
        let pair = rcgen::KeyPair::generate().unwrap();
        let point = pair.public_key_raw();
        assert_eq!(
            (point.len(), point[0]),
            (65, 4),
            "an uncompressed P-256 point"
        );
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        IssuerKey {
            kid: kid.to_owned(),
            jwk: json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
                        "x": b64(&point[1..33]), "y": b64(&point[33..])}),
            encoding: jsonwebtoken::EncodingKey::from_ec_der(pair.serialized_der()),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

#[test]
fn tokens_of_a_trusted_external_issuer() {
    const ISS: &str = "https://idp.example.test/tenant-x/v2.0";
    let idp = Issuer::start();
    let first = IssuerKey::new("k1");
    *idp.jwks.lock().unwrap() = json!({"keys": [first.jwk]}).to_string();
    let s = Service::start(&["--trust-issuer", &format!("{ISS} {}", idp.url)]);
    let ws = s.cred("workspace_id");
    let url = s.upload_url(&ws);
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = |sub: &str| {
        json!({"iss": ISS, "aud": "https://management.azure.com", "sub": sub,
               "azp": "feed-app", "iat": now, "exp": now + 3600})
    };

    // A valid token of the issuer, but its principal has no role yet: 404, as for any
    // workspace a principal has no role on.
    let token = first.sign(&claims("app-1"));
    assert_eq!(s.post(&url, Some(&token), body.as_bytes()).0, 404);
    // The operator grants a role to `<sub>@<issuer>`; now the same token uploads.
    s.grant(&format!("app-1@{ISS}"), "contributor");
    let (status, _, answer) = s.post(&url, Some(&token), body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    // A reader of the issuer is a reader.
    s.grant(&format!("app-2@{ISS}"), "reader");
    assert_eq!(
        s.post(&url, Some(&first.sign(&claims("app-2"))), body.as_bytes())
            .0,
        403
    );

    // What must still be refused: the issuer's key with a wrong claim, a key it does not
    // publish, a trusted key under another issuer's name, and `alg: none`.
    let mut wrong_aud = claims("app-1");
    wrong_aud["aud"] = json!("https://graph.microsoft.com");
    let mut expired = claims("app-1");
    expired["exp"] = json!(now - 3600);
    let mut other_iss = claims("app-1");
    other_iss["iss"] = json!("https://idp.example.test/other/v2.0");
    let stranger = IssuerKey::new("k1");
    let unsigned = {
        use base64::Engine;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
            b64(&claims("app-1"))
        )
    };
    let mut no_exp = claims("app-1");
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut not_yet = claims("app-1");
    not_yet["nbf"] = json!(now + 3600);
    // HMAC with the issuer's public key as the secret, under the published kid (algorithm
    // confusion).
    let hmac = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("k1".into());
        let secret = first.jwk["x"].as_str().unwrap().as_bytes().to_vec();
        jsonwebtoken::encode(
            &header,
            &claims("app-1"),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap()
    };
    for (what, token) in [
        ("wrong audience", first.sign(&wrong_aud)),
        ("expired", first.sign(&expired)),
        ("no expiry", first.sign(&no_exp)),
        ("not yet valid", first.sign(&not_yet)),
        ("HS256 with the public key", hmac),
        ("untrusted issuer", first.sign(&other_iss)),
        (
            "a key the issuer does not publish",
            stranger.sign(&claims("app-1")),
        ),
        ("alg none", unsigned),
    ] {
        let (status, _, answer) = s.post(&url, Some(&token), body.as_bytes());
        assert_eq!(status, 401, "{what}: {answer}");
    }

    // Tokens naming keys that do not exist need no valid signature to get this far: twenty of
    // them, at once, must not make the service ask the issuer twenty times.
    let before = idp.fetches();
    let bogus: Vec<_> = (0..20)
        .map(|i| {
            let key = IssuerKey::new(&format!("made-up-{i}"));
            let (url, body, token) = (url.clone(), body.clone(), key.sign(&claims("app-1")));
            let agent = s.agent.clone();
            std::thread::spawn(move || {
                agent
                    .post(&url)
                    .header("Authorization", &format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .send(body.as_bytes())
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for t in bogus {
        assert_eq!(t.join().unwrap(), 401);
    }
    assert!(
        idp.fetches() <= before + 1,
        "{} fetches for 20 made-up keys",
        idp.fetches() - before
    );

    // The issuer rotates: a token with a new kid makes the service fetch the JWKS again (at
    // most once per 30 s), and it is accepted as soon as the JWKS publishes the key.
    let second = IssuerKey::new("k2");
    *idp.jwks.lock().unwrap() = json!({"keys": [first.jwk, second.jwk]}).to_string();
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (status, _, answer) =
            s.post(&url, Some(&second.sign(&claims("app-1"))), body.as_bytes());
        if status == 200 {
            break;
        }
        assert_eq!(status, 401, "{answer}");
        assert!(
            Instant::now() < deadline,
            "the rotated key was never fetched"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // The bogus tokens above did not make the service ask the issuer on every request.
    assert!(idp.fetches() <= 3, "{} fetches", idp.fetches());
    assert!(s.healthy());
}

/// The service's peak resident memory so far, in kilobytes (Linux's VmHWM).
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

pub(crate) fn peak_rss_kb(s: &Service) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn a_300_mb_chunked_body_is_cut_off_at_the_limit() {
    let s = Service::start(&[]);
    let token = s.token();
    let url = s.upload_url(&s.cred("workspace_id"));
    let host = s.base.strip_prefix("http://").unwrap().to_owned();
    let path = url.strip_prefix(&s.base).unwrap().to_owned();
    let before = peak_rss_kb(&s);
    // No declared length: the service can only find out by reading. It must stop at its limit
    // (32 MiB) and answer 413, not read or hold all 300 MB.
    let mut conn = TcpStream::connect(&host).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b' '; 1 << 20];
    let mut sent = 0usize;
    for _ in 0..300 {
        let header = format!("{:x}\r\n", chunk.len());
        let wrote = conn
            .write_all(header.as_bytes())
            .and_then(|_| conn.write_all(&chunk))
            .and_then(|_| conn.write_all(b"\r\n"));
        if wrote.is_err() {
            // The service answered and closed the connection: what it refused was not read.
            break;
        }
        sent += chunk.len();
    }
    let _ = conn.write_all(b"0\r\n\r\n");
    let mut reader = BufReader::new(conn);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line:?}");
    assert!(
        sent < 300 << 20,
        "all 300 MB were taken in before the answer"
    );
    // The body is not held: the service's peak memory grew by less than the 300 MB sent at it
    // (the limit itself is 32 MiB).
    let grown_mb = (peak_rss_kb(&s) - before) / 1024;
    assert!(grown_mb < 100, "peak memory grew by {grown_mb} MB");
    assert!(s.healthy());
}

#[test]
fn a_running_service_applies_file_retention() {
    // Files kept for 3 s, swept every second: a service that runs for weeks must not keep
    // uploaded files and error files past their retention because it opened the store once.
    let s = Service::start(&[
        "--import-file-retention",
        "3s",
        "--housekeeping-interval",
        "1s",
    ]);
    let token = s.token();
    let ws = s.cred("workspace_id");
    // The seed rows and one of an unknown observable type: an error file is written.
    let mut csv = std::fs::read_to_string(seed_samples().join("bulk-import-example.csv")).unwrap();
    let bad_row = csv
        .lines()
        .last()
        .unwrap()
        .replacen(",domain-name,", ",not-a-type,", 1);
    csv.push_str(&bad_row);
    csv.push('\n');
    let (status, queued) = s.import(
        &token,
        &[("source", "s"), ("format", "csv")],
        "with-error.csv",
        csv.as_bytes(),
    );
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();
    let r = s.finished_import(&token, &id);
    assert!(r["invalid"].as_u64().unwrap() >= 1, "{r}");
    let errors = format!("/workspaces/{ws}/threat-intelligence/imports/{id}/errors");
    assert_eq!(s.get(&errors, Some(&token)).0, 200);
    let kept = s.dir.path().join("imports").join(&id);
    assert!(kept.exists(), "the import's files are kept at first");
    // Gone within a few sweeps after the retention, without a restart.
    let deadline = Instant::now() + Duration::from_secs(20);
    while kept.exists() {
        assert!(
            Instant::now() < deadline,
            "{} outlived its retention",
            kept.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, answer) = s.get(&errors, Some(&token));
    assert_eq!(status, 404, "{answer}");
    // The record itself is kept (30 days by default).
    let (status, record) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/imports/{id}"),
        Some(&token),
    );
    assert_eq!(status, 200, "{record}");
}
