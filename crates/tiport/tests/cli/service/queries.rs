//! Queries of what is stored, the README's example as written, and the OpenAPI document.

use super::*;

/// The shell blocks of the README's quick start, as a newcomer runs them from a clone: the
/// command-line block in a directory of its own, then the client block against `serve` on the
/// data directory the first one filled. Only the binary, the address and the paths are put in.
#[test]
fn the_readme_quick_start_works_as_written() {
    let root = crate::helpers::repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("## Quick start")
        .expect("README has a quick start");
    let end = start + 1 + readme[start + 1..].find("\n## ").unwrap();
    let blocks: Vec<&str> = readme[start..end]
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 3, "commands, serve, client");
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_path = data.path().to_str().unwrap().to_owned();
    let put_in = |block: &str| {
        block
            .lines()
            .filter(|l| !l.starts_with("cargo build"))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("target/release/tiport", env!("CARGO_BIN_EXE_tiport"))
            .replace("./tiport-data", &data_path)
            .replace("examples/", &format!("{}/examples/", root.display()))
    };
    let bash = |script: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(cwd.path())
            .env("TIPORT_DATA_DIR", &data_path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.success(),
            text,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (_, text, err) = bash(&put_in(blocks[0]));
    assert!(
        text.contains("\"status\":\"succeeded\",\"total\":5,\"imported\":5"),
        "{text}\n{err}"
    );
    assert!(
        text.contains("\"status\":\"partially-succeeded\""),
        "{text}\n{err}"
    );
    assert!(cwd.path().join("export.json").exists());
    let s = Service::start_in(data, &[], &[]);
    let script = put_in(blocks[2]).replace("http://127.0.0.1:8080", &s.base);
    let (ok, text, err) = bash(&script);
    assert!(ok, "{script}\n{err}");
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(
        text.contains("192.0.2.44"),
        "the query found the upload: {text}"
    );
    assert!(
        text.contains("\"status\":\"queued\""),
        "the import was queued: {text}"
    );
    // 5 + 1 + 3 imported by the commands, 2 uploaded; the HTTP import adds 2 when it has run.
    assert!(exported(&s).len() >= 11, "{}", exported(&s).len());
}

fn ids_of(page: &Value) -> Vec<String> {
    page["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Four indicators and an attack pattern, uploaded as one feed: what the queries below find.
fn upload_the_feed(s: &Service, token: &str) {
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
        token,
        &json!({"sourcesystem": "feed", "stixobjects": objects}),
    );
    assert_eq!((status, answer.as_str()), (200, ""));
}

/// The id of [`indicator`] `n`.
fn id(n: u32) -> String {
    indicator(n)["id"].as_str().unwrap().to_owned()
}

/// Pages of two, by cursor, cover everything once, in id order.
fn pages_cover_everything_once(list: &dyn Fn(&str) -> Value) {
    let all = list("");
    assert_eq!(all["objects"].as_array().unwrap().len(), 5);
    assert_eq!(all["next"], Value::Null);
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
}

/// Each filter finds the objects it names and no other.
fn filters_find_what_they_name(list: &dyn Fn(&str) -> Value) {
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
}

/// One object, and its versions once a newer one arrives.
fn a_newer_version_is_current_and_both_are_kept(s: &Service, token: &str) {
    let ws = s.cred("workspace_id");
    let mut newer = indicator(2);
    newer["pattern"] = json!("[domain-name:value = 'evil.example.com']");
    newer["modified"] = json!("2024-02-01T00:00:00.000Z");
    assert_eq!(
        s.upload(
            token,
            &json!({"sourcesystem": "feed", "stixobjects": [newer]})
        )
        .0,
        200
    );
    let object = format!("/workspaces/{ws}/threat-intelligence/objects/{}", id(2));
    assert_eq!(
        s.get_json(&object, token)["modified"],
        "2024-02-01T00:00:00.000Z"
    );
    let versions = s.get_json(&format!("{object}/versions"), token);
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
}

/// What is refused, and what a reader may still read.
fn refusals_and_a_reader(s: &Service, token: &str) {
    let ws = s.cred("workspace_id");
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
        assert_eq!(s.get(&path, Some(token)).0, want, "{path}");
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

#[test]
fn queries_list_filter_page_and_read_versions() {
    let (s, token) = Service::start_with_token(&[]);
    let ws = s.cred("workspace_id");
    upload_the_feed(&s, &token);
    let list = |q: &str| {
        s.get_json(
            &format!("/workspaces/{ws}/threat-intelligence/objects{q}"),
            &token,
        )
    };
    pages_cover_everything_once(&list);
    filters_find_what_they_name(&list);
    a_newer_version_is_current_and_both_are_kept(&s, &token);
    refusals_and_a_reader(&s, &token);
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
    let (s, token) = Service::start_with_token(&[]);
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
            let status = match method.as_str() {
                "get" => s.send_get(&concrete, Some(&token)).status(),
                "post" => s
                    .agent
                    .post(format!("{}{concrete}", s.base))
                    .header("Authorization", &format!("Bearer {token}"))
                    .send(&b"{}"[..])
                    .unwrap()
                    .status(),
                other => panic!("method {other} in the document: teach this test"),
            };
            let status = status.as_u16();
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
