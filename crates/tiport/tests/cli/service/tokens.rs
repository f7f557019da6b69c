//! Tokens: what is refused (401), what a role allows (403, 404), and tokens of a trusted
//! external OpenID Connect issuer.

use super::*;

#[test]
fn bad_tokens_are_401_and_the_service_stays_up() {
    let s = Service::start(&[]);
    let url = s.upload_url(&s.cred("workspace_id"));
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
    let good = s.token();
    let (h, p, sig) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none_header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let hs_header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let mut claims: Value = serde_json::from_slice(&b64.decode(&p).unwrap()).unwrap();
    claims["sub"] = json!("someone-else");
    let forged_payload = b64.encode(claims.to_string());
    let tampered = format!("{h}.{forged_payload}.{sig}");
    let alg_none = format!("{none_header}.{p}.");
    let hs256 = format!("{hs_header}.{p}.{sig}");
    for (what, token) in [
        ("missing", None),
        ("garbage", Some("not-a-jwt")),
        ("tampered claims", Some(tampered.as_str())),
        ("alg none", Some(alg_none.as_str())),
        ("alg confusion (HS256)", Some(hs256.as_str())),
    ] {
        let (status, retry, answer) = s.post(&url, token, body.as_bytes());
        assert_eq!(status, 401, "{what}: {answer}");
        assert_eq!(retry, None, "{what}: Retry-After only on 429");
        assert!(s.healthy());
    }
    // A token from another tiport (another tenant and key) is refused too.
    let other = Service::start(&[]);
    let foreign = other.token();
    assert_eq!(s.post(&url, Some(&foreign), body.as_bytes()).0, 401);
    // Wrong credentials get no token.
    let (status, answer) = s.token_request(&[
        ("grant_type", "client_credentials"),
        ("client_id", &s.cred("client_id")),
        ("client_secret", "wrong"),
        ("scope", "https://management.azure.com/.default"),
    ]);
    assert_eq!(status, 401, "{answer}");
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap()["error"],
        "invalid_client"
    );
    assert_eq!(exported(&s).len(), 0);
}

#[test]
fn roles_and_workspaces_decide_403_and_404() {
    let s = Service::start(&[]);
    let ws = s.cred("workspace_id");
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
    // A reader of the workspace may not upload.
    let reader = s.new_client("reader");
    assert_eq!(reader["tenant_id"], s.creds["tenant_id"]);
    let reader_token = s.token_of(&reader);
    assert_eq!(
        s.post(&s.upload_url(&ws), Some(&reader_token), body.as_bytes())
            .0,
        403
    );
    // Another workspace the contributor has no role on, and one that does not exist: 404.
    let out = run(
        &[
            "workspace",
            "create",
            "--name",
            "other",
            "--data-dir",
            &s.data_dir(),
        ],
        None,
    );
    let other: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let token = s.token();
    for ws in [
        other["id"].as_str().unwrap(),
        "6f1d2c3b-0000-4000-8000-000000000000",
        "not-a-uuid",
    ] {
        assert_eq!(
            s.post(&s.upload_url(ws), Some(&token), body.as_bytes()).0,
            404,
            "{ws}"
        );
    }
}

#[test]
fn tokens_with_a_wrong_claim_are_401() {
    let s = Service::start(&[]);
    let url = s.upload_url(&s.cred("workspace_id"));
    let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
    // The minting itself is right: the same claims unedited are accepted.
    let fine = minted(&s, |_| {});
    assert_eq!(s.post(&url, Some(&fine), body.as_bytes()).0, 200);
    let now = |c: &Value| c["iat"].as_i64().unwrap();
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "expired",
            Box::new(move |c| c["exp"] = json!(now(c) - 3600)),
        ),
        (
            "not yet valid",
            Box::new(move |c| c["nbf"] = json!(now(c) + 3600)),
        ),
        (
            "wrong audience",
            Box::new(|c| c["aud"] = json!("https://graph.microsoft.com")),
        ),
        (
            "wrong issuer",
            Box::new(|c| c["iss"] = json!("https://login.example.com/t/v2.0")),
        ),
        (
            "no expiry",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "no not-before",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("nbf");
            }),
        ),
    ];
    for (what, edit) in cases {
        let token = minted(&s, edit);
        let (status, _, answer) = s.post(&url, Some(&token), body.as_bytes());
        assert_eq!(status, 401, "{what}: {answer}");
    }
    // Every accepted audience works, with or without the trailing slash.
    for aud in [
        "https://management.azure.com/",
        "https://management.core.windows.net",
        "https://management.core.windows.net/",
    ] {
        let token = minted(&s, |c| c["aud"] = json!(aud));
        assert_eq!(s.post(&url, Some(&token), body.as_bytes()).0, 200, "{aud}");
    }
}

/// A stand-in for an external OpenID Connect issuer: it serves a JWKS (which the test can
/// change, as an issuer rotating keys does) and counts how often it was fetched.
struct Issuer {
    url: String,
    jwks: std::sync::Arc<std::sync::Mutex<String>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Issuer {
    fn start() -> Issuer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        let jwks = std::sync::Arc::new(std::sync::Mutex::new(r#"{"keys":[]}"#.to_owned()));
        let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (j, f) = (jwks.clone(), fetches.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                f.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = j.lock().unwrap().clone();
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Issuer { url, jwks, fetches }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An ES256 key of the stand-in issuer: its JWK and a signer.
struct IssuerKey {
    kid: String,
    jwk: Value,
    encoding: jsonwebtoken::EncodingKey,
}

impl IssuerKey {
    fn new(kid: &str) -> IssuerKey {
        use base64::Engine;
        let pair = rcgen::KeyPair::generate().unwrap();
        let point = pair.public_key_raw();
        assert_eq!(
            (point.len(), point[0]),
            (65, 4),
            "an uncompressed P-256 point"
        );
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        IssuerKey {
            kid: kid.to_owned(),
            jwk: json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
                        "x": b64(&point[1..33]), "y": b64(&point[33..])}),
            encoding: jsonwebtoken::EncodingKey::from_ec_der(pair.serialized_der()),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

const ISS: &str = "https://idp.example.test/tenant-x/v2.0";

/// A service that trusts the stand-in issuer, which publishes one key, `first`; and the upload
/// the tests send it.
struct Trusting {
    idp: Issuer,
    first: IssuerKey,
    s: Service,
    url: String,
    body: String,
    now: i64,
}

impl Trusting {
    fn start() -> Trusting {
        let idp = Issuer::start();
        let first = IssuerKey::new("k1");
        *idp.jwks.lock().unwrap() = json!({"keys": [first.jwk]}).to_string();
        let s = Service::start(&["--trust-issuer", &format!("{ISS} {}", idp.url)]);
        let url = s.upload_url(&s.cred("workspace_id"));
        let body = json!({"sourcesystem": "t", "stixobjects": [indicator(1)]}).to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Trusting {
            idp,
            first,
            s,
            url,
            body,
            now,
        }
    }

    /// The claims of a token the issuer gives `sub`.
    fn claims(&self, sub: &str) -> Value {
        let now = self.now;
        json!({"iss": ISS, "aud": "https://management.azure.com", "sub": sub,
               "azp": "feed-app", "iat": now, "exp": now + 3600})
    }

    /// The upload sent with `token`: status and body.
    fn upload(&self, token: &str) -> (u16, String) {
        let (status, _, answer) = self.s.post(&self.url, Some(token), self.body.as_bytes());
        (status, answer)
    }
}

/// A valid token of the issuer is worth what its principal's role allows.
fn principals_of_the_issuer_need_a_role(t: &Trusting) {
    // Its principal has no role yet: 404, as for any workspace a principal has no role on.
    let token = t.first.sign(&t.claims("app-1"));
    assert_eq!(t.upload(&token).0, 404);
    // The operator grants a role to `<sub>@<issuer>`; now the same token uploads.
    t.s.grant(&format!("app-1@{ISS}"), "contributor");
    let (status, answer) = t.upload(&token);
    assert_eq!(status, 200, "{answer}");
    // A reader of the issuer is a reader.
    t.s.grant(&format!("app-2@{ISS}"), "reader");
    assert_eq!(t.upload(&t.first.sign(&t.claims("app-2"))).0, 403);
}

/// What must still be refused: the issuer's key with a wrong claim, a key it does not publish,
/// a trusted key under another issuer's name, and `alg: none`.
fn wrong_tokens_of_the_issuer_are_refused(t: &Trusting) {
    let (first, now) = (&t.first, t.now);
    let mut wrong_aud = t.claims("app-1");
    wrong_aud["aud"] = json!("https://graph.microsoft.com");
    let mut expired = t.claims("app-1");
    expired["exp"] = json!(now - 3600);
    let mut other_iss = t.claims("app-1");
    other_iss["iss"] = json!("https://idp.example.test/other/v2.0");
    let stranger = IssuerKey::new("k1");
    let unsigned = {
        use base64::Engine;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
            b64(&t.claims("app-1"))
        )
    };
    let mut no_exp = t.claims("app-1");
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut not_yet = t.claims("app-1");
    not_yet["nbf"] = json!(now + 3600);
    // HMAC with the issuer's public key as the secret, under the published kid (algorithm
    // confusion).
    let hmac = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("k1".into());
        let secret = first.jwk["x"].as_str().unwrap().as_bytes().to_vec();
        jsonwebtoken::encode(
            &header,
            &t.claims("app-1"),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap()
    };
    for (what, token) in [
        ("wrong audience", first.sign(&wrong_aud)),
        ("expired", first.sign(&expired)),
        ("no expiry", first.sign(&no_exp)),
        ("not yet valid", first.sign(&not_yet)),
        ("HS256 with the public key", hmac),
        ("untrusted issuer", first.sign(&other_iss)),
        (
            "a key the issuer does not publish",
            stranger.sign(&t.claims("app-1")),
        ),
        ("alg none", unsigned),
    ] {
        let (status, answer) = t.upload(&token);
        assert_eq!(status, 401, "{what}: {answer}");
    }
}

/// Tokens naming keys that do not exist need no valid signature to get this far: twenty of
/// them, at once, must not make the service ask the issuer twenty times.
fn made_up_keys_do_not_flood_the_issuer(t: &Trusting) {
    let before = t.idp.fetches();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let sending: Vec<_> = (0..20)
            .map(|i| {
                let token = IssuerKey::new(&format!("made-up-{i}")).sign(&t.claims("app-1"));
                scope.spawn(move || t.upload(&token).0)
            })
            .collect();
        sending.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for status in statuses {
        assert_eq!(status, 401);
    }
    assert!(
        t.idp.fetches() <= before + 1,
        "{} fetches for 20 made-up keys",
        t.idp.fetches() - before
    );
}

/// The issuer rotates: a token with a new kid makes the service fetch the JWKS again (at most
/// once per 30 s), and it is accepted as soon as the JWKS publishes the key.
fn a_rotated_key_is_accepted_once_published(t: &Trusting) {
    let second = IssuerKey::new("k2");
    *t.idp.jwks.lock().unwrap() = json!({"keys": [t.first.jwk, second.jwk]}).to_string();
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (status, answer) = t.upload(&second.sign(&t.claims("app-1")));
        if status == 200 {
            break;
        }
        assert_eq!(status, 401, "{answer}");
        assert!(
            Instant::now() < deadline,
            "the rotated key was never fetched"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // The bogus tokens before did not make the service ask the issuer on every request.
    assert!(t.idp.fetches() <= 3, "{} fetches", t.idp.fetches());
}

#[test]
fn tokens_of_a_trusted_external_issuer() {
    let t = Trusting::start();
    principals_of_the_issuer_need_a_role(&t);
    wrong_tokens_of_the_issuer_are_refused(&t);
    made_up_keys_do_not_flood_the_issuer(&t);
    a_rotated_key_is_accepted_once_published(&t);
    assert!(t.s.healthy());
}
