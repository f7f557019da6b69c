//! The upload APIs as the hosted service's clients drive them: the seed's answers, the legacy
//! route, refused bodies and their limits, throttling.

use super::*;

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
    let (s, token) = Service::start_with_token(&[]);
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
    let (s, token) = Service::start_with_token(&[]);
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
fn bodies_the_api_refuses() {
    let (s, token) = Service::start_with_token(&["--max-upload-bytes", "100000"]);
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
    let mut r = s.send_post(&url, Some(&token), "text/plain", body.as_bytes());
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
    let (s, token) = Service::start_with_token(&[]);
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
    let (s, token) = Service::start_with_token(&[]);
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

#[test]
fn a_300_mb_chunked_body_is_cut_off_at_the_limit() {
    let (s, token) = Service::start_with_token(&[]);
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
    let grown_mb = grown_mb(&s, before);
    assert!(grown_mb < 100, "peak memory grew by {grown_mb} MB");
    assert!(s.healthy());
}
