//! What an outside attack and real clients showed (issue 11): each finding, driven against the
//! real service as the attacker or the client drove it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::service::{indicator, Service};

/// An answer read off a raw connection: status, headers (names lower-cased), body.
pub(crate) struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `host:port` of a service's base URL.
pub(crate) fn addr(s: &Service) -> String {
    s.base
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_owned()
}

/// Sends `request` as it is on a new connection and reads one answer (`Connection: close` is
/// the caller's business; the body is read by its length, or to the end).
pub(crate) fn raw(addr: &str, request: &[u8]) -> std::io::Result<Raw> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(20)))?;
    conn.write_all(request)?;
    read_answer(&mut BufReader::new(conn))
}

pub(crate) fn read_answer(r: &mut impl BufRead) -> std::io::Result<Raw> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line: {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let mut body = Vec::new();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    match length {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        }
        None if headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) =>
        {
            loop {
                let mut size = String::new();
                r.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).map_err(std::io::Error::other)?;
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        None => {
            r.read_to_end(&mut body)?;
        }
    }
    Ok(Raw {
        status,
        headers,
        body,
    })
}

/// Whether `GET /healthz` on a new connection is answered `ok` within `within`.
pub(crate) fn healthz_within(addr: &str, within: Duration) -> bool {
    let started = Instant::now();
    let answer = (|| {
        let mut conn = TcpStream::connect(addr)?;
        conn.set_read_timeout(Some(within))?;
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")?;
        read_answer(&mut BufReader::new(conn))
    })();
    matches!(answer, Ok(a) if a.status == 200 && a.body == b"ok") && started.elapsed() < within
}

/// The sockets the service has open.
pub(crate) fn open_sockets(s: &Service) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", s.child.id()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count()
}

/// The three kinds of slow client the attack used, `n` of each: half a request head, a
/// connection that says nothing, a body one byte at a time (the last byte sent by the caller's
/// own pace, which here is never).
pub(crate) fn slow_clients(addr: &str, tenant: &str, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for i in 0..3 * n {
        let Ok(mut c) = TcpStream::connect(addr) else {
            // Refused or reset: the service had no room, which is its right.
            continue;
        };
        let _ = match i % 3 {
            0 => c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"),
            1 => Ok(()),
            _ => write!(
                c,
                "POST /{tenant}/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ng"
            ),
        };
        held.push(c);
    }
    held
}

#[test]
fn slow_and_silent_connections_do_not_keep_other_clients_out() {
    let s = Service::start(&["--max-connections", "64"]);
    let a = addr(&s);
    let token = s.token();
    // Five times the cap: each kind of slow client the attack used.
    let held = slow_clients(&a, &s.cred("tenant_id"), 100);
    assert!(
        held.len() > 64,
        "the attacker got {} connections",
        held.len()
    );
    for _ in 0..5 {
        assert!(
            healthz_within(&a, Duration::from_secs(2)),
            "/healthz not answered while slow clients hold connections"
        );
    }
    // An authenticated client gets its work done too.
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]});
    let (status, answer) = s.upload(&token, &body);
    assert_eq!(status, 200, "{answer}");
    assert!(!s.token().is_empty());
    // The service keeps no more connections than its cap (plus its own few sockets).
    let sockets = open_sockets(&s);
    assert!(sockets <= 64 + 16, "{sockets} sockets open");
    drop(held);
}

#[test]
fn silent_connections_are_closed_after_the_header_timeout() {
    let s = Service::start(&["--header-timeout", "1s"]);
    let mut silent = TcpStream::connect(addr(&s)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut half = TcpStream::connect(addr(&s)).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    half.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 512];
    // Closed by the service: a read returns the end of the stream (or the 408 hyper may send
    // first), well before our own read timeout.
    let n = silent.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the silent connection got {:?}", &buf[..n]);
    let mut rest = Vec::new();
    let _ = half.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
    // A keep-alive connection that goes idle is closed the same way.
    let mut idle = TcpStream::connect(addr(&s)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(idle);
    assert_eq!(read_answer(&mut r).unwrap().status, 200);
    let idle_from = Instant::now();
    let mut tail = Vec::new();
    let _ = r.read_to_end(&mut tail);
    assert!(idle_from.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_body_trickled_in_is_cut_off() {
    let s = Service::start(&[]);
    let mut c = TcpStream::connect(addr(&s)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        c,
        "POST /{}/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n",
        s.cred("tenant_id")
    )
    .unwrap();
    // One byte every 1.5 s, as the attack did (it used five): after the grace period the
    // service stops waiting.
    let started = Instant::now();
    let mut writer = c.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..20 {
            if writer.write_all(b"g").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1500));
        }
    });
    let answer = read_answer(&mut BufReader::new(c));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "waited {took:?}");
    if let Ok(a) = answer {
        assert_eq!(a.status, 408, "{}", a.text());
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["error"], "invalid_request", "{v}");
    }
    trickle.join().unwrap();
}

#[test]
fn slow_handshakes_do_not_keep_tls_clients_out() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, private) = crate::service::tls_files(dir.path());
    let s = Service::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        private.to_str().unwrap(),
        "--max-connections",
        "32",
    ]);
    let a = addr(&s);
    // Silent connections and half a ClientHello, five times the cap.
    let mut held = Vec::new();
    for i in 0..160 {
        if let Ok(mut c) = TcpStream::connect(&a) {
            if i % 2 == 0 {
                let _ = c.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);
            }
            held.push(c);
        }
    }
    for _ in 0..3 {
        let started = Instant::now();
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "5", "--cacert", cert.to_str().unwrap()])
            .arg(format!("{}/healthz", s.base))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    drop(held);
}

/// A token request with these form fields: status, `Retry-After`, the body as JSON.
fn token_answer(s: &Service, id: &str, secret: &str) -> (u16, Option<String>, Value) {
    let url = format!("{}/{}/oauth2/v2.0/token", s.base, s.cred("tenant_id"));
    let mut r = s
        .agent
        .post(&url)
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "https://management.azure.com/.default"),
        ])
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = r.body_mut().read_to_string().unwrap();
    (
        r.status().as_u16(),
        retry,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn wrong_secrets_are_throttled_logged_and_cost_what_an_unknown_client_costs() {
    let s = Service::start(&[]);
    let id = s.cred("client_id");
    let wrong = "not-the-secret-Zq81";
    let timed = |who: &str| {
        let started = Instant::now();
        let (status, _, body) = token_answer(&s, who, wrong);
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client");
        started.elapsed()
    };
    // An unknown client id is answered no faster than a known one: the answer's time does not
    // say which ids exist. (Interleaved, medians: the machine is shared.)
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..5 {
        known.push(timed(&id));
        unknown.push(timed(&format!("00000000-0000-4000-8000-00000000000{i}")));
    }
    let (k, u) = (median(known), median(unknown));
    assert!(
        u * 2 > k && k * 2 > u,
        "known id answered in {k:?}, unknown in {u:?}"
    );
    // Five failures so far for this id; the limit is ten a minute.
    for _ in 0..5 {
        assert_eq!(token_answer(&s, &id, wrong).0, 401);
    }
    // Then the id is locked for the rest of the minute, even with the right secret.
    let (status, retry, body) = token_answer(&s, &id, &s.cred("client_secret"));
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Another client from the same address is not locked out by it.
    let other = s.new_client("contributor");
    assert!(!s.token_of(&other).is_empty());
    // Every failure is logged with the client id and the address, never the secret.
    let log = s.log();
    let refusals = log
        .lines()
        .filter(|l| l.contains("token request refused") && l.contains(&id))
        .count();
    assert!(refusals >= 11, "{refusals} refusals logged:\n{log}");
    assert!(log.contains("address=127.0.0.1"), "{log}");
    assert!(!log.contains(wrong), "the secret was logged:\n{log}");
}

#[test]
fn concurrent_wrong_secrets_do_not_pile_up_memory() {
    let s = Service::start(&[]);
    let _ = s.token();
    let before = crate::service::peak_rss_kb(&s);
    // 64 at once, each for another unknown client id (so no id is locked out first).
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let s = &s;
                scope.spawn(move || token_answer(s, &format!("no-such-client-{i}"), "x").0)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "some must be told to come back: {statuses:?}"
    );
    let grew_mb = (crate::service::peak_rss_kb(&s) - before) / 1024;
    // A few hashing threads of 19 MiB each, not 64.
    assert!(grew_mb < 160, "peak memory grew by {grew_mb} MB");
    assert!(s.healthy());
}

#[test]
fn unknown_methods_do_not_grow_the_metrics() {
    let s = Service::start(&[]);
    let a = addr(&s);
    for i in 0..300 {
        let r = raw(
            &a,
            format!("M{i:04} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        assert!(r.status >= 400, "{}", r.status);
        let r = raw(
            &a,
            format!("GET /no/such/route/{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.status, 404);
    }
    let (_, metrics) = s.get("/metrics", None);
    assert!(!metrics.contains("M0001"), "a method name became a label");
    assert!(!metrics.contains("/no/such/route"), "a path became a label");
    // Every label value comes from a fixed set.
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("tiport_http_requests_total"))
    {
        let method = line
            .split("method=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"].contains(&method),
            "{line}"
        );
    }
    assert!(
        metrics.len() < 50_000,
        "/metrics is {} bytes",
        metrics.len()
    );
}

fn upload_raw(s: &Service, token: &str, body: &str) -> (u16, Value) {
    let (status, _, answer) = s.post(
        &s.upload_url(&s.cred("workspace_id")),
        Some(token),
        body.as_bytes(),
    );
    (
        status,
        serde_json::from_str(&answer).unwrap_or(Value::String(answer)),
    )
}

fn ind(n: u32) -> String {
    indicator(n).to_string()
}

#[test]
fn a_body_naming_a_key_twice_is_refused_and_nothing_is_lost_silently() {
    let s = Service::start(&[]);
    let token = s.token();
    let cases = [
        (
            format!(
                r#"{{"sourcesystem":"x","stixobjects":[{},{},{}],"stixobjects":[{},{},{}]}}"#,
                ind(1),
                ind(2),
                ind(3),
                ind(4),
                ind(5),
                ind(6)
            ),
            "stixobjects",
        ),
        (
            format!(
                r#"{{"sourcesystem":"x","stixobjects":[{}],"value":[{}]}}"#,
                ind(1),
                ind(2)
            ),
            "value",
        ),
        (
            format!(
                r#"{{"sourcesystem":"x","indicators":[{}],"stixobjects":[{}]}}"#,
                ind(1),
                ind(2)
            ),
            "indicators",
        ),
        (
            format!(
                r#"{{"sourcesystem":"a","SourceSystem":"b","stixobjects":[{}]}}"#,
                ind(1)
            ),
            "SourceSystem",
        ),
        (
            format!(
                r#"{{"sourcesystem":"a","stixobjects":[{}],"sourcesystem":"b"}}"#,
                ind(1)
            ),
            "sourcesystem",
        ),
        (
            format!(
                r#"{{"sourcesystem":"a","stixobjects":[{}],"value":"not even an array"}}"#,
                ind(1)
            ),
            "value",
        ),
    ];
    for (body, key) in &cases {
        let (status, answer) = upload_raw(&s, &token, body);
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("\"{key}\"")), "{key}: {message}");
    }
    assert!(
        crate::service::exported(&s).is_empty(),
        "nothing of a refused body is stored"
    );
    // The legacy route refuses the same way.
    let legacy = format!(
        "{}/{}/threatintelligence:upload-indicators?api-version=2022-07-01",
        s.base,
        s.cred("workspace_id")
    );
    let body = format!(
        r#"{{"SourceSystem":"x","Value":[{}],"Indicators":[{}]}}"#,
        ind(1),
        ind(2)
    );
    assert_eq!(s.post(&legacy, Some(&token), body.as_bytes()).0, 400);
}

#[test]
fn a_long_sourcesystem_is_refused_for_its_length() {
    let s = Service::start(&[]);
    let token = s.token();
    let long = "s".repeat(5000);
    let (status, answer) = upload_raw(
        &s,
        &token,
        &json!({"sourcesystem": long, "stixobjects": [indicator(1)]}).to_string(),
    );
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("5000 bytes") && message.contains("at most 1024"),
        "{message}"
    );
    // At the limit it is accepted and kept whole.
    let at_limit = "s".repeat(1024);
    let (status, answer) = upload_raw(
        &s,
        &token,
        &json!({"sourcesystem": at_limit, "stixobjects": [indicator(1)]}).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    let (_, page) = s.get(
        &format!(
            "/workspaces/{}/threat-intelligence/objects?source={at_limit}",
            s.cred("workspace_id")
        ),
        Some(&token),
    );
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["objects"].as_array().unwrap().len(), 1, "{page}");
}

#[test]
fn the_reserved_source_name_is_refused_in_every_disguise() {
    let s = Service::start(&[]);
    let token = s.token();
    for name in [
        "Microsoft\u{a0}Sentinel",
        "Microsoft Sentinel\u{200b}",
        "MICROSOFT  SENTINEL",
        "\u{feff}Microsoft Sentinel",
        "Ｍｉｃｒｏｓｏｆｔ Ｓｅｎｔｉｎｅｌ",
    ] {
        let (status, answer) = upload_raw(
            &s,
            &token,
            &json!({"sourcesystem": name, "stixobjects": [indicator(1)]}).to_string(),
        );
        assert_eq!(status, 400, "{name:?}: {answer}");
        assert!(answer.to_string().contains("reserved"), "{answer}");
    }
    assert!(crate::service::exported(&s).is_empty());
}

#[test]
fn the_legacy_route_answers_success_with_a_json_body() {
    let s = Service::start(&[]);
    let token = s.token();
    let url = format!(
        "{}/{}/threatintelligence:upload-indicators?api-version=2022-07-01",
        s.base,
        s.cred("workspace_id")
    );
    let body = json!({"SourceSystem": "legacy", "Value": [indicator(3)]}).to_string();
    let mut r = s
        .agent
        .post(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let answer: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(answer, json!({}));
    // The current route keeps the seed's empty 200.
    let (status, answer) = s.upload(
        &token,
        &json!({"sourcesystem": "t", "stixobjects": [indicator(4)]}),
    );
    assert_eq!((status, answer.as_str()), (200, ""));
}

#[test]
fn answers_carry_the_headers_clients_and_browsers_rely_on() {
    let s = Service::start(&[]);
    let a = addr(&s);
    let tenant = s.cred("tenant_id");
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
        s.cred("client_id"),
        s.cred("client_secret")
    );
    let token = raw(
        &a,
        format!(
            "POST /{tenant}/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(token.status, 200);
    assert_eq!(token.header("cache-control"), Some("no-store"));
    assert_eq!(token.header("pragma"), Some("no-cache"));
    // The token endpoint's refusals are OAuth errors, whatever refused them.
    let big = "a".repeat(100_000);
    let too_large = raw(
        &a,
        format!(
            "POST /{tenant}/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{big}",
            big.len()
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(too_large.status, 413);
    let v: Value = serde_json::from_slice(&too_large.body).unwrap();
    assert_eq!(v["error"], "invalid_request", "{v}");
    let wrong_type = raw(
        &a,
        format!(
            "POST /{tenant}/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(wrong_type.status, 415);
    let v: Value = serde_json::from_slice(&wrong_type.body).unwrap();
    assert_eq!(v["error"], "invalid_request", "{v}");
    assert_eq!(wrong_type.header("cache-control"), Some("no-store"));
    // A stored `<script>` comes back as JSON that no browser sniffs into a page.
    let bearer = s.token();
    let mut o = indicator(9);
    o["description"] = json!("<script>alert(1)</script>");
    assert_eq!(
        s.upload(
            &bearer,
            &json!({"sourcesystem": "t", "stixobjects": [o.clone()]})
        )
        .0,
        200
    );
    let answer = raw(
        &a,
        format!(
            "GET /workspaces/{}/threat-intelligence/objects/{} HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {bearer}\r\nConnection: close\r\n\r\n",
            s.cred("workspace_id"),
            o["id"].as_str().unwrap()
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    for r in [&token, &too_large, &wrong_type] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            r.header("strict-transport-security"),
            None,
            "not over plain HTTP"
        );
    }
    // Cleartext HTTP/2 (prior knowledge) is not spoken.
    let h2c = raw(&a, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert!(!matches!(&h2c, Ok(r) if r.status < 400), "h2c was answered");
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            "--http2-prior-knowledge",
            "--max-time",
            "5",
        ])
        .arg(format!("{}/healthz", s.base))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&out.stdout), "2");
}

#[test]
fn a_token_whose_header_names_a_critical_extension_is_refused() {
    use base64::Engine;
    let s = Service::start(&[]);
    let url = s.upload_url(&s.cred("workspace_id"));
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
    let db = s.dir.path().join("tiport.db");
    let der = {
        let store = store::sqlite::SqliteStore::open(&db, Default::default()).unwrap();
        let pkcs8 = store::Store::setting(&store, "token_signing_key_pkcs8")
            .unwrap()
            .unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(pkcs8)
            .unwrap()
    };
    let fine = crate::service::minted(&s, |_| {});
    // The same claims and key, with `crit` in the header: signed by hand, as the JWT library
    // has no field for it.
    let claims = fine.split('.').nth(1).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"ES256","typ":"JWT","crit":["x-unknown"],"x-unknown":1}"#);
    let signing_input = format!("{header}.{claims}");
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &der,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let sig = key
        .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
        .unwrap();
    let critical = format!("{signing_input}.{}", b64.encode(sig.as_ref()));
    // Without `crit` the hand-made token is fine: the refusal is for the extension alone.
    let plain_header = b64.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
    let plain_input = format!("{plain_header}.{claims}");
    let sig = key
        .sign(&ring::rand::SystemRandom::new(), plain_input.as_bytes())
        .unwrap();
    let plain = format!("{plain_input}.{}", b64.encode(sig.as_ref()));
    assert_eq!(s.post(&url, Some(&plain), body.as_bytes()).0, 200);
    assert_eq!(s.post(&url, Some(&critical), body.as_bytes()).0, 401);
    assert_eq!(s.post(&url, Some(&fine), body.as_bytes()).0, 200);
}

#[test]
fn discovery_names_the_address_the_client_used() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, private) = crate::service::tls_files(dir.path());
    let tls = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        private.to_str().unwrap(),
    ];
    let s = Service::start(&tls);
    let port = s.base.rsplit(':').next().unwrap().to_owned();
    let tenant = s.cred("tenant_id");
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "10", "--cacert", cert.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Reached as https://localhost:PORT, the service names that, not the address it listens on.
    let config: Value = serde_json::from_str(&curl(&[&format!(
        "https://localhost:{port}/{tenant}/v2.0/.well-known/openid-configuration"
    )]))
    .unwrap();
    let endpoint = config["token_endpoint"].as_str().unwrap().to_owned();
    assert_eq!(
        endpoint,
        format!("https://localhost:{port}/{tenant}/oauth2/v2.0/token")
    );
    assert_eq!(
        config["issuer"],
        format!("https://localhost:{port}/{tenant}/v2.0")
    );
    // A client that follows it gets a token there, and the token is good at either name.
    let answer: Value = serde_json::from_str(&curl(&[
        &endpoint,
        "-d",
        "grant_type=client_credentials",
        "-d",
        &format!("client_id={}", s.cred("client_id")),
        "-d",
        &format!("client_secret={}", s.cred("client_secret")),
        "-d",
        "scope=https://management.azure.com/.default",
    ]))
    .unwrap();
    let token = answer["access_token"].as_str().unwrap();
    let upload = json!({"sourcesystem": "tls", "stixobjects": [indicator(1)]}).to_string();
    for base in [format!("https://localhost:{port}"), s.base.clone()] {
        let status = curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &upload,
            &format!(
                "{base}/workspaces/{}/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview",
                s.cred("workspace_id")
            ),
        ]);
        assert_eq!(status, "200", "{base}");
    }
    drop(s);

    // A Host that is no URL authority is not echoed: the listen address is named instead.
    let plain = Service::start(&[]);
    let answer = raw(
        &addr(&plain),
        format!(
            "GET /{}/v2.0/.well-known/openid-configuration HTTP/1.1\r\nHost: evil.example/x?\r\n\
             Connection: close\r\n\r\n",
            plain.cred("tenant_id")
        )
        .as_bytes(),
    )
    .unwrap();
    let config: Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(
        config["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with(&plain.base),
        "{config}"
    );
    // The answer depends on the Host: no cache may keep it or give it to another client.
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("vary"), Some("Host"));
    // Nor is a port with a sign echoed.
    let answer = raw(
        &addr(&plain),
        format!(
            "GET /{}/v2.0/.well-known/openid-configuration HTTP/1.1\r\nHost: localhost:+80\r\n\
             Connection: close\r\n\r\n",
            plain.cred("tenant_id")
        )
        .as_bytes(),
    )
    .unwrap();
    let config: Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(
        !config["token_endpoint"].as_str().unwrap().contains('+'),
        "{config}"
    );
    drop(plain);

    // --public-url pins every URL, whatever the client used.
    let pinned = Service::start(&["--public-url", "https://ti.example.com/"]);
    let answer = raw(
        &addr(&pinned),
        format!(
            "GET /{}/v2.0/.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\n\
             Connection: close\r\n\r\n",
            pinned.cred("tenant_id")
        )
        .as_bytes(),
    )
    .unwrap();
    let config: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        config["token_endpoint"],
        format!(
            "https://ti.example.com/{}/oauth2/v2.0/token",
            pinned.cred("tenant_id")
        )
    );
}

/// Sends `head` then `body` on a new connection, the body from another thread (the service
/// may answer before reading it all, as it should), and reads the answer.
pub(crate) fn raw_streamed(addr: &str, head: String, body: Vec<u8>) -> std::io::Result<Raw> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    conn.write_all(head.as_bytes())?;
    let mut writer = conn.try_clone()?;
    let sending = std::thread::spawn(move || {
        for chunk in body.chunks(64 << 10) {
            if writer.write_all(chunk).is_err() {
                return;
            }
        }
    });
    let answer = read_answer(&mut BufReader::new(conn));
    let _ = sending.join();
    answer
}

/// Posts a multipart body to the imports route: status and body.
fn post_form(s: &Service, token: &str, boundary: &str, body: Vec<u8>) -> (u16, Value) {
    let head = format!(
        "POST /workspaces/{}/threat-intelligence/imports HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        s.cred("workspace_id"),
        body.len()
    );
    let answer = raw_streamed(&addr(s), head, body).unwrap();
    (
        answer.status,
        serde_json::from_slice(&answer.body).unwrap_or(Value::String(answer.text())),
    )
}

#[test]
fn a_form_of_many_fields_or_a_huge_part_head_is_refused_without_being_held() {
    let s = Service::start(&[]);
    let token = s.token();
    let before = crate::service::peak_rss_kb(&s);
    let b = "bnd";
    // 20,000 text fields of 3 KB: 60 MB that the service must not hold.
    let mut body = Vec::new();
    let value = "v".repeat(3000);
    for i in 0..20_000 {
        write!(
            body,
            "--{b}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    write!(body, "--{b}--\r\n").unwrap();
    let (status, answer) = post_form(&s, &token, b, body);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("the form"), "{answer}");
    // As many empty fields: the count of parts is bounded on its own.
    let mut body = Vec::new();
    for i in 0..20_000 {
        write!(
            body,
            "--{b}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n\r\n"
        )
        .unwrap();
    }
    write!(body, "--{b}--\r\n").unwrap();
    let (status, answer) = post_form(&s, &token, b, body);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.to_string().contains("more than 16 parts"),
        "{answer}"
    );
    // One part whose head never ends: 40 MB without the blank line.
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\nX-Pad: "
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(b'a', 40 << 20));
    let (status, answer) = post_form(&s, &token, b, body);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("head"), "{answer}");
    // Text fields together are bounded too, unknown ones included.
    let mut body = Vec::new();
    for i in 0..10 {
        write!(
            body,
            "--{b}\r\nContent-Disposition: form-data; name=\"x{i}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    write!(body, "--{b}--\r\n").unwrap();
    let (status, answer) = post_form(&s, &token, b, body);
    assert_eq!(status, 400, "{answer}");
    let grew_mb = (crate::service::peak_rss_kb(&s) - before) / 1024;
    assert!(grew_mb < 40, "peak memory grew by {grew_mb} MB");
    // A normal form still works.
    let (status, answer) = s.import(
        &token,
        &[("source", "ok"), ("format", "csv")],
        "a.csv",
        b"observableType,observableValue,validFrom\nipv4-addr,198.51.100.1,2024-01-01T00:00:00Z\n",
    );
    assert_eq!(status, 202, "{answer}");
}

/// An indicator of about `kib` KiB (its description), version `v` of id `n`.
fn big_indicator(n: u32, v: u32, kib: usize) -> Value {
    let mut o = indicator(n);
    o["description"] = json!("d".repeat(kib << 10));
    o["modified"] = json!(format!("2024-01-01T00:00:{:02}.{:03}Z", v / 1000, v % 1000));
    o
}

fn upload_in_parts(s: &Service, token: &str, objects: Vec<Value>) {
    for part in objects.chunks(25) {
        let (status, answer) =
            s.upload(token, &json!({"sourcesystem": "big", "stixobjects": part}));
        assert_eq!(status, 200, "{answer}");
    }
}

#[test]
fn large_objects_are_listed_in_pages_bounded_in_bytes_and_versions_streamed() {
    let s = Service::start(&[]);
    let token = s.token();
    let ws = s.cred("workspace_id");
    upload_in_parts(
        &s,
        &token,
        (0..60).map(|n| big_indicator(n, 0, 1024)).collect(),
    );
    upload_in_parts(
        &s,
        &token,
        (1..=60).map(|v| big_indicator(1000, v, 1024)).collect(),
    );
    let before = crate::service::peak_rss_kb(&s);
    // Four at once, each asking for a thousand objects of a megabyte.
    let pages: Vec<Value> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let (status, body) = s.get(
                        &format!("/workspaces/{ws}/threat-intelligence/objects?limit=1000"),
                        Some(&token),
                    );
                    assert_eq!(status, 200);
                    serde_json::from_str::<Value>(&body).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let grew_mb = (crate::service::peak_rss_kb(&s) - before) / 1024;
    assert!(
        grew_mb < 100,
        "peak memory grew by {grew_mb} MB for four pages"
    );
    for p in &pages {
        let n = p["objects"].as_array().unwrap().len();
        assert!((1..=5).contains(&n), "a page of {n} objects of a megabyte");
        assert!(p["next"].is_string(), "the rest is behind `next`");
    }
    // Following `next` gets every object once.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map_or(String::new(), |c| format!("&cursor={c}"));
        let (_, body) = s.get(
            &format!("/workspaces/{ws}/threat-intelligence/objects?limit=1000{q}"),
            Some(&token),
        );
        let page: Value = serde_json::from_str(&body).unwrap();
        for o in page["objects"].as_array().unwrap() {
            assert!(seen.insert(o["id"].as_str().unwrap().to_owned()));
        }
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 61);
    // Sixty versions of a megabyte come back whole, streamed.
    let before = crate::service::peak_rss_kb(&s);
    let mut r = s
        .agent
        .get(format!(
            "{}/workspaces/{ws}/threat-intelligence/objects/{}/versions",
            s.base,
            indicator(1000)["id"].as_str().unwrap()
        ))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r
        .body_mut()
        .with_config()
        .limit(200 << 20)
        .read_to_string()
        .unwrap();
    let versions: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 60);
    let grew_mb = (crate::service::peak_rss_kb(&s) - before) / 1024;
    assert!(
        grew_mb < 30,
        "peak memory grew by {grew_mb} MB for 60 MB of versions"
    );
    // An object that does not exist is still a 404.
    let (status, _) = s.get(
        &format!(
            "/workspaces/{ws}/threat-intelligence/objects/{}/versions",
            indicator(999_999)["id"].as_str().unwrap()
        ),
        Some(&token),
    );
    assert_eq!(status, 404);
}

#[test]
fn import_records_are_bounded_and_the_list_comes_in_pages() {
    let s = Service::start(&[]);
    let token = s.token();
    let ws = s.cred("workspace_id");
    // A header of a hundred thousand unknown columns: the import fails, its message names a
    // few of them and counts the rest.
    let mut csv = String::from("observableType,observableValue,validFrom");
    for i in 0..100_000 {
        csv.push_str(&format!(",unknown{i}"));
    }
    csv.push_str("\nipv4-addr,198.51.100.1,2024-01-01T00:00:00Z\n");
    let (status, queued) = s.import(&token, &[("source", "wide")], "wide.csv", csv.as_bytes());
    assert_eq!(status, 202, "{queued}");
    let r = s.finished_import(&token, queued["id"].as_str().unwrap());
    assert_eq!(r["status"], "failed");
    let message = r["message"].as_str().unwrap_or_else(|| panic!("{r}"));
    assert!(message.len() < 4200, "a message of {} bytes", message.len());
    assert!(
        message.contains("unknown0") && message.contains("99990 more"),
        "{message}"
    );
    // Eleven more imports; the list comes five at a time, the rest named by a Link header.
    // They are listed once all have ended: a running import's total changes, and keyset pages
    // over a key that moves between two requests may repeat or skip a row.
    let mut started = Vec::new();
    for i in 0..11 {
        let (status, queued) = s.import(
            &token,
            &[("source", &format!("feed {}", i % 3))],
            "a.csv",
            format!("observableType,observableValue,validFrom\nipv4-addr,198.51.100.{i},2024-01-01T00:00:00Z\n")
                .as_bytes(),
        );
        assert_eq!(status, 202);
        started.push(queued["id"].as_str().unwrap().to_owned());
    }
    for id in &started {
        s.finished_import(&token, id);
    }
    for (sort, order) in [("created", "desc"), ("source", "asc"), ("total", "desc")] {
        let mut seen = Vec::new();
        let mut path = format!(
            "/workspaces/{ws}/threat-intelligence/imports?sort={sort}&order={order}&limit=5"
        );
        loop {
            let mut r = s
                .agent
                .get(format!("{}{path}", s.base))
                .header("Authorization", &format!("Bearer {token}"))
                .call()
                .unwrap();
            assert_eq!(r.status(), 200);
            let link = r
                .headers()
                .get("link")
                .map(|l| l.to_str().unwrap().to_owned());
            let page: Value =
                serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
            let page = page.as_array().expect("the list is an array");
            assert!(page.len() <= 5);
            seen.extend(page.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
            match link {
                Some(l) => {
                    assert!(l.ends_with(">; rel=\"next\""), "{l}");
                    path = l[1..l.find('>').unwrap()].to_owned();
                }
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (12, 12), "{sort} {order}");
    }
    // Without a limit, a page is at most 100; a bad cursor is a 400.
    let (status, _) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/imports?cursor=bm9wZQ"),
        Some(&token),
    );
    assert_eq!(status, 400);
    // The CLI pages the same way.
    let out = crate::helpers::run(
        &[
            "import-status",
            "--workspace",
            &ws,
            "--limit",
            "4",
            "--data-dir",
            &s.data_dir(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    assert_eq!(crate::helpers::stdout(&out).lines().count(), 4);
    let hint = crate::helpers::stderr(&out);
    let cursor = hint
        .split("--cursor ")
        .nth(1)
        .expect("a next page")
        .trim()
        .to_owned();
    let out = crate::helpers::run(
        &[
            "import-status",
            "--workspace",
            &ws,
            "--limit",
            "100",
            "--cursor",
            &cursor,
            "--data-dir",
            &s.data_dir(),
        ],
        None,
    );
    assert_eq!(crate::helpers::stdout(&out).lines().count(), 8);
}

#[test]
fn a_formula_after_a_separator_is_neutralized_in_error_files_and_exports() {
    use crate::helpers::{create_workspace, data_dir, error_file, import, run_in};
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "csv");
    let csv = "name,description,observableType,observableValue,validFrom\n\
               \"a;=1+1\",\"x,@SUM(1)\",ipv4-addr,198.51.100.7,2024-01-01T00:00:00Z\n\
               \"b;=HYPERLINK(\"\"http://e.example\"\")\",ok,ipv4-addr,not-an-address,2024-01-01T00:00:00Z\n";
    let file = dir.path().join("in.csv");
    std::fs::write(&file, csv).unwrap();
    let (_, summary) = import(dir.path(), &ws, &file, "csv feed", &[]);
    assert_eq!(summary["invalid"], 1, "{summary}");
    // The error file: the bad row's cells, each a quoted cell, the dangerous one prefixed.
    let errors = std::fs::read(error_file(dir.path(), summary["id"].as_str().unwrap())).unwrap();
    let text = String::from_utf8_lossy(&errors);
    assert!(
        text.contains("\"'b;=HYPERLINK(\"\"http://e.example\"\")\""),
        "{text}"
    );
    assert!(!text.contains(",b;="), "{text}");
    // The export: same rule.
    let out = run_in(
        dir.path(),
        &["export", "--workspace", &ws, "--format", "csv"],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"'a;=1+1\""), "{text}");
    assert!(text.contains("\"'x,@SUM(1)\""), "{text}");
    // Every cell is quoted, so a spreadsheet that splits on ';' splits no cell of ours.
    for line in text.lines() {
        assert!(line.starts_with('"') && line.ends_with('"'), "{line}");
    }
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_store_is_private_and_a_readable_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A data directory made beforehand, readable by everyone, as an operator might.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = Service::start_in(dir, &[], &[]);
    let token = s.token();
    let (status, queued) = s.import(
        &token,
        &[("source", "p")],
        "p.csv",
        b"observableType,observableValue,validFrom\nipv4-addr,198.51.100.1,2024-01-01T00:00:00Z\n",
    );
    assert_eq!(status, 202);
    s.finished_import(&token, queued["id"].as_str().unwrap());
    let d = s.dir.path().to_owned();
    for f in [
        "tiport.db",
        "tiport.db-wal",
        "tiport.db-shm",
        "tiport.db-json",
        "tiport.db-json-wait",
        "initial-credentials.json",
    ] {
        assert_eq!(mode(&d.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&d.join("imports")), 0o700);
    let import_dir = d.join("imports").join(queued["id"].as_str().unwrap());
    assert_eq!(mode(&import_dir), 0o700);
    for f in std::fs::read_dir(&import_dir).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    let dir = s.stop();
    // A store someone made readable: every command refuses it, naming the file.
    std::fs::set_permissions(
        dir.path().join("tiport.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = crate::helpers::run_in(dir.path(), &["workspace", "list"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        crate::helpers::stderr(&out)
    );
    let err = crate::helpers::stderr(&out);
    assert!(
        err.contains("tiport.db (mode 0644)") && err.contains("--allow-readable-store"),
        "{err}"
    );
    let out = crate::helpers::run_in(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    // Unless told to allow it.
    let out = crate::helpers::run_in(dir.path(), &["workspace", "list", "--allow-readable-store"]);
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
}

#[test]
fn identifiers_that_differ_only_in_case_are_one_object() {
    let s = Service::start(&[]);
    let token = s.token();
    let ws = s.cred("workspace_id");
    let lower = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
    let mut first = indicator(1);
    first["id"] = json!(lower);
    let mut second = first.clone();
    second["id"] = json!(lower.to_uppercase().replacen("INDICATOR", "indicator", 1));
    second["modified"] = json!("2024-02-01T00:00:00.000Z");
    second["name"] = json!("newer");
    for o in [&first, &second] {
        let (status, answer) =
            s.upload(&token, &json!({"sourcesystem": "case", "stixobjects": [o]}));
        assert_eq!((status, answer.as_str()), (200, ""));
    }
    let (_, page) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/objects"),
        Some(&token),
    );
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["objects"].as_array().unwrap().len(), 1, "{page}");
    for spelling in [lower.to_owned(), second["id"].as_str().unwrap().to_owned()] {
        let (status, body) = s.get(
            &format!("/workspaces/{ws}/threat-intelligence/objects/{spelling}/versions"),
            Some(&token),
        );
        assert_eq!(status, 200, "{spelling}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["versions"].as_array().unwrap().len(),
            2,
            "{spelling}: {v}"
        );
        let (status, body) = s.get(
            &format!("/workspaces/{ws}/threat-intelligence/objects/{spelling}"),
            Some(&token),
        );
        assert_eq!(status, 200);
        let current: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(current["name"], "newer");
        // The answer names the object by its canonical id.
        assert_eq!(current["id"], lower);
    }
}

#[test]
fn objects_are_answered_as_stix_2_1_and_as_stored_on_request() {
    let s = Service::start(&[]);
    let token = s.token();
    let ws = s.cred("workspace_id");
    // A STIX 2.0 malware, as MITRE ATT&CK's 2.0 bundle has them: no spec_version, `labels`,
    // no `is_family`, timestamps to the second.
    let id = "malware--92ec0cbd-2c30-44a2-b270-73f4ec949841";
    let malware = json!({"type": "malware", "id": id, "name": "Emissary",
        "created": "2017-05-31T21:32:40Z", "modified": "2018-10-17T00:14:20Z",
        "labels": ["malware"]});
    let (status, answer) = s.upload(
        &token,
        &json!({"sourcesystem": "attack", "stixobjects": [malware]}),
    );
    assert_eq!((status, answer.as_str()), (200, ""));
    let (_, body) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/objects/{id}"),
        Some(&token),
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["spec_version"], "2.1");
    assert_eq!(v["malware_types"], json!(["malware"]));
    assert_eq!(v["is_family"], true);
    assert_eq!(v["created"], "2017-05-31T21:32:40.000Z");
    assert!(v.get("labels").is_none());
    let (_, page) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/objects"),
        Some(&token),
    );
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["objects"][0], v, "the list answers the same form");
    // The stored text on request, and in the versions.
    let (_, body) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/objects/{id}?original=true"),
        Some(&token),
    );
    let stored: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stored["labels"], json!(["malware"]));
    assert_eq!(stored["created"], "2017-05-31T21:32:40Z");
    let (_, body) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/objects/{id}/versions"),
        Some(&token),
    );
    let versions: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(versions["versions"][0], stored);
    let (status, _) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/objects/{id}?original=maybe"),
        Some(&token),
    );
    assert_eq!(status, 400);
}

/// A csv-other file of `rows` indicators.
fn csv_of(rows: u32) -> Vec<u8> {
    let mut csv = String::from("observableType,observableValue,validFrom,description\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "ipv4-addr,10.{}.{}.{},2024-01-01T00:00:00Z,row {i} of a file of some size\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    csv.into_bytes()
}

#[test]
fn imports_count_against_the_rate_and_wait_in_a_bounded_queue() {
    // Throttling: an import is a request like an upload.
    let s = Service::start(&["--requests-per-minute", "3"]);
    let token = s.token();
    for i in 0..2 {
        assert_eq!(
            s.upload(
                &token,
                &json!({"sourcesystem": "t", "stixobjects": [indicator(i)]})
            )
            .0,
            200
        );
    }
    let (status, _) = s.import(&token, &[("source", "r")], "a.csv", &csv_of(1));
    assert_eq!(status, 202);
    let (status, answer) = s.import(&token, &[("source", "r")], "a.csv", &csv_of(1));
    assert_eq!(status, 429, "{answer}");
    drop(s);

    // One runs, one waits, the next is refused until there is room.
    let s = Service::start(&["--max-running-imports", "1", "--max-waiting-imports", "1"]);
    let token = s.token();
    let (status, first) = s.import(&token, &[("source", "q")], "big.csv", &csv_of(100_000));
    assert_eq!(status, 202, "{first}");
    // The second is accepted (its answer comes once the store can record it).
    let second = std::thread::scope(|scope| {
        let second = scope.spawn(|| s.import(&token, &[("source", "q")], "small.csv", &csv_of(3)));
        std::thread::sleep(Duration::from_millis(300));
        // The third finds no room, at once, without sending its file.
        let started = Instant::now();
        let url = format!(
            "{}/workspaces/{}/threat-intelligence/imports",
            s.base,
            s.cred("workspace_id")
        );
        let (content_type, body) =
            crate::service::form(&[("source", "q")], "third.csv", &csv_of(3));
        let r = s
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", &content_type)
            .send(&body[..])
            .unwrap();
        assert_eq!(r.status(), 429);
        assert!(r.headers().get("retry-after").is_some());
        assert!(started.elapsed() < Duration::from_secs(2));
        second.join().unwrap()
    });
    assert_eq!(second.0, 202, "{}", second.1);
    for id in [&first["id"], &second.1["id"]] {
        let r = s.finished_import(&token, id.as_str().unwrap());
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    // With room again, another is accepted.
    let (status, _) = s.import(&token, &[("source", "q")], "fourth.csv", &csv_of(3));
    assert_eq!(status, 202);
}

/// Sends a GET for `path` with `token` and reads nothing of the answer, on a connection whose
/// receive buffer is small (left to itself, Linux lets it grow to 32 MB on loopback).
fn unread_get(s: &Service, path: &str, token: &str) -> TcpStream {
    use std::os::fd::AsRawFd;
    let mut conn = TcpStream::connect(addr(s)).unwrap();
    let size: libc::c_int = 64 << 10;
    // SAFETY: a valid socket, and a pointer to an int with its length.
    let r = unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    conn
}

#[test]
fn a_reader_that_reads_nothing_cannot_hold_many_large_answers() {
    let s = Service::start(&[]);
    let token = s.token();
    let ws = s.cred("workspace_id");
    // Forty versions of a megabyte: far more than the sockets between us can buffer.
    upload_in_parts(
        &s,
        &token,
        (1..=40).map(|v| big_indicator(7, v, 1024)).collect(),
    );
    // And an object of ten: a page of objects is one buffer the service builds, which it
    // must still count until the client has taken it.
    upload_in_parts(&s, &token, vec![big_indicator(6, 1, 10 << 10)]);
    let versions = format!(
        "/workspaces/{ws}/threat-intelligence/objects/{}/versions",
        indicator(7)["id"].as_str().unwrap()
    );
    let page = format!("/workspaces/{ws}/threat-intelligence/objects?limit=1");
    let held: Vec<TcpStream> = (0..16)
        .map(|i| unread_get(&s, if i % 2 == 0 { &versions } else { &page }, &token))
        .collect();
    // Each answer has begun (so each is counted) before the next request is made.
    for h in &held {
        h.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut start = [0u8; 12];
        let n = h.peek(&mut start).unwrap();
        assert_eq!(&start[..n], b"HTTP/1.1 200");
    }
    // Each of the sixteen answers is stuck in its socket; a seventeenth large answer to the
    // same client waits for them, with a short Retry-After.
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let answer = raw(
            &addr(&s),
            format!(
                "GET /workspaces/{ws}/threat-intelligence/objects?limit=1 HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        if answer.status == 429 || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let said: String = refused.text().chars().take(300).collect();
    assert_eq!(refused.status, 429, "{said}");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(said.contains("still being sent"), "{said}");
    // Another client is not affected, nor are small answers to this one.
    let status_of = |token: &str, path: &str| {
        raw(
            &addr(&s),
            format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap()
        .status
    };
    let other = s.token_of(&s.new_client("reader"));
    assert_eq!(status_of(&other, &page), 200);
    let one = format!(
        "/workspaces/{ws}/threat-intelligence/objects/{}",
        indicator(7)["id"].as_str().unwrap()
    );
    assert_eq!(status_of(&token, &one), 200);
    // Once the client hangs up, its answers are given up and it may ask again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = status_of(&token, &page);
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn one_client_posting_imports_slowly_cannot_hold_the_queue() {
    let s = Service::start(&[]);
    let token = s.token();
    let ws = s.cred("workspace_id");
    // Two imports whose forms arrive slowly (the head, then nothing yet).
    let posting: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut conn = TcpStream::connect(addr(&s)).unwrap();
            write!(
                conn,
                "POST /workspaces/{ws}/threat-intelligence/imports HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Bearer {token}\r\n\
                 Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n\
                 --b\r\nContent-Disposition: form-data; name=\"source\"\r\n\r\nslow\r\n"
            )
            .unwrap();
            conn
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // A third from the same client is refused at once; another client's is accepted.
    let (status, answer) = s.import(&token, &[("source", "third")], "a.csv", &csv_of(3));
    assert_eq!(status, 429, "{answer}");
    assert!(answer.to_string().contains("already posting"), "{answer}");
    let other = s.token_of(&s.new_client("contributor"));
    let (status, answer) = s.import(&other, &[("source", "other")], "a.csv", &csv_of(3));
    assert_eq!(status, 202, "{answer}");
    // The slow forms given up, the client may post again.
    drop(posting);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, answer) = s.import(&token, &[("source", "again")], "a.csv", &csv_of(3));
        if status == 202 {
            break;
        }
        assert_eq!(status, 429, "{answer}");
        assert!(Instant::now() < deadline, "still refused: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
