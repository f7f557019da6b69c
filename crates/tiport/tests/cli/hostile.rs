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
const SCOPE: &str = "scope=https%3A%2F%2Fmanagement.azure.com%2F.default";
const FORM_CT: &str = "Content-Type: application/x-www-form-urlencoded\r\n";
const JSON_CT: &str = "Content-Type: application/json\r\n";

/// An upload the service takes: what the cases spoil one way at a time.
fn good_upload() -> String {
    json!({"sourcesystem": "hostile", "stixobjects": [indicator(1)]}).to_string()
}

/// Token request forms, each with the statuses it may get.
fn token_forms() -> Vec<(String, String, Vec<u16>)> {
    let mut forms: Vec<(String, String, Vec<u16>)> = vec![
        (
            "no grant".into(),
            format!("client_id=a&client_secret=b&{SCOPE}"),
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
            format!("grant_type=client_credentials&client_id=a&{SCOPE}"),
            vec![401],
        ),
        (
            "bad percent".into(),
            "grant_type=%ZZ&client_id=%".into(),
            vec![400],
        ),
        (
            "nul bytes".into(),
            format!("grant_type=client_credentials%00&client_id=a%00&client_secret=b&{SCOPE}"),
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
            format!("grant_type={grant}&client_id=a&client_secret=b&{SCOPE}"),
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
            format!("grant_type=client_credentials&client_id=a&client_secret=b&scope={bad_scope}"),
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
            format!("grant_type=client_credentials&client_id={id}&client_secret=wrong&{SCOPE}"),
            expect,
        ));
    }
    forms
}

/// A part of a multipart form: its name, the file name when it is the file, its content.
type Part = (&'static str, Option<&'static str>, &'static [u8]);

/// A text field of a form.
const fn field(name: &'static str, value: &'static [u8]) -> Part {
    (name, None, value)
}

/// The file of a form, named `name`.
const fn file(name: &'static str, data: &'static [u8]) -> Part {
    ("file", Some(name), data)
}

const BOUNDARY: &str = "bound";
const IMPORT_CSV: &[u8] =
    b"observableType,observableValue,validFrom\nipv4-addr,198.51.100.1,2024-01-01T00:00:00Z\n";
const SOURCE: Part = field("source", b"s");
const FILE: Part = file("a.csv", IMPORT_CSV);

/// Forms posted to the imports route with a good token, each with the status it must get.
const IMPORT_FORMS: &[(&str, &[Part], u16)] = &[
    ("no file", &[SOURCE], 400),
    ("no source", &[FILE], 400),
    ("empty source", &[field("source", b" "), FILE], 400),
    ("bad format", &[SOURCE, field("format", b"xml"), FILE], 400),
    ("bad mode", &[SOURCE, field("mode", b"some"), FILE], 400),
    ("two files", &[SOURCE, FILE, file("b.csv", IMPORT_CSV)], 400),
    ("source twice", &[SOURCE, field("source", b"t"), FILE], 400),
    (
        "source not utf-8",
        &[field("source", b"\xff\xfe"), FILE],
        400,
    ),
    ("long field", &[field("source", &[b'a'; 5000]), FILE], 400),
    (
        "traversal file name",
        &[SOURCE, file("../../../../etc/passwd", IMPORT_CSV)],
        202,
    ),
    ("empty file", &[SOURCE, file("e.csv", b"")], 202),
    (
        "binary file",
        &[SOURCE, file("x.json", &[0, 1, 2, 0xff])],
        202,
    ),
    (
        "file over the limit",
        &[SOURCE, file("big.csv", &[b'a'; 30_000])],
        413,
    ),
];

/// A multipart body of `parts`, with [`BOUNDARY`].
fn form(parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, data) in parts {
        let disp = match file {
            Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: {disp}\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// A multipart body of `n` text fields, each holding `v`.
fn many_fields(n: usize) -> Vec<u8> {
    let mut many = String::new();
    for i in 0..n {
        many.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nv\r\n"
        ));
    }
    many.push_str(&format!("--{BOUNDARY}--\r\n"));
    many.into_bytes()
}

/// A multipart body whose one part's head goes on for `len` bytes and never ends.
fn endless_head(len: usize) -> Vec<u8> {
    let mut endless = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\nX: "
    )
    .into_bytes();
    endless.extend(std::iter::repeat_n(b'h', len));
    endless
}

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

    /// A case of `method path` with `headers` and `body`, framed by [`Gen::request`].
    fn add_request(
        &mut self,
        name: impl Into<String>,
        (method, path): (&str, &str),
        headers: &str,
        body: impl Into<Vec<u8>>,
        expect: &[u16],
    ) {
        let body = body.into();
        let head = Self::request(method, path, headers, &body);
        self.add(name, head, body, expect);
    }

    /// A case posting the good upload to `path` with `headers`.
    fn add_upload(&mut self, name: String, path: &str, headers: &str, expect: &[u16]) {
        self.add_request(name, ("POST", path), headers, good_upload(), expect);
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

    /// The headers of an upload with the good token: JSON, then the token.
    fn json_with_bearer(&self) -> String {
        format!("{JSON_CT}{}", self.bearer())
    }

    fn tokens(&mut self) {
        let path = format!("/{}/oauth2/v2.0/token", self.tenant);
        let post = ("POST", path.as_str());
        for (name, body, expect) in token_forms() {
            let name = format!("token: {name}");
            self.add_request(name, post, FORM_CT, body, &expect);
        }
        let ok_form = format!("grant_type=client_credentials&client_id=a&client_secret=b&{SCOPE}");
        for ct in [
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=x",
        ] {
            let name = format!("token: content type {ct}");
            let headers = format!("Content-Type: {ct}\r\n");
            self.add_request(name, post, &headers, ok_form.as_str(), &[415]);
        }
        let name = "token: no content type";
        self.add_request(name, post, "", ok_form.as_str(), &[415]);
        let big = "a=".to_owned() + &"b".repeat(200_000);
        self.add_request("token: 200 KB form", post, FORM_CT, big, &[413]);
        let other = ("POST", "/not-our-tenant/oauth2/v2.0/token");
        let name = "token: other tenant";
        self.add_request(name, other, FORM_CT, ok_form, &[400]);
        for m in ["GET", "PUT", "DELETE"] {
            self.add_request(format!("token: {m}"), (m, &path), "", Vec::new(), &[405]);
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
        let good = good_upload();
        let path = self.upload_path();
        // Tokens: every bad one, on the current and the legacy route and a query.
        let legacy = format!("/{}/{LEGACY}", self.ws);
        let query = format!("/workspaces/{}/threat-intelligence/objects", self.ws);
        for (name, token) in self.bad_tokens() {
            for (route, method, body) in [
                (&path, "POST", good.as_bytes()),
                (&legacy, "POST", good.as_bytes()),
                (&query, "GET", &b""[..]),
            ] {
                let headers = format!("{JSON_CT}Authorization: Bearer {token}\r\n");
                let name = format!("token {name} on {route}");
                self.add_request(name, (method, route), &headers, body, &[401]);
            }
        }
        for auth in [
            "",
            "Authorization: Basic YTpi\r\n",
            "Authorization: Bearer\r\n",
            "Authorization: bearer  \r\n",
        ] {
            let name = format!("upload: authorization {auth:?}");
            self.add_upload(name, &path, &format!("{JSON_CT}{auth}"), &[401]);
        }
    }

    fn uploads_with_bad_queries_and_types(&mut self) {
        let path = self.upload_path();
        let headers = self.json_with_bearer();
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
            self.add_upload(format!("upload: query {q:?}"), &p, &headers, &[400]);
        }
        for ct in [
            "text/plain",
            "application/xml",
            "multipart/form-data",
            "application/x-www-form-urlencoded",
        ] {
            let name = format!("upload: content type {ct}");
            let headers = format!("Content-Type: {ct}\r\n{}", self.bearer());
            self.add_upload(name, &path, &headers, &[415]);
        }
    }

    fn uploads_to_other_workspaces(&mut self) {
        let headers = self.json_with_bearer();
        // Workspaces that are not the caller's.
        for ws in [
            "00000000-0000-4000-8000-000000000000".to_owned(),
            "not-a-uuid".into(),
            "..%2F..%2Fetc".into(),
            "x".repeat(2_000),
            self.ws.to_uppercase(),
        ] {
            let p = format!("/workspaces/{ws}/{UPLOAD}");
            let expect: &[u16] = if ws == self.ws.to_uppercase() {
                &[200, 404]
            } else {
                &[404]
            };
            let name = format!("upload: workspace {}", &ws[..ws.len().min(30)]);
            self.add_upload(name, &p, &headers, expect);
        }
    }

    fn uploads_with_bad_bodies(&mut self) {
        let good = good_upload();
        let path = self.upload_path();
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
        let headers = self.json_with_bearer();
        for (name, body, expect) in bodies {
            let upload = format!("upload body: {name}");
            self.add_request(upload, ("POST", &path), &headers, body.clone(), &expect);
            if name == "stixobjects twice" || name == "empty" || name == "truncated" {
                let legacy_name = format!("legacy body: {name}");
                self.add_request(legacy_name, ("POST", &legacy), &headers, body, &expect);
            }
        }
    }

    fn uploads_declaring_bad_sizes(&mut self) {
        let path = self.upload_path();
        // Declared sizes.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{JSON_CT}{}Content-Length: 999999999999\r\n\r\n",
            self.bearer()
        );
        self.add("upload: a terabyte declared", head, Vec::new(), &[413]);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{JSON_CT}{}Content-Length: 40000000\r\nExpect: 100-continue\r\n\r\n",
            self.bearer()
        );
        self.add("upload: 40 MB with expect", head, Vec::new(), &[413]);
    }

    fn imports(&mut self) {
        let path = format!("/workspaces/{}/threat-intelligence/imports", self.ws);
        let bearer = self.bearer();
        let multipart = format!("Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n");
        let with_token = format!("{multipart}{bearer}");
        let urlencoded = format!("{FORM_CT}{bearer}");
        let no_boundary = format!("Content-Type: multipart/form-data\r\n{bearer}");
        let mut cases: Vec<(&str, &str, Vec<u8>, u16)> = IMPORT_FORMS
            .iter()
            .map(|&(name, parts, expect)| (name, with_token.as_str(), form(parts), expect))
            .collect();
        let others: [(&str, &str, Vec<u8>, u16); 6] = [
            ("not multipart", &urlencoded, b"source=s".to_vec(), 400),
            ("no boundary", &no_boundary, form(&[SOURCE]), 400),
            ("garbage", &with_token, b"--bound\r\ngarbage".to_vec(), 400),
            ("5,000 fields", &with_token, many_fields(5_000), 400),
            (
                "a part head of 2 MB",
                &with_token,
                endless_head(2 << 20),
                400,
            ),
            ("no token", &multipart, form(&[SOURCE]), 401),
        ];
        cases.extend(others);
        for (name, headers, body, expect) in cases {
            let name = format!("import: {name}");
            self.add_request(name, ("POST", &path), headers, body, &[expect]);
        }
    }

    fn queries(&mut self) {
        let objects = format!("/workspaces/{}/threat-intelligence/objects", self.ws);
        let imports = format!("/workspaces/{}/threat-intelligence/imports", self.ws);
        let bearer = self.bearer();
        let obj = indicator(1)["id"].as_str().unwrap().to_owned();
        // An id no object or import has.
        const NONE: &str = "00000000-0000-4000-8000-000000000000";
        let cases: Vec<(String, Vec<u16>)> = vec![
            (format!("{objects}?limit=0"), vec![400]),
            (format!("{objects}?limit=-1"), vec![400]),
            (format!("{objects}?limit=1001"), vec![400]),
            (format!("{objects}?limit=abc"), vec![400]),
            (
                format!("{objects}?limit=99999999999999999999999"),
                vec![400],
            ),
            (format!("{objects}?cursor=%00%01"), vec![400]),
            (
                format!("{objects}?cursor={}", "A".repeat(10_000)),
                vec![400],
            ),
            (format!("{objects}?valid_at=yesterday"), vec![400]),
            (format!("{objects}?revoked=maybe"), vec![400]),
            (format!("{objects}?original=perhaps"), vec![400]),
            (format!("{objects}?type=%27%20OR%201%3D1"), vec![200]),
            (format!("{objects}?source=%00"), vec![200]),
            (format!("{objects}?observable=0.0.0.0%2F0"), vec![200]),
            (format!("{objects}?observable=%3A%3A%2F0"), vec![200]),
            (
                format!("{objects}?observable={}", "x".repeat(10_000)),
                vec![200],
            ),
            (
                format!("{objects}?label={}", "%FF".repeat(100)),
                vec![200, 400],
            ),
            (format!("{objects}/not-an-id"), vec![400]),
            (format!("{objects}/indicator--{NONE}"), vec![404]),
            (format!("{objects}/indicator--{NONE}/versions"), vec![404]),
            (format!("{objects}/{obj}?original=true"), vec![200, 404]),
            (format!("{objects}/..%2F..%2Fetc%2Fpasswd"), vec![400, 404]),
            (format!("{imports}?sort=evil"), vec![400]),
            (format!("{imports}?order=sideways"), vec![400]),
            (format!("{imports}?limit=0"), vec![400]),
            (format!("{imports}?cursor=bm9wZQ"), vec![400]),
            (format!("{imports}/not-a-uuid"), vec![404]),
            (format!("{imports}/{NONE}"), vec![404]),
            (format!("{imports}/{NONE}/errors?preview=x"), vec![400, 404]),
            (
                format!("/workspaces/{NONE}/threat-intelligence/objects"),
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
            let name = format!("query {}", &path[..path.len().min(80)]);
            self.add_request(name, ("GET", &path), &bearer, Vec::new(), &expect);
        }
        let upload = self.upload_path();
        for m in [
            "DELETE", "PUT", "PATCH", "OPTIONS", "TRACE", "BREW", "M0001",
        ] {
            let name = format!("method {m} on upload");
            self.add_request(name, (m, &upload), &bearer, Vec::new(), &[400, 405]);
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
