//! Answers bounded in memory (items 4 and 6): pages of objects in bytes, versions streamed,
//! import records and their list bounded, and a client that reads nothing holds little.

use super::*;

/// Uploads versions 1 to `versions` of object `n`, each of about `kib` KiB.
fn upload_versions(s: &Service, token: &str, n: u32, versions: u32, kib: usize) {
    upload_in_parts(
        s,
        token,
        (1..=versions).map(|v| big_indicator(n, v, kib)).collect(),
    );
}

#[test]
fn large_objects_are_listed_in_pages_bounded_in_bytes_and_versions_streamed() {
    let (s, token) = Service::start_with_token(&[]);
    let ws = s.cred("workspace_id");
    upload_in_parts(
        &s,
        &token,
        (0..60).map(|n| big_indicator(n, 0, 1024)).collect(),
    );
    upload_versions(&s, &token, 1000, 60, 1024);
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
    let grew_mb = crate::service::grown_mb(&s, before);
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
    let versions = format!(
        "/workspaces/{ws}/threat-intelligence/objects/{}/versions",
        indicator(1000)["id"].as_str().unwrap()
    );
    let mut r = s.send_get(&versions, Some(&token));
    assert_eq!(r.status(), 200);
    let body = r
        .body_mut()
        .with_config()
        .limit(200 << 20)
        .read_to_string()
        .unwrap();
    let versions: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 60);
    let grew_mb = crate::service::grown_mb(&s, before);
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

/// A header of a hundred thousand unknown columns: the import fails, its message names a few
/// of them and counts the rest.
fn a_wide_header_fails_with_a_bounded_message(s: &Service, token: &str) {
    let mut csv = String::from("observableType,observableValue,validFrom");
    for i in 0..100_000 {
        csv.push_str(&format!(",unknown{i}"));
    }
    csv.push_str("\nipv4-addr,198.51.100.1,2024-01-01T00:00:00Z\n");
    let (status, queued) = s.import(token, &[("source", "wide")], "wide.csv", csv.as_bytes());
    assert_eq!(status, 202, "{queued}");
    let r = s.finished_import(token, queued["id"].as_str().unwrap());
    assert_eq!(r["status"], "failed");
    let message = r["message"].as_str().unwrap_or_else(|| panic!("{r}"));
    assert!(message.len() < 4200, "a message of {} bytes", message.len());
    assert!(
        message.contains("unknown0") && message.contains("99990 more"),
        "{message}"
    );
}

/// The ids of the import list sorted by `sort` in `order`, read five at a time by following
/// the Link header of each page.
fn imports_listed_five_at_a_time(s: &Service, token: &str, sort: &str, order: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = format!(
        "/workspaces/{}/threat-intelligence/imports?sort={sort}&order={order}&limit=5",
        s.cred("workspace_id")
    );
    loop {
        let mut r = s.send_get(&path, Some(token));
        assert_eq!(r.status(), 200);
        let link = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let page: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        let page = page.as_array().expect("the list is an array");
        assert!(page.len() <= 5);
        seen.extend(page.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match link {
            Some(l) => {
                assert!(l.ends_with(">; rel=\"next\""), "{l}");
                path = l[1..l.find('>').unwrap()].to_owned();
            }
            None => return seen,
        }
    }
}

/// `tiport import-status --workspace WS --data-dir DIR ARGS…` beside the service: its output.
fn import_status(s: &Service, args: &[&str]) -> std::process::Output {
    let (ws, dir) = (s.cred("workspace_id"), s.data_dir());
    let mut all = vec!["import-status", "--workspace", &ws];
    all.extend_from_slice(args);
    all.extend(["--data-dir", &dir]);
    crate::helpers::run(&all, None)
}

#[test]
fn import_records_are_bounded_and_the_list_comes_in_pages() {
    let (s, token) = Service::start_with_token(&[]);
    let ws = s.cred("workspace_id");
    a_wide_header_fails_with_a_bounded_message(&s, &token);
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
        let seen = imports_listed_five_at_a_time(&s, &token, sort, order);
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
    let out = import_status(&s, &["--limit", "4"]);
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    assert_eq!(crate::helpers::stdout(&out).lines().count(), 4);
    let hint = crate::helpers::stderr(&out);
    let cursor = hint
        .split("--cursor ")
        .nth(1)
        .expect("a next page")
        .trim()
        .to_owned();
    let out = import_status(&s, &["--limit", "100", "--cursor", &cursor]);
    assert_eq!(crate::helpers::stdout(&out).lines().count(), 8);
}

#[test]
fn a_reader_that_reads_nothing_cannot_hold_many_large_answers() {
    let (s, token) = Service::start_with_token(&[]);
    let ws = s.cred("workspace_id");
    // Forty versions of a megabyte: far more than the sockets between us can buffer.
    upload_versions(&s, &token, 7, 40, 1024);
    // And an object of ten: a page of objects is one buffer the service builds, which it
    // must still count until the client has taken it.
    upload_versions(&s, &token, 6, 1, 10 << 10);
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
        let answer = raw_get(&addr(&s), "x", &page, Some(&token));
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
    let status_of = |token: &str, path: &str| raw_get(&addr(&s), "x", path, Some(token)).status;
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
