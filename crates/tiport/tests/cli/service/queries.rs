//! Queries of what is stored, the README's example as written, and the OpenAPI document.

use super::*;

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
