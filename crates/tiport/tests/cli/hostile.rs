//! The hostile-input suite: hundreds of generated bad requests over every route (tokens, upload
//! bodies, multipart forms, queries, headers, the HTTP framing itself), each with the statuses
//! it may get. After each one the service must still answer `/healthz` quickly, and its memory
//! must stay under a bound; no answer may be a 5xx. It ends with the slow-connection attack
//! against a low connection cap.
//!
//! A case lists the statuses it may get because some depend on what came before (a wrong
//! secret is 401 until the address has failed too often, then 429). `0` means the service may
//! close the connection without an answer (as it should for some malformed framing).

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::hardening::{addr, healthz_within, raw_streamed, slow_clients, Raw};
use crate::service::{indicator, Service};

struct Case {
    name: String,
    head: String,
    body: Vec<u8>,
    expect: Vec<u16>,
}

/// Builds the cases against one service (its tenant, workspace, a valid token).
struct Gen {
    tenant: String,
    ws: String,
    token: String,
    cases: Vec<Case>,
}

const UPLOAD: &str = "threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview";
const LEGACY: &str = "threatintelligence:upload-indicators?api-version=2022-07-01";

impl Gen {
    /// A request with `headers` (each ending in CRLF) and `body`; Content-Length added unless
    /// `headers` sets its own framing.
    fn add(&mut self, name: impl Into<String>, head: String, body: Vec<u8>, expect: &[u16]) {
        self.cases.push(Case {
            name: name.into(),
            head,
            body,
            expect: expect.to_vec(),
        });
    }

    fn request(method: &str, path: &str, headers: &str, body: &[u8]) -> String {
        let framing = if headers.to_ascii_lowercase().contains("content-length:")
            || headers.to_ascii_lowercase().contains("transfer-encoding:")
        {
            String::new()
        } else {
            format!("Content-Length: {}\r\n", body.len())
        };
        format!(
            "{method} {path} HTTP/1.1\r\nHost: hostile.test\r\nConnection: close\r\n{headers}{framing}\r\n"
        )
    }

    fn upload_path(&self) -> String {
        format!("/workspaces/{}/{UPLOAD}", self.ws)
    }

    fn bearer(&self) -> String {
        format!("Authorization: Bearer {}\r\n", self.token)
    }

    fn tokens(&mut self) {
        let path = format!("/{}/oauth2/v2.0/token", self.tenant);
        let form = "application/x-www-form-urlencoded";
        let scope = "scope=https%3A%2F%2Fmanagement.azure.com%2F.default";
        let mut forms: Vec<(String, String, Vec<u16>)> = vec![
            (
                "no grant".into(),
                format!("client_id=a&client_secret=b&{scope}"),
                vec![400],
            ),
            ("empty form".into(), String::new(), vec![400]),
            (
                "no scope".into(),
                "grant_type=client_credentials&client_id=a&client_secret=b".into(),
                vec![400],
            ),
            (
                "no secret".into(),
                format!("grant_type=client_credentials&client_id=a&{scope}"),
                vec![401],
            ),
            (
                "bad percent".into(),
                "grant_type=%ZZ&client_id=%".into(),
                vec![400],
            ),
            (
                "nul bytes".into(),
                format!("grant_type=client_credentials%00&client_id=a%00&client_secret=b&{scope}"),
                vec![400],
            ),
        ];
        for grant in [
            "password",
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "CLIENT_CREDENTIALS",
        ] {
            forms.push((
                format!("grant {grant}"),
                format!("grant_type={grant}&client_id=a&client_secret=b&{scope}"),
                vec![400],
            ));
        }
        for bad_scope in [
            "https%3A%2F%2Fgraph.microsoft.com%2F.default",
            "openid",
            "",
            "%2F.default",
            &"a".repeat(5000),
        ] {
            forms.push((
                format!("scope {}", &bad_scope[..bad_scope.len().min(20)]),
                format!(
                    "grant_type=client_credentials&client_id=a&client_secret=b&scope={bad_scope}"
                ),
                vec![400],
            ));
        }
        for (i, id) in [
            "unknown",
            "' OR 1=1 --",
            "%00",
            &"x".repeat(20_000),
            "%E2%80%AE",
            "admin",
            "..%2F..%2Fetc%2Fpasswd",
        ]
        .iter()
        .enumerate()
        {
            // A token request is a few hundred bytes; a form past 16 KiB is refused unread.
            let expect = if id.len() > 16 << 10 {
                vec![413]
            } else {
                vec![401, 429]
            };
            forms.push((
                format!("client id {i}"),
                format!("grant_type=client_credentials&client_id={id}&client_secret=wrong&{scope}"),
                expect,
            ));
        }
        for (name, body, expect) in forms {
            let head = Self::request(
                "POST",
                &path,
                &format!("Content-Type: {form}\r\n"),
                body.as_bytes(),
            );
            self.add(format!("token: {name}"), head, body.into_bytes(), &expect);
        }
        let ok_form = format!("grant_type=client_credentials&client_id=a&client_secret=b&{scope}");
        for (ct, expect) in [
            ("application/json", 415),
            ("text/plain", 415),
            ("multipart/form-data; boundary=x", 415),
        ] {
            let head = Self::request(
                "POST",
                &path,
                &format!("Content-Type: {ct}\r\n"),
                ok_form.as_bytes(),
            );
            self.add(
                format!("token: content type {ct}"),
                head,
                ok_form.clone().into_bytes(),
                &[expect],
            );
        }
        let head = Self::request("POST", &path, "", ok_form.as_bytes());
        self.add(
            "token: no content type",
            head,
            ok_form.clone().into_bytes(),
            &[415],
        );
        let big = "a=".to_owned() + &"b".repeat(200_000);
        let head = Self::request(
            "POST",
            &path,
            &format!("Content-Type: {form}\r\n"),
            big.as_bytes(),
        );
        self.add("token: 200 KB form", head, big.into_bytes(), &[413]);
        let head = Self::request(
            "POST",
            "/not-our-tenant/oauth2/v2.0/token",
            &format!("Content-Type: {form}\r\n"),
            ok_form.as_bytes(),
        );
        self.add("token: other tenant", head, ok_form.into_bytes(), &[400]);
        for m in ["GET", "PUT", "DELETE"] {
            let head = Self::request(m, &path, "", b"");
            self.add(format!("token: {m}"), head, Vec::new(), &[405]);
        }
    }

    fn bad_tokens(&self) -> Vec<(String, String)> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = self.token.split('.').collect();
        let claims = parts.get(1).copied().unwrap_or("");
        let none_header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let hs_header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let crit_header = b64.encode(br#"{"alg":"ES256","crit":["exp"]}"#);
        let mut tokens = vec![
            ("empty".into(), String::new()),
            ("garbage".into(), "garbage".into()),
            ("alg none".into(), format!("{none_header}.{claims}.")),
            ("alg none, no dot".into(), format!("{none_header}.{claims}")),
            (
                "HS256".into(),
                format!("{hs_header}.{claims}.{}", b64.encode([7u8; 32])),
            ),
            (
                "crit".into(),
                format!(
                    "{crit_header}.{claims}.{}",
                    parts.get(2).copied().unwrap_or("")
                ),
            ),
            (
                "signature cut".into(),
                self.token[..self.token.len() - 5].to_owned(),
            ),
            (
                "signature swapped".into(),
                format!("{}.{}.{}", parts[0], claims, b64.encode([1u8; 64])),
            ),
            (
                "claims not JSON".into(),
                format!("{}.{}.{}", parts[0], b64.encode(b"not json"), parts[2]),
            ),
            ("4 parts".into(), format!("{}.x", self.token)),
            ("huge".into(), "a".repeat(30_000)),
            ("unicode".into(), "\u{202e}token".into()),
        ];
        let expired = {
            let mut c: Value = serde_json::from_slice(&b64.decode(claims).unwrap()).unwrap();
            c["exp"] = json!(1);
            b64.encode(c.to_string())
        };
        tokens.push((
            "expired (resigned? no: same signature)".into(),
            format!("{}.{expired}.{}", parts[0], parts[2]),
        ));
        tokens
    }

    fn uploads(&mut self) {
        self.uploads_with_bad_tokens();
        self.uploads_with_bad_queries_and_types();
        self.uploads_to_other_workspaces();
        self.uploads_with_bad_bodies();
        self.uploads_declaring_bad_sizes();
    }

    fn uploads_with_bad_tokens(&mut self) {
        let good = json!({"sourcesystem": "hostile", "stixobjects": [indicator(1)]}).to_string();
        let path = self.upload_path();
        let json_ct = "Content-Type: application/json\r\n";
        // Tokens: every bad one, on the current and the legacy route and a query.
        let legacy = format!("/{}/{LEGACY}", self.ws);
        let query = format!("/workspaces/{}/threat-intelligence/objects", self.ws);
        for (name, token) in self.bad_tokens() {
            for (route, method, body) in [
                (&path, "POST", good.as_bytes()),
                (&legacy, "POST", good.as_bytes()),
                (&query, "GET", &b""[..]),
            ] {
                let head = Self::request(
                    method,
                    route,
                    &format!("{json_ct}Authorization: Bearer {token}\r\n"),
                    body,
                );
                self.add(
                    format!("token {name} on {route}"),
                    head,
                    body.to_vec(),
                    &[401],
                );
            }
        }
        for auth in [
            "",
            "Authorization: Basic YTpi\r\n",
            "Authorization: Bearer\r\n",
            "Authorization: bearer  \r\n",
        ] {
            let head = Self::request("POST", &path, &format!("{json_ct}{auth}"), good.as_bytes());
            self.add(
                format!("upload: authorization {auth:?}"),
                head,
                good.clone().into_bytes(),
                &[401],
            );
        }
    }

    fn uploads_with_bad_queries_and_types(&mut self) {
        let good = json!({"sourcesystem": "hostile", "stixobjects": [indicator(1)]}).to_string();
        let path = self.upload_path();
        let json_ct = "Content-Type: application/json\r\n";
        // api-version and content type come first.
        for q in [
            "",
            "?api-version=2023-01-01",
            "?api-version=",
            "?api-version=2024-02-01-preview&api-version=x",
        ] {
            let p = format!(
                "/workspaces/{}/threat-intelligence-stix-objects:upload{q}",
                self.ws
            );
            let head = Self::request(
                "POST",
                &p,
                &format!("{json_ct}{}", self.bearer()),
                good.as_bytes(),
            );
            self.add(
                format!("upload: query {q:?}"),
                head,
                good.clone().into_bytes(),
                &[400],
            );
        }
        for ct in [
            "text/plain",
            "application/xml",
            "multipart/form-data",
            "application/x-www-form-urlencoded",
        ] {
            let head = Self::request(
                "POST",
                &path,
                &format!("Content-Type: {ct}\r\n{}", self.bearer()),
                good.as_bytes(),
            );
            self.add(
                format!("upload: content type {ct}"),
                head,
                good.clone().into_bytes(),
                &[415],
            );
        }
    }

    fn uploads_to_other_workspaces(&mut self) {
        let good = json!({"sourcesystem": "hostile", "stixobjects": [indicator(1)]}).to_string();
        let json_ct = "Content-Type: application/json\r\n";
        // Workspaces that are not the caller's.
        for ws in [
            "00000000-0000-4000-8000-000000000000".to_owned(),
            "not-a-uuid".into(),
            "..%2F..%2Fetc".into(),
            "x".repeat(2_000),
            self.ws.to_uppercase(),
        ] {
            let p = format!("/workspaces/{ws}/{UPLOAD}");
            let head = Self::request(
                "POST",
                &p,
                &format!("{json_ct}{}", self.bearer()),
                good.as_bytes(),
            );
            let expect: &[u16] = if ws == self.ws.to_uppercase() {
                &[200, 404]
            } else {
                &[404]
            };
            self.add(
                format!("upload: workspace {}", &ws[..ws.len().min(30)]),
                head,
                good.clone().into_bytes(),
                expect,
            );
        }
    }

    fn uploads_with_bad_bodies(&mut self) {
        let good = json!({"sourcesystem": "hostile", "stixobjects": [indicator(1)]}).to_string();
        let path = self.upload_path();
        let json_ct = "Content-Type: application/json\r\n";
        let legacy = format!("/{}/{LEGACY}", self.ws);
        // Bodies.
        let mut bodies: Vec<(String, Vec<u8>, Vec<u16>)> = vec![
            ("empty".into(), Vec::new(), vec![400]),
            ("null".into(), b"null".to_vec(), vec![400]),
            ("array".into(), b"[]".to_vec(), vec![400]),
            ("string".into(), b"\"x\"".to_vec(), vec![400]),
            ("truncated".into(), good.as_bytes()[..good.len() / 2].to_vec(), vec![400]),
            ("trailing garbage".into(), format!("{good}x").into_bytes(), vec![400]),
            ("no sourcesystem".into(), json!({"stixobjects": [indicator(1)]}).to_string().into_bytes(), vec![400]),
            ("reserved source".into(), json!({"sourcesystem": "microsoft\u{a0}sentinel", "stixobjects": []}).to_string().into_bytes(), vec![400]),
            ("source too long".into(), json!({"sourcesystem": "s".repeat(4097), "stixobjects": []}).to_string().into_bytes(), vec![400]),
            ("source number".into(), json!({"sourcesystem": 5, "stixobjects": []}).to_string().into_bytes(), vec![400]),
            ("stixobjects object".into(), br#"{"sourcesystem":"s","stixobjects":{}}"#.to_vec(), vec![400]),
            ("stixobjects twice".into(), format!(r#"{{"sourcesystem":"s","stixobjects":[{}],"stixobjects":[{}]}}"#, indicator(1), indicator(2)).into_bytes(), vec![400]),
            ("value and stixobjects".into(), format!(r#"{{"sourcesystem":"s","value":[{}],"stixobjects":[]}}"#, indicator(1)).into_bytes(), vec![400]),
            ("objects key".into(), br#"{"sourcesystem":"s","objects":[]}"#.to_vec(), vec![400]),
            ("101 objects".into(), json!({"sourcesystem": "s", "stixobjects": (0..101).map(indicator).collect::<Vec<_>>()}).to_string().into_bytes(), vec![400]),
            ("utf-16".into(), [0xFF, 0xFE, b'{', 0, b'}', 0].to_vec(), vec![400]),
            ("invalid utf-8".into(), b"{\"sourcesystem\":\"\xff\xfe\",\"stixobjects\":[]}".to_vec(), vec![400]),
            ("bom".into(), [&[0xEF, 0xBB, 0xBF][..], good.as_bytes()].concat(), vec![200]),
            ("deep nesting".into(), format!(r#"{{"sourcesystem":"s","stixobjects":[{}]}}"#, "[".repeat(100_000)).into_bytes(), vec![400]),
            ("deep object".into(), format!(r#"{{"sourcesystem":"s","stixobjects":[{}{}]}}"#, r#"{"a":"#.repeat(20_000), "1".to_owned() + &"}".repeat(20_000)).into_bytes(), vec![400]),
            ("deep record".into(), format!(r#"{{"sourcesystem":"s","stixobjects":[{}{}]}}"#, r#"{"a":"#.repeat(500), "1".to_owned() + &"}".repeat(500)).into_bytes(), vec![200]),
            ("huge number".into(), format!(r#"{{"sourcesystem":"s","stixobjects":[{{"confidence":1{}}}]}}"#, "0".repeat(100_000)).into_bytes(), vec![200]),
            ("huge string".into(), json!({"sourcesystem": "s", "stixobjects": [{"type": "x".repeat(2_000_000)}]}).to_string().into_bytes(), vec![200]),
            ("many keys".into(), {
                let mut o = serde_json::Map::new();
                for i in 0..50_000 { o.insert(format!("k{i}"), json!(i)); }
                json!({"sourcesystem": "s", "stixobjects": [o]}).to_string().into_bytes()
            }, vec![200]),
            ("nul in string".into(), br#"{"sourcesystem":"s\u0000","stixobjects":[]}"#.to_vec(), vec![400]),
            ("records not objects".into(), br#"{"sourcesystem":"s","stixobjects":[1,"x",null,[],true]}"#.to_vec(), vec![200]),
        ];
        // Per-record problems: a 200 with errors.
        for (field, value) in [
            ("id", json!("indicator--not-a-uuid")),
            (
                "id",
                json!("Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
            ),
            ("created", json!("2024-13-45T00:00:00Z")),
            ("modified", json!(12)),
            ("pattern", json!("[ipv4-addr:value = '999.1.1.1']")),
            ("pattern", json!("[")),
            ("pattern", json!("[a:b = 'c'] ".repeat(10_000))),
            ("valid_until", json!("2000-01-01T00:00:00Z")),
            ("confidence", json!(101)),
            ("type", json!("")),
            ("spec_version", json!("3.0")),
            ("object_marking_refs", json!(["x"])),
        ] {
            let mut o = indicator(7);
            o[field] = value;
            bodies.push((
                format!("record {field}"),
                json!({"sourcesystem": "s", "stixobjects": [o]})
                    .to_string()
                    .into_bytes(),
                vec![200],
            ));
        }
        for (name, body, expect) in bodies {
            let head = Self::request("POST", &path, &format!("{json_ct}{}", self.bearer()), &body);
            self.add(
                format!("upload body: {name}"),
                head.clone(),
                body.clone(),
                &expect,
            );
            if name == "stixobjects twice" || name == "empty" || name == "truncated" {
                let head = Self::request(
                    "POST",
                    &legacy,
                    &format!("{json_ct}{}", self.bearer()),
                    &body,
                );
                self.add(format!("legacy body: {name}"), head, body, &expect);
            }
        }
    }

    fn uploads_declaring_bad_sizes(&mut self) {
        let path = self.upload_path();
        let json_ct = "Content-Type: application/json\r\n";
        // Declared sizes.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{json_ct}{}Content-Length: 999999999999\r\n\r\n",
            self.bearer()
        );
        self.add("upload: a terabyte declared", head, Vec::new(), &[413]);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{json_ct}{}Content-Length: 40000000\r\nExpect: 100-continue\r\n\r\n",
            self.bearer()
        );
        self.add("upload: 40 MB with expect", head, Vec::new(), &[413]);
    }

    fn imports(&mut self) {
        let path = format!("/workspaces/{}/threat-intelligence/imports", self.ws);
        let b = "bound";
        let form = |parts: &[(&str, Option<&str>, &[u8])]| -> Vec<u8> {
            let mut out = Vec::new();
            for (name, file, data) in parts {
                let disp = match file {
                    Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
                    None => format!("form-data; name=\"{name}\""),
                };
                out.extend_from_slice(
                    format!("--{b}\r\nContent-Disposition: {disp}\r\n\r\n").as_bytes(),
                );
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{b}--\r\n").as_bytes());
            out
        };
        let csv = b"observableType,observableValue,validFrom\nipv4-addr,198.51.100.1,2024-01-01T00:00:00Z\n";
        let mp = format!(
            "Content-Type: multipart/form-data; boundary={b}\r\n{}",
            self.bearer()
        );
        let cases: Vec<(&str, Vec<u8>, &str, Vec<u16>)> = vec![
            (
                "no file",
                form(&[("source", None, b"s")]),
                mp.as_str(),
                vec![400],
            ),
            (
                "no source",
                form(&[("file", Some("a.csv"), csv)]),
                mp.as_str(),
                vec![400],
            ),
            (
                "empty source",
                form(&[("source", None, b" "), ("file", Some("a.csv"), csv)]),
                mp.as_str(),
                vec![400],
            ),
            (
                "bad format",
                form(&[
                    ("source", None, b"s"),
                    ("format", None, b"xml"),
                    ("file", Some("a.csv"), csv),
                ]),
                mp.as_str(),
                vec![400],
            ),
            (
                "bad mode",
                form(&[
                    ("source", None, b"s"),
                    ("mode", None, b"some"),
                    ("file", Some("a.csv"), csv),
                ]),
                mp.as_str(),
                vec![400],
            ),
            (
                "two files",
                form(&[
                    ("source", None, b"s"),
                    ("file", Some("a.csv"), csv),
                    ("file", Some("b.csv"), csv),
                ]),
                mp.as_str(),
                vec![400],
            ),
            (
                "source twice",
                form(&[
                    ("source", None, b"s"),
                    ("source", None, b"t"),
                    ("file", Some("a.csv"), csv),
                ]),
                mp.as_str(),
                vec![400],
            ),
            (
                "source not utf-8",
                form(&[("source", None, b"\xff\xfe"), ("file", Some("a.csv"), csv)]),
                mp.as_str(),
                vec![400],
            ),
            (
                "long field",
                form(&[
                    ("source", None, &[b'a'; 5000]),
                    ("file", Some("a.csv"), csv),
                ]),
                mp.as_str(),
                vec![400],
            ),
            (
                "traversal file name",
                form(&[
                    ("source", None, b"s"),
                    ("file", Some("../../../../etc/passwd"), csv),
                ]),
                mp.as_str(),
                vec![202],
            ),
            (
                "empty file",
                form(&[("source", None, b"s"), ("file", Some("e.csv"), b"")]),
                mp.as_str(),
                vec![202],
            ),
            (
                "binary file",
                form(&[
                    ("source", None, b"s"),
                    ("file", Some("x.json"), &[0u8, 1, 2, 0xff]),
                ]),
                mp.as_str(),
                vec![202],
            ),
            (
                "file over the limit",
                form(&[
                    ("source", None, b"s"),
                    ("file", Some("big.csv"), &vec![b'a'; 30_000]),
                ]),
                mp.as_str(),
                vec![413],
            ),
            (
                "not multipart",
                b"source=s".to_vec(),
                "Content-Type: application/x-www-form-urlencoded\r\n",
                vec![400],
            ),
            (
                "no boundary",
                form(&[("source", None, b"s")]),
                "Content-Type: multipart/form-data\r\n",
                vec![400],
            ),
            (
                "garbage",
                b"--bound\r\ngarbage".to_vec(),
                mp.as_str(),
                vec![400],
            ),
        ];
        for (name, body, headers, expect) in cases {
            let headers = if headers.contains("Authorization") {
                headers.to_owned()
            } else {
                format!("{headers}{}", self.bearer())
            };
            let head = Self::request("POST", &path, &headers, &body);
            self.add(format!("import: {name}"), head, body, &expect);
        }
        let mut many = String::new();
        for i in 0..5_000 {
            many.push_str(&format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nv\r\n"
            ));
        }
        many.push_str(&format!("--{b}--\r\n"));
        let head = Self::request("POST", &path, &mp, many.as_bytes());
        self.add("import: 5,000 fields", head, many.into_bytes(), &[400]);
        let mut endless = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\nX: "
        )
        .into_bytes();
        endless.extend(std::iter::repeat_n(b'h', 2 << 20));
        let head = Self::request("POST", &path, &mp, &endless);
        self.add("import: a part head of 2 MB", head, endless, &[400]);
        let head = Self::request(
            "POST",
            &path,
            &format!("Content-Type: multipart/form-data; boundary={b}\r\n"),
            &form(&[("source", None, b"s")]),
        );
        self.add(
            "import: no token",
            head,
            form(&[("source", None, b"s")]),
            &[401],
        );
    }

    fn queries(&mut self) {
        let base = format!("/workspaces/{}/threat-intelligence", self.ws);
        let bearer = self.bearer();
        let obj = indicator(1)["id"].as_str().unwrap().to_owned();
        let cases: Vec<(String, Vec<u16>)> = vec![
            (format!("{base}/objects?limit=0"), vec![400]),
            (format!("{base}/objects?limit=-1"), vec![400]),
            (format!("{base}/objects?limit=1001"), vec![400]),
            (format!("{base}/objects?limit=abc"), vec![400]),
            (
                format!("{base}/objects?limit=99999999999999999999999"),
                vec![400],
            ),
            (format!("{base}/objects?cursor=%00%01"), vec![400]),
            (
                format!("{base}/objects?cursor={}", "A".repeat(10_000)),
                vec![400],
            ),
            (format!("{base}/objects?valid_at=yesterday"), vec![400]),
            (format!("{base}/objects?revoked=maybe"), vec![400]),
            (format!("{base}/objects?original=perhaps"), vec![400]),
            (format!("{base}/objects?type=%27%20OR%201%3D1"), vec![200]),
            (format!("{base}/objects?source=%00"), vec![200]),
            (format!("{base}/objects?observable=0.0.0.0%2F0"), vec![200]),
            (format!("{base}/objects?observable=%3A%3A%2F0"), vec![200]),
            (
                format!("{base}/objects?observable={}", "x".repeat(10_000)),
                vec![200],
            ),
            (
                format!("{base}/objects?label={}", "%FF".repeat(100)),
                vec![200, 400],
            ),
            (format!("{base}/objects/not-an-id"), vec![400]),
            (
                format!("{base}/objects/indicator--00000000-0000-4000-8000-000000000000"),
                vec![404],
            ),
            (
                format!("{base}/objects/indicator--00000000-0000-4000-8000-000000000000/versions"),
                vec![404],
            ),
            (
                format!("{base}/objects/{obj}?original=true"),
                vec![200, 404],
            ),
            (
                format!("{base}/objects/..%2F..%2Fetc%2Fpasswd"),
                vec![400, 404],
            ),
            (format!("{base}/imports?sort=evil"), vec![400]),
            (format!("{base}/imports?order=sideways"), vec![400]),
            (format!("{base}/imports?limit=0"), vec![400]),
            (format!("{base}/imports?cursor=bm9wZQ"), vec![400]),
            (format!("{base}/imports/not-a-uuid"), vec![404]),
            (
                format!("{base}/imports/00000000-0000-4000-8000-000000000000"),
                vec![404],
            ),
            (
                format!("{base}/imports/00000000-0000-4000-8000-000000000000/errors?preview=x"),
                vec![400, 404],
            ),
            (
                "/workspaces/00000000-0000-4000-8000-000000000000/threat-intelligence/objects"
                    .into(),
                vec![404],
            ),
            ("/templates/../../etc/passwd".into(), vec![404]),
            ("/templates/csv-evil".into(), vec![404]),
            (
                "/not-a-tenant/v2.0/.well-known/openid-configuration".into(),
                vec![404],
            ),
            ("/not-a-tenant/discovery/v2.0/keys".into(), vec![404]),
            ("/no/such/route".into(), vec![404]),
            (format!("/{}", "x".repeat(60_000)), vec![404, 414, 431, 0]),
        ];
        for (path, expect) in cases {
            let head = Self::request("GET", &path, &bearer, b"");
            self.add(
                format!("query {}", &path[..path.len().min(80)]),
                head,
                Vec::new(),
                &expect,
            );
        }
        for m in [
            "DELETE", "PUT", "PATCH", "OPTIONS", "TRACE", "BREW", "M0001",
        ] {
            let head = Self::request(m, &self.upload_path(), &bearer, b"");
            self.add(
                format!("method {m} on upload"),
                head,
                Vec::new(),
                &[400, 405],
            );
        }
    }

    fn framing(&mut self) {
        let up = self.upload_path();
        let bearer = self.bearer();
        let raw_cases: Vec<(&str, String, Vec<u8>, Vec<u16>)> = vec![
            ("no request line", "\r\n\r\n".into(), Vec::new(), vec![400, 408, 0]),
            ("garbage line", "GARBAGE\r\n\r\n".into(), Vec::new(), vec![400, 0]),
            ("http/0.9", "GET /healthz\r\n\r\n".into(), Vec::new(), vec![400, 505, 0]),
            ("http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".into(), Vec::new(), vec![400, 505, 0]),
            ("http/1.0", "GET /healthz HTTP/1.0\r\n\r\n".into(), Vec::new(), vec![200]),
            ("version 9.9", "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".into(), Vec::new(), vec![400, 505, 0]),
            ("no host", "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n".into(), Vec::new(), vec![200, 400]),
            ("header without colon", "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n".into(), Vec::new(), vec![400, 0]),
            ("header of 100 KB", format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(100_000)), Vec::new(), vec![431, 400, 0]),
            ("1,000 headers", format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n", "X: y\r\n".repeat(1_000)), Vec::new(), vec![431, 400, 0]),
            ("nul in path", "GET /heal\0thz HTTP/1.1\r\nHost: x\r\n\r\n".into(), Vec::new(), vec![400, 0]),
            ("absolute form", "GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(), Vec::new(), vec![200, 400]),
            ("two lengths", format!("POST {up} HTTP/1.1\r\nHost: x\r\n{bearer}Content-Length: 5\r\nContent-Length: 50\r\n\r\n"), b"hello".to_vec(), vec![400, 0]),
            ("length and chunked", format!("POST {up} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{bearer}Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), b"0\r\n\r\n".to_vec(), vec![400, 0]),
            ("bad chunk size", format!("POST {up} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{bearer}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"), b"zz\r\nhello\r\n0\r\n\r\n".to_vec(), vec![400, 0]),
            ("chunk size overflow", format!("POST {up} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{bearer}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"), b"ffffffffffffffffffff\r\n".to_vec(), vec![400, 413, 0]),
            ("transfer-encoding gzip", format!("POST {up} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{bearer}Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n"), b"x".to_vec(), vec![400, 501, 0]),
            ("negative length", format!("POST {up} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{bearer}Content-Length: -1\r\n\r\n"), Vec::new(), vec![400, 0]),
            ("body shorter than declared", format!("POST {up} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{bearer}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"), b"{}".to_vec(), vec![400, 408, 0]),
        ];
        for (name, head, body, expect) in raw_cases {
            self.add(format!("framing: {name}"), head, body, &expect);
        }
    }
}

/// Sends one case; its status, or 0 if the service closed the connection without answering.
fn send(addr: &str, c: &Case) -> u16 {
    match raw_streamed(addr, c.head.clone(), c.body.clone()) {
        Ok(Raw { status, .. }) => status,
        Err(_) => 0,
    }
}

fn rss_mb(s: &Service) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        / 1024
}

#[test]
fn hundreds_of_hostile_requests_get_their_answers_and_the_service_stays_healthy() {
    // Low file limits, so that "too large" is reachable with small requests; a short header
    // timeout, so that a request that never completes its head is given up on soon.
    let s = Service::start(&[
        "--max-csv-bytes",
        "20000",
        "--max-json-bytes",
        "20000",
        "--header-timeout",
        "3s",
    ]);
    let a = addr(&s);
    let token = s.token();
    let mut g = Gen {
        tenant: s.cred("tenant_id"),
        ws: s.cred("workspace_id"),
        token,
        cases: Vec::new(),
    };
    g.tokens();
    g.uploads();
    g.imports();
    g.queries();
    g.framing();
    let cases = g.cases;
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    const RSS_BOUND_MB: u64 = 600;
    let mut wrong = Vec::new();
    let mut peak = 0;
    for (i, c) in cases.iter().enumerate() {
        let started = Instant::now();
        let status = send(&a, c);
        if !c.expect.contains(&status) {
            wrong.push(format!(
                "{}: got {status}, expected one of {:?}",
                c.name, c.expect
            ));
        }
        assert!(status < 500, "{}: {status}", c.name);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}: answered after {:?}",
            c.name,
            started.elapsed()
        );
        assert!(
            healthz_within(&a, Duration::from_secs(2)),
            "/healthz did not answer within 2 s after case {i} ({})",
            c.name
        );
        let rss = rss_mb(&s);
        peak = peak.max(rss);
        assert!(
            rss < RSS_BOUND_MB,
            "RSS {rss} MB after case {i} ({})",
            c.name
        );
    }
    eprintln!("{} hostile cases; peak RSS {peak} MB", cases.len());
    assert!(
        wrong.is_empty(),
        "{} unexpected answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The service still does its work.
    let (status, answer) = s.upload(
        &s.token(),
        &json!({"sourcesystem": "after", "stixobjects": [indicator(99)]}),
    );
    assert_eq!((status, answer.as_str()), (200, ""));
    // And the slow clients of the attack, against a low connection cap, do not keep a normal
    // client out (also `hardening::slow_and_silent_connections_do_not_keep_other_clients_out`).
    drop(s);
    let s = Service::start(&["--max-connections", "40"]);
    let held = slow_clients(&addr(&s), &s.cred("tenant_id"), 100);
    assert!(held.len() > 40);
    assert!(healthz_within(&addr(&s), Duration::from_secs(2)));
    let (status, _) = s.upload(
        &s.token(),
        &json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}),
    );
    assert_eq!(status, 200);
}
