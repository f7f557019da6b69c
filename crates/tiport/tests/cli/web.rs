//! The web UI over HTTP, as a browser drives it: sign-in with its CSRF cookie, the session
//! cookie and what a page answers with it, sign-out that really ends the session, users made
//! with `tiport user create`, and every value shown as text.

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;

use crate::helpers::tiport;
use crate::service::Service;

/// A browser's part: cookies kept by name, redirects not followed (the tests look at them).
struct Visitor<'s> {
    s: &'s Service,
    agent: ureq::Agent,
    cookies: HashMap<String, String>,
}

/// An answer as the tests read it.
struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }

    /// The `Set-Cookie` header for cookie `name`, whole.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of the hidden `csrf` field of the page's first form.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body));
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl<'s> Visitor<'s> {
    fn new(s: &'s Service) -> Visitor<'s> {
        Visitor {
            s,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .build()
                .into(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &ureq::http::HeaderMap) {
        for v in headers.get_all("set-cookie").iter() {
            let v = v.to_str().unwrap();
            let (pair, attributes) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn answer(&mut self, r: ureq::http::Response<ureq::Body>) -> Answer {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        self.keep_cookies(&headers);
        let body = r.into_body().read_to_string().unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }

    fn get(&mut self, path: &str) -> Answer {
        let r = self
            .agent
            .get(format!("{}{path}", self.s.base))
            .header("Cookie", &self.cookie_header())
            .call()
            .unwrap();
        self.answer(r)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let r = self
            .agent
            .post(format!("{}{path}", self.s.base))
            .header("Cookie", &self.cookie_header())
            .send_form(form.iter().copied())
            .unwrap();
        self.answer(r)
    }

    /// Signs in through the form, as a person would; the answer to the form.
    fn sign_in(&mut self, name: &str, password: &str) -> Answer {
        let form = self.get("/login");
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        self.post(
            "/login",
            &[("csrf", &csrf), ("username", name), ("password", password)],
        )
    }
}

#[test]
fn sign_in_opens_a_session_and_sign_out_really_ends_it() {
    let s = Service::start(&[]);
    let mut v = Visitor::new(&s);
    // Not signed in: every page leads to the sign-in form.
    let anonymous = v.get("/");
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.header("location"), "/login");

    let wrong = v.sign_in("admin", "not the password");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Unknown user name or wrong password."));
    assert!(!v.cookies.contains_key("tiport_session"));

    let signed_in = v.sign_in("admin", &s.cred("password"));
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.header("location"), "/");
    let cookie = signed_in.set_cookie("tiport_session").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "not over plain HTTP: {cookie}");

    let overview = v.get("/");
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("<h1>Overview of default</h1>"));
    assert!(overview.body.contains(">admin</span>"));
    let csp = overview.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(overview.header("x-frame-options"), "DENY");
    assert_eq!(overview.header("cache-control"), "no-store");

    // Sign-out is a form of the session: without its token it is refused.
    let kept = v.cookies.clone();
    let forged = v.post("/logout", &[("csrf", "forged")]);
    assert_eq!(forged.status, 403);
    assert_eq!(v.get("/").status, 200, "still signed in");
    let csrf = v.get("/").csrf();
    let out = v.post("/logout", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), "/login");
    assert!(!v.cookies.contains_key("tiport_session"));
    // The old cookie, replayed, opens nothing: the session is gone from the store.
    v.cookies = kept;
    let replayed = v.get("/");
    assert_eq!(replayed.status, 303);
    assert_eq!(replayed.header("location"), "/login");
}

#[test]
fn a_sign_in_form_not_from_this_browser_is_refused() {
    let s = Service::start(&[]);
    let mut v = Visitor::new(&s);
    // No sign-in cookie (a form posted from another site, or a stale one), then a token that is
    // not the cookie's: refused, and no session, even with the right password.
    for (visit_first, csrf) in [(false, "anything"), (true, "not-the-cookies")] {
        if visit_first {
            v.get("/login");
        }
        let r = v.post(
            "/login",
            &[
                ("csrf", csrf),
                ("username", "admin"),
                ("password", &s.cred("password")),
            ],
        );
        assert_eq!(r.status, 403, "{csrf}");
        assert!(r.set_cookie("tiport_session").is_none(), "{csrf}");
    }
}

#[test]
fn failed_sign_ins_are_throttled_and_logged() {
    let s = Service::start(&[]);
    let mut v = Visitor::new(&s);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(v.sign_in("admin", "guess").status);
    }
    let limited = statuses.iter().position(|&c| c == 429);
    assert!(
        matches!(limited, Some(n) if n > 0 && statuses[..n].iter().all(|&c| c == 401)),
        "{statuses:?}"
    );
    let refused = v.sign_in("admin", "guess");
    assert_eq!(refused.status, 429);
    assert!(refused.header("retry-after").parse::<u64>().unwrap() > 0);
    assert!(refused.body.contains("Too many failed sign-ins"));
    let log = s.log();
    assert!(
        log.contains("sign-in refused: unknown user or wrong password"),
        "{log}"
    );
    assert!(!log.contains("guess"), "a password is never logged");
}

/// `tiport ARGS… --data-dir DIR` beside the running service, which must succeed.
fn cli(s: &Service, args: &[&str]) -> std::process::Output {
    let out = tiport()
        .args(args)
        .args(["--data-dir", &s.data_dir()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `tiport user create` with the password on standard input; its output.
fn create_user(s: &Service, name: &str, role: &str, password: &str) -> std::process::Output {
    let mut child = tiport()
        .args(["user", "create", "--name", name, "--role", role])
        .args([
            "--workspace",
            &s.cred("workspace_id"),
            "--data-dir",
            &s.data_dir(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn users_made_with_the_cli_sign_in_and_see_their_role() {
    let s = Service::start(&[]);
    let short = create_user(&s, "rita", "reader", "too short");
    assert_eq!(short.status.code(), Some(2));
    let said = String::from_utf8_lossy(&short.stderr);
    assert!(said.contains("it needs at least 12"), "{said}");

    let made = create_user(&s, "rita", "reader", "a long enough passphrase");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(printed["username"], "rita");
    assert_eq!(printed["role"], "reader");

    let mut v = Visitor::new(&s);
    assert_eq!(v.sign_in("rita", "a long enough passphrase").status, 303);
    let overview = v.get("/");
    assert_eq!(overview.status, 200);
    assert!(
        overview.body.contains("default (reader)"),
        "{}",
        overview.body
    );
    // A client's secret does not sign in to the web UI: clients are not users.
    let mut c = Visitor::new(&s);
    assert_eq!(
        c.sign_in(&s.cred("client_id"), &s.cred("client_secret"))
            .status,
        401
    );
}

#[test]
fn names_are_shown_as_text_never_as_markup() {
    let s = Service::start(&[]);
    let payload = "<script>window.__xss=1</script>\"><img src=x onerror=alert(1)>";
    let ws = cli(&s, &["workspace", "create", "--name", payload]);
    let ws: serde_json::Value = serde_json::from_slice(&ws.stdout).unwrap();
    let id = ws["id"].as_str().unwrap();
    let granted = cli(
        &s,
        &[
            "role",
            "grant",
            "--principal",
            "admin",
            "--role",
            "reader",
            "--workspace",
            id,
        ],
    );
    assert!(granted.status.success());
    let mut v = Visitor::new(&s);
    v.sign_in("admin", &s.cred("password"));
    let page = v.get("/");
    assert!(!page.body.contains("<script>window"), "{}", page.body);
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    assert!(
        page.body
            .contains("&#60;script&#62;window.__xss=1&#60;/script&#62;&#34;&#62;&#60;img src=x onerror=alert(1)&#62;"),
        "{}",
        page.body
    );
}

#[test]
fn assets_are_served_under_names_of_their_content() {
    let s = Service::start(&[]);
    let mut v = Visitor::new(&s);
    let page = v.get("/login");
    for (ext, kind) in [("css", "text/css"), ("js", "text/javascript")] {
        let at = page.body.find(&format!(".{ext}\"")).unwrap();
        let start = page.body[..at].rfind("/static/").unwrap();
        let path = &page.body[start..at + 1 + ext.len()];
        let asset = v.get(path);
        assert_eq!(asset.status, 200, "{path}");
        assert!(asset.header("content-type").starts_with(kind), "{path}");
        assert!(
            asset.header("cache-control").contains("immutable"),
            "{path}"
        );
        assert!(!asset.body.is_empty());
    }
    assert_eq!(v.get("/static/app.0000000000000000.css").status, 404);
}

#[test]
fn another_workspaces_imports_and_objects_are_not_found() {
    let s = Service::start(&[]);
    let other = cli(&s, &["workspace", "create", "--name", "other"]);
    let other: serde_json::Value = serde_json::from_slice(&other.stdout).unwrap();
    let other = other["id"].as_str().unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let imported = tiport()
        .arg("import")
        .arg(examples.join("with-errors.csv"))
        .args([
            "--workspace",
            other,
            "--source",
            "theirs",
            "--data-dir",
            &s.data_dir(),
        ])
        .output()
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&imported.stdout).unwrap();
    let import = record["id"].as_str().unwrap();
    let exported = cli(&s, &["export", "--workspace", other]);
    let bundle: serde_json::Value = serde_json::from_slice(&exported.stdout).unwrap();
    let object = bundle["objects"][0]["id"].as_str().unwrap();

    let mut v = Visitor::new(&s);
    v.sign_in("admin", &s.cred("password"));
    for path in [
        format!("/imports/{import}"),
        format!("/imports/{import}/errors"),
        format!("/intel/{object}"),
    ] {
        let r = v.get(&path);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(!r.body.contains("theirs"), "{path}");
    }
    // Not even the switcher opens it: the user has no role there.
    let csrf = v.get("/").csrf();
    let r = v.post("/workspace", &[("csrf", &csrf), ("workspace", other)]);
    assert_eq!(r.status, 404);
}

#[test]
fn a_reader_sees_the_import_form_disabled_and_cannot_post_it() {
    let s = Service::start(&[]);
    assert!(
        create_user(&s, "rita", "reader", "a long enough passphrase")
            .status
            .success()
    );
    let mut v = Visitor::new(&s);
    assert_eq!(v.sign_in("rita", "a long enough passphrase").status, 303);
    let form = v.get("/imports/new");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Your role on this workspace is reader"));
    assert!(form
        .body
        .contains("<button type=\"submit\" disabled>Import</button>"));
    let csrf = form.csrf();
    let (content_type, body) = crate::service::form(
        &[("source", "rita")],
        "a.csv",
        b"observableType,observableValue\n",
    );
    let r = v
        .agent
        .post(format!("{}/imports/new?csrf={csrf}", s.base))
        .header("Cookie", &v.cookie_header())
        .header("Content-Type", &content_type)
        .send(&body[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let listed = v.get("/imports");
    assert!(listed.body.contains("No imports yet"), "{}", listed.body);
}

#[test]
fn a_reader_cannot_add_or_revoke() {
    let (s, token) = Service::start_with_token(&[]);
    let indicator = crate::service::indicator(1);
    let (status, _) = s.upload(
        &token,
        &serde_json::json!({"sourcesystem": "feed", "stixobjects": [indicator.clone()]}),
    );
    assert_eq!(status, 200);
    let id = indicator["id"].as_str().unwrap();
    assert!(
        create_user(&s, "rita", "reader", "a long enough passphrase")
            .status
            .success()
    );
    let mut v = Visitor::new(&s);
    v.sign_in("rita", "a long enough passphrase");
    let list = v.get("/intel");
    assert!(
        list.body.contains("<button type=\"button\" disabled"),
        "{}",
        list.body
    );
    assert!(!list.body.contains("href=\"/intel/new\""));
    let page = v.get(&format!("/intel/{id}"));
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains("<button type=\"submit\" disabled>Revoke</button>"));
    let csrf = page.csrf();
    let added = v.post(
        "/intel/new",
        &[
            ("csrf", &csrf),
            ("source", "rita"),
            ("observableType", "domain-name"),
            ("observableValue", "x.example"),
        ],
    );
    assert_eq!(added.status, 403);
    let revoked = v.post(&format!("/intel/{id}/revoke"), &[("csrf", &csrf)]);
    assert_eq!(revoked.status, 403);
    // Nothing changed.
    let object = s.get_json(
        &format!(
            "/workspaces/{}/threat-intelligence/objects/{id}",
            s.cred("workspace_id")
        ),
        &token,
    );
    assert!(object.get("revoked").is_none() || object["revoked"] == false);
    let (_, all) = s.get(
        &format!(
            "/workspaces/{}/threat-intelligence/objects",
            s.cred("workspace_id")
        ),
        Some(&token),
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&all).unwrap()["objects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn over_tls_the_cookies_are_secure() {
    let tls = crate::service::Tls::new();
    let s = Service::start(&tls.flags());
    assert!(s.base.starts_with("https://"), "{}", s.base);
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-s", "-D", "-", "--cacert"])
            .arg(&tls.cert)
            .args(["-b"])
            .arg(&jar)
            .args(["-c"])
            .arg(&jar)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let form = curl(&[&format!("{}/login", s.base)]);
    let signin_cookie = form
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: tiport_signin=")
        })
        .unwrap_or_else(|| panic!("{form}"));
    assert!(signin_cookie.contains("; Secure"), "{signin_cookie}");
    let at = form.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = &form[at..at + form[at..].find('"').unwrap()];
    let answer = curl(&[
        "--data-urlencode",
        &format!("csrf={csrf}"),
        "--data-urlencode",
        "username=admin",
        "--data-urlencode",
        &format!("password={}", s.cred("password")),
        &format!("{}/login", s.base),
    ]);
    let session_cookie = answer
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: tiport_session=")
        })
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(session_cookie.contains("; Secure"), "{session_cookie}");
    assert!(session_cookie.contains("HttpOnly"), "{session_cookie}");
}

#[test]
fn threat_intelligence_filters_by_tlp_and_validity() {
    let (s, token) = Service::start_with_token(&[]);
    let mut objects: Vec<serde_json::Value> = (1..=4).map(crate::service::indicator).collect();
    // 1 amber; 2 expired; 3 revoked; 4 plain and valid.
    objects[0]["object_marking_refs"] =
        serde_json::json!(["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]);
    objects[1]["valid_until"] = serde_json::json!("2024-06-01T00:00:00Z");
    objects[2]["revoked"] = serde_json::json!(true);
    for (i, o) in objects.iter_mut().enumerate() {
        o["name"] = serde_json::json!(format!("object {}", i + 1));
    }
    let (status, body) = s.upload(
        &token,
        &serde_json::json!({"sourcesystem": "feed", "stixobjects": objects}),
    );
    assert_eq!(status, 200, "{body}");
    let mut v = Visitor::new(&s);
    v.sign_in("admin", &s.cred("password"));
    let names = |v: &mut Visitor, query: &str| -> Vec<String> {
        let page = v.get(&format!("/intel?{query}"));
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        let mut found: Vec<String> = (1..=4)
            .map(|n| format!("object {n}"))
            .filter(|name| page.body.contains(&format!(">{name}</a>")))
            .collect();
        found.sort();
        found
    };
    assert_eq!(
        names(&mut v, ""),
        ["object 1", "object 2", "object 3", "object 4"]
    );
    assert_eq!(names(&mut v, "tlp=amber"), ["object 1"]);
    assert_eq!(names(&mut v, "validity=expired"), ["object 2"]);
    assert_eq!(names(&mut v, "validity=revoked"), ["object 3"]);
    assert_eq!(names(&mut v, "validity=valid"), ["object 1", "object 4"]);
    assert_eq!(names(&mut v, "validity=valid&tlp=amber"), ["object 1"]);
    let bad = v.get("/intel?tlp=purple");
    assert_eq!(bad.status, 400);
    assert!(bad
        .body
        .contains("tlp must be clear, white, green, amber, amber+strict or red"));
}

#[test]
fn threat_intelligence_searches_names_and_sorts_by_type_and_when_stored() {
    let (s, token) = Service::start_with_token(&[]);
    // Uploaded one request each, in this order: a malware, then two indicators.
    let stamp = crate::service::indicator(9);
    let malware = serde_json::json!({
        "type": "malware", "spec_version": "2.1",
        "id": "malware--00000000-0000-4000-8000-000000000009",
        "created": stamp["created"], "modified": stamp["modified"],
        "name": "Emotet loader", "is_family": true,
    });
    let mut first = crate::service::indicator(1);
    first["name"] = serde_json::json!("Emotet C2 server");
    let mut second = crate::service::indicator(2);
    second["name"] = serde_json::json!("Phishing <lure>");
    for o in [&malware, &first, &second] {
        let (status, body) = s.upload(
            &token,
            &serde_json::json!({"sourcesystem": "feed", "stixobjects": [o]}),
        );
        assert_eq!(status, 200, "{body}");
    }
    let mut v = Visitor::new(&s);
    v.sign_in("admin", &s.cred("password"));
    // The names a page lists, in its order.
    let listed = |v: &mut Visitor, query: &str| -> Vec<String> {
        let page = v.get(&format!("/intel?{query}"));
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        [
            "Emotet loader",
            "Emotet C2 server",
            "Phishing &#60;lure&#62;",
        ]
        .into_iter()
        .filter_map(|name| page.body.find(&format!(">{name}</a>")).map(|at| (at, name)))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .map(str::to_owned)
        .collect()
    };
    // Newest first by default; the Stored header turns it round, the Type header sorts by id.
    assert_eq!(
        listed(&mut v, ""),
        [
            "Phishing &#60;lure&#62;",
            "Emotet C2 server",
            "Emotet loader"
        ]
    );
    let page = v.get("/intel");
    assert!(
        page.body.contains("aria-sort=\"descending\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("&#38;sort=stored&#38;order=asc"),
        "{}",
        page.body
    );
    assert_eq!(
        listed(&mut v, "sort=stored&order=asc"),
        [
            "Emotet loader",
            "Emotet C2 server",
            "Phishing &#60;lure&#62;"
        ]
    );
    assert_eq!(
        listed(&mut v, "sort=id&order=asc"),
        [
            "Emotet C2 server",
            "Phishing &#60;lure&#62;",
            "Emotet loader"
        ]
    );
    assert_eq!(
        listed(&mut v, "sort=id&order=desc"),
        [
            "Emotet loader",
            "Phishing &#60;lure&#62;",
            "Emotet C2 server"
        ]
    );
    // Search by the start of a name, case-blind, in the order of the names ("emotet c2
    // server" < "emotet loader"); filters apply.
    assert_eq!(
        listed(&mut v, "q=EMOTET"),
        ["Emotet C2 server", "Emotet loader"]
    );
    assert_eq!(listed(&mut v, "q=emotet+c2+serv"), ["Emotet C2 server"]);
    assert_eq!(listed(&mut v, "q=emotet&type=malware"), ["Emotet loader"]);
    assert_eq!(
        listed(&mut v, "q=phishing+%3Clure"),
        ["Phishing &#60;lure&#62;"]
    );
    assert!(listed(&mut v, "q=motet").is_empty());
    // An address is searched as an observable (indicator 1 is about 198.51.100.1).
    assert_eq!(listed(&mut v, "q=198.51.100.1"), ["Emotet C2 server"]);
    // The API's name search, apart from observables.
    let answer = s.get_json(
        &format!(
            "/workspaces/{}/threat-intelligence/objects?name=emotet",
            s.cred("workspace_id")
        ),
        &token,
    );
    let names: Vec<&str> = answer["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Emotet C2 server", "Emotet loader"]);
}

#[test]
fn an_objects_relationships_are_listed_both_ways() {
    let (s, token) = Service::start_with_token(&[]);
    let (status, body) = s.upload(
        &token,
        &crate::service::sample("upload-request-identity-threat-actor-relationship.json"),
    );
    assert_eq!(status, 200, "{body}");
    let mut v = Visitor::new(&s);
    v.sign_in("admin", &s.cred("password"));
    let actor = v.get("/intel/threat-actor--dfaa8d77-07e2-4e28-b2c8-92e9f7b04428");
    assert_eq!(actor.status, 200);
    assert!(
        actor.body.contains(
            "This object <strong>attributed-to</strong> <a href=\"/intel/identity--733c5838-34d9-4fbf-949c-62aba761184c\">Identity 2.1</a>"
        ),
        "{}",
        actor.body
    );
    let identity = v.get("/intel/identity--733c5838-34d9-4fbf-949c-62aba761184c");
    assert!(
        identity.body.contains(
            "<a href=\"/intel/threat-actor--dfaa8d77-07e2-4e28-b2c8-92e9f7b04428\">Threat Actor 2.1</a> <strong>attributed-to</strong> this object"
        ),
        "{}",
        identity.body
    );
    let relationship = v.get("/intel/relationship--a2e3efb5-351d-4d46-97a0-6897ee7c77a0");
    assert!(relationship
        .body
        .contains("No relationship refers to this object."));
}

#[test]
fn a_list_page_looks_for_a_bounded_time_and_offers_to_search_further() {
    let (s, token) = Service::start_with_token(&[]);
    // Many named objects ("Row 0", "Row 1", …), none from the source asked for: a search by
    // name looks each one up (about 20 µs each), far more than a page's 30 ms.
    let csv = crate::hardening::csv_of(20_000);
    let (status, answer) = s.import(&token, &[("source", "bulk")], "many.csv", &csv);
    assert_eq!(status, 202, "{answer}");
    let done = s.finished_import(&token, answer["id"].as_str().unwrap());
    assert_eq!(done["imported"], 20_000, "{done}");
    let mut v = Visitor::new(&s);
    v.sign_in("admin", &s.cred("password"));
    let further = |body: &str| {
        body.split("<a href=\"")
            .find_map(|a| a.split_once("\" id=\"next\">"))
            .map(|(href, _)| href.replace("&#38;", "&"))
    };
    let mut page = v.get("/intel?q=row&source=nobody");
    let mut stopped = 0;
    for _ in 0..1000 {
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            !page.body.contains("<td class=\"name\">"),
            "nothing matches: {}",
            page.body
        );
        let Some(next) = further(&page.body) else {
            break;
        };
        assert!(page.body.contains("id=\"looked-far\""), "{}", page.body);
        assert!(
            page.body.contains("This page looked for 30 ms"),
            "{}",
            page.body
        );
        assert!(page.body.contains(">Search further</a>"), "{}", page.body);
        stopped += 1;
        page = v.get(&next);
    }
    assert!(
        stopped > 0,
        "20,000 lookups must take a page longer than 30 ms"
    );
    // The last page ends the search and says so.
    assert!(page.body.contains("Nothing matches."), "{}", page.body);
    assert!(!page.body.contains("looked-far"), "{}", page.body);
}
