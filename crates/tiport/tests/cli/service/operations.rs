//! Running the service: a configuration file, HTTPS, and a kill under load.

use super::*;

#[test]
fn a_config_file_sits_between_the_defaults_and_the_environment() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("tiport.toml");
    std::fs::write(
        &cfg,
        "requests-per-minute = 2\nmax-objects-per-request = 3\ntoken-lifetime = \"10m\"\n",
    )
    .unwrap();
    // The environment overrides the file for max-objects-per-request.
    let s = Service::start_with_env(
        &["--config", cfg.to_str().unwrap()],
        &[("TIPORT_MAX_OBJECTS_PER_REQUEST", "5")],
    );
    let url = s.upload_url(&s.cred("workspace_id"));
    let (status, body) = s.token_request(&[
        ("grant_type", "client_credentials"),
        ("client_id", &s.cred("client_id")),
        ("client_secret", &s.cred("client_secret")),
        ("scope", "https://management.azure.com/.default"),
    ]);
    assert_eq!(status, 200);
    let token: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(token["expires_in"], 600, "token-lifetime from the file");
    let token = token["access_token"].as_str().unwrap().to_owned();
    let four: Vec<Value> = (1..=4).map(indicator).collect();
    let body = json!({"sourcesystem": "t", "stixobjects": four}).to_string();
    assert_eq!(
        s.post(&url, Some(&token), body.as_bytes()).0,
        200,
        "5 from the environment, not 3"
    );
    assert_eq!(s.post(&url, Some(&token), body.as_bytes()).0, 200);
    assert_eq!(
        s.post(&url, Some(&token), body.as_bytes()).0,
        429,
        "2 a minute from the file"
    );

    // A file `serve` must refuse: exit status 2, and what it said.
    let dir = tempfile::tempdir().unwrap();
    let refused = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        let out = run(
            &[
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--data-dir",
                dir.path().to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(2), "{text}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // An unknown key is an error naming it.
    let stderr = refused("requests-per-minut = 2\n");
    assert!(
        stderr.contains("unknown setting \"requests-per-minut\""),
        "{stderr}"
    );
    // A trusted issuer whose keys would come over plain HTTP from another host is refused, the
    // message naming the file and the key.
    let stderr =
        refused("trust-issuer = [\"https://idp.example/t/v2.0 http://idp.example/keys\"]\n");
    assert!(
        stderr.contains("tiport.toml: trust-issuer: the JWKS URL") && stderr.contains("https://"),
        "{stderr}"
    );
}

#[test]
fn https_from_serve_itself() {
    let tls = Tls::new();
    let cert = &tls.cert;
    let s = Service::start(&tls.flags());
    assert!(s.base.starts_with("https://"), "{}", s.base);
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "--cacert", cert.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(
        curl(&[&format!("{}/healthz", s.base)]),
        (true, "ok".to_owned())
    );
    // The whole client flow over TLS: a token, then an upload.
    let url = format!("{}/{}/oauth2/v2.0/token", s.base, s.cred("tenant_id"));
    let form = s.token_form_for_curl();
    let args: Vec<&str> = std::iter::once(url.as_str())
        .chain(form.iter().map(String::as_str))
        .collect();
    let (ok, body) = curl(&args);
    assert!(ok, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    let upload = json!({"sourcesystem": "tls", "stixobjects": [indicator(1)]}).to_string();
    let (ok, status) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!(
            "Authorization: Bearer {}",
            token["access_token"].as_str().unwrap()
        ),
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &upload,
        &s.upload_url(&s.cred("workspace_id")),
    ]);
    assert_eq!((ok, status.as_str()), (true, "200"));
    // The issuer names the HTTPS address.
    let (_, config) = curl(&[&format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        s.base,
        s.cred("tenant_id")
    )]);
    let config: Value = serde_json::from_str(&config).unwrap();
    assert!(
        config["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{config}"
    );
    // Plain HTTP to the TLS port gets no answer of ours.
    let plain = s.base.replacen("https://", "http://", 1);
    let (ok, _) = curl(&["--max-time", "5", &format!("{plain}/healthz")]);
    assert!(!ok);
}

#[test]
fn every_acknowledged_object_survives_a_kill() {
    // A fixed public URL, as a deployment has: the issuer, and so the tokens, outlive a restart
    // on another port.
    let public = ["--public-url", "https://tiport.example"];
    let s = Service::start(&public);
    let token = s.token();
    let url = s.upload_url(&s.cred("workspace_id"));
    // Four clients upload batches of new objects until the service dies under them.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..4u32 {
        let (agent, url, token, acked) = (
            s.agent.clone(),
            url.clone(),
            token.clone(),
            acknowledged.clone(),
        );
        clients.push(std::thread::spawn(move || {
            for batch in 0u32.. {
                let objects: Vec<Value> = (0..50)
                    .map(|i| indicator(c * 10_000_000 + batch * 100 + i))
                    .collect();
                let ids: Vec<String> = objects
                    .iter()
                    .map(|o| o["id"].as_str().unwrap().to_owned())
                    .collect();
                let body = json!({"sourcesystem": "kill", "stixobjects": objects}).to_string();
                let sent = agent
                    .post(&url)
                    .header("Authorization", &format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .send(body.as_bytes());
                match sent {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().extend(ids),
                    _ => return,
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let mut s = s;
    crate::helpers::sigkill(&mut s.child);
    s.child.wait().expect("wait for the killed serve");
    for c in clients {
        c.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 200,
        "the clients got going: {}",
        acknowledged.len()
    );
    // Restart on the same data directory; the old token still works (the key is in the store).
    // The data directory moves to the new service (the old one keeps an empty stand-in).
    let (dir, creds) = (
        std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap()),
        s.creds.clone(),
    );
    drop(s);
    let s = Service::start_in(dir, &public, &[]);
    assert_eq!(s.creds, creds);
    let (status, _, _) = s.post(
        &s.upload_url(&s.cred("workspace_id")),
        Some(&token),
        json!({"sourcesystem": "after", "stixobjects": []})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 200);
    let stored: std::collections::HashSet<String> = exported(&s)
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged objects lost",
        lost.len(),
        acknowledged.len()
    );
}

#[test]
fn a_store_the_commands_filled_gets_first_credentials_when_served() {
    // As the README's quick start goes: a workspace and an import by the command line, then
    // the service on the same directory. It has no client yet, so serve makes one for the
    // existing workspace and says where its credentials are.
    let dir = tempfile::tempdir().unwrap();
    let ws = crate::helpers::create_workspace(dir.path(), "made by the command line");
    let examples = crate::helpers::repo_root().join("examples/indicators.csv");
    let (out, summary) = crate::helpers::import(dir.path(), &ws, &examples, "Example feed", &[]);
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    assert_eq!(summary["imported"], 5);
    let s = Service::start_in(dir, &[], &[]);
    assert_eq!(s.cred("workspace_id"), ws, "the existing workspace");
    assert!(s.creds["password"].is_string(), "and the admin user");
    assert!(
        s.log().contains("initial-credentials.json"),
        "the log says where the credentials are: {}",
        s.log()
    );
    let token = s.token();
    let (status, body) = s.upload(
        &token,
        &json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(exported(&s).len(), 6);
    // A restart keeps the client: nothing new is made, the file stays as it was.
    let before = std::fs::read_to_string(s.dir.path().join("initial-credentials.json")).unwrap();
    let dir = s.stop();
    let s = Service::start_in(dir, &[], &[]);
    let after = std::fs::read_to_string(s.dir.path().join("initial-credentials.json")).unwrap();
    assert_eq!(before, after);
}
