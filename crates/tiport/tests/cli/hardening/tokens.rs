//! The token endpoint and what token clients read (items 2, 3, 12, 17): bounded hashing,
//! throttled and logged failures, fixed metric labels, refused critical headers, discovery
//! that names the address the client used, and the headers clients and browsers rely on.

use super::*;

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
    let grew_mb = crate::service::grown_mb(&s, before);
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
    // A token request on a raw connection, to read the answer's headers as sent.
    let post_token = |content_type: &str, body: &str| {
        raw(
            &a,
            format!(
                "POST /{tenant}/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap()
    };
    let token = post_token("application/x-www-form-urlencoded", &form);
    assert_eq!(token.status, 200);
    assert_eq!(token.header("cache-control"), Some("no-store"));
    assert_eq!(token.header("pragma"), Some("no-cache"));
    // The token endpoint's refusals are OAuth errors, whatever refused them.
    let big = "a".repeat(100_000);
    let too_large = post_token("application/x-www-form-urlencoded", &big);
    assert_eq!(too_large.status, 413);
    let v: Value = serde_json::from_slice(&too_large.body).unwrap();
    assert_eq!(v["error"], "invalid_request", "{v}");
    let wrong_type = post_token("application/json", "{}");
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
    let path = format!(
        "/workspaces/{}/threat-intelligence/objects/{}",
        s.cred("workspace_id"),
        o["id"].as_str().unwrap()
    );
    let answer = raw_get(&a, "x", &path, Some(&bearer));
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

/// The OpenID configuration `s` answers to a client that names `host`: the answer, and the
/// configuration read from it.
fn openid_configuration(s: &Service, host: &str) -> (Raw, Value) {
    let path = format!(
        "/{}/v2.0/.well-known/openid-configuration",
        s.cred("tenant_id")
    );
    let answer = raw_get(&addr(s), host, &path, None);
    let config = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", answer.text()));
    (answer, config)
}

/// Reached as https://localhost:PORT, the service names that, not the address it listens on;
/// a client that follows it gets a token there, and the token is good at either name.
fn discovery_over_tls_names_the_name_used() {
    let tls = crate::service::Tls::new();
    let cert = &tls.cert;
    let s = Service::start(&tls.flags());
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
    let form = s.token_form_for_curl();
    let args: Vec<&str> = std::iter::once(endpoint.as_str())
        .chain(form.iter().map(String::as_str))
        .collect();
    let answer: Value = serde_json::from_str(&curl(&args)).unwrap();
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
}

/// A Host that is no URL authority is not echoed: the listen address is named instead.
fn discovery_does_not_echo_a_host_that_is_no_authority() {
    let plain = Service::start(&[]);
    let (answer, config) = openid_configuration(&plain, "evil.example/x?");
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
    let (_, config) = openid_configuration(&plain, "localhost:+80");
    assert!(
        !config["token_endpoint"].as_str().unwrap().contains('+'),
        "{config}"
    );
}

#[test]
fn discovery_names_the_address_the_client_used() {
    discovery_over_tls_names_the_name_used();
    discovery_does_not_echo_a_host_that_is_no_authority();
    // --public-url pins every URL, whatever the client used.
    let pinned = Service::start(&["--public-url", "https://ti.example.com/"]);
    let (_, config) = openid_configuration(&pinned, "localhost");
    assert_eq!(
        config["token_endpoint"],
        format!(
            "https://ti.example.com/{}/oauth2/v2.0/token",
            pinned.cred("tenant_id")
        )
    );
}
