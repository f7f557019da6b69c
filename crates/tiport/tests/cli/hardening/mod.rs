//! What an outside attack and real clients showed (issue 11): each finding, driven against the
//! real service as the attacker or the client drove it.
//!
//! Shared here: raw connections and answers read off them, and the helpers several files
//! use; the tests are grouped by what they attack, one file each.

mod bodies;
mod connections;
mod imports;
mod lists;
mod tokens;

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

/// `GET path` on a new connection that asks to be closed, with `Host: host` and a bearer
/// `token` if one is given; the answer.
pub(crate) fn raw_get(addr: &str, host: &str, path: &str, token: Option<&str>) -> Raw {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n");
    raw(addr, request.as_bytes()).unwrap_or_else(|e| panic!("GET {path}: {e}"))
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

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A csv-other file of `rows` indicators, named `Row 0`, `Row 1`, …
pub(crate) fn csv_of(rows: u32) -> Vec<u8> {
    let mut csv = String::from("observableType,observableValue,validFrom,name,description\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "ipv4-addr,10.{}.{}.{},2024-01-01T00:00:00Z,Row {i},row {i} of a file of some size\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    csv.into_bytes()
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
