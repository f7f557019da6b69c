//! Trusting an external OpenID Connect issuer (Entra ID, Keycloak, Okta): its tokens are
//! accepted when signed by a key its JWKS publishes, for our audiences.
//!
//! # Key decisions
//!
//! - An issuer is configured by its issuer URL (the token's `iss`, compared exactly) and its
//!   JWKS URL. No discovery document is fetched: the operator names both, so a misconfigured
//!   or hijacked discovery document cannot point tiport at other keys.
//! - The algorithm comes from the key, never from the token: a key's JWK `alg`, or else its
//!   type (RSA → RS256, P-256 → ES256, P-384 → ES384, Ed25519 → EdDSA). A token whose header
//!   names another algorithm is refused, and symmetric (`oct`) keys and encryption keys in a
//!   JWKS are ignored, so neither `alg: none` nor HMAC with a public key can get through.
//! - Keys are cached by `kid`. A token naming a `kid` we do not hold makes the caller fetch the
//!   JWKS again (issuers rotate keys and publish the new one first), at most once per
//!   [`MIN_REFETCH`] per issuer and one at a time, so a stream of bogus tokens (which need no
//!   valid signature to name a key) cannot make tiport hammer the issuer or tie up threads.
//!   Fetching is blocking I/O and is left to the caller to run off the async runtime; callers
//!   that find a fetch under way wait for it without a thread ([`Refresh::InFlight`],
//!   [`crate::auth::Authority::fetch_finished`]): the fetch's end wakes them, through a
//!   `tokio::sync::watch` of whether one is under way.
//! - The JWKS is fetched over HTTPS (plain HTTP only from a loopback address), without
//!   following redirects, with a 10 s timeout and a 1 MB cap.
//! - The principal of an external token is `<sub>@<issuer>`: roles are granted to it like to a
//!   local client (`tiport role grant`), and it cannot be confused with a local client id or
//!   with the same `sub` of another issuer.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::auth::AuthError;

/// The shortest time between two fetches of one issuer's JWKS.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);

/// The largest JWKS document read (real ones are a few kilobytes).
const MAX_JWKS_BYTES: u64 = 1024 * 1024;

/// An external issuer to trust, as configured: `ISSUER JWKS_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    pub issuer: String,
    pub jwks_url: String,
}

impl std::str::FromStr for TrustedIssuer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let [issuer, jwks_url] = parts[..] else {
            return Err(format!(
                "{s:?}: expected the issuer URL and the JWKS URL, separated by a space"
            ));
        };
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(format!("the issuer {issuer:?} is not an http(s) URL"));
        }
        // Whoever answers the JWKS URL decides which tokens are accepted: plain HTTP would let
        // anyone on the path do that. Only a JWKS on this machine may be fetched without TLS.
        if !jwks_url.starts_with("https://") && !is_loopback_http(jwks_url) {
            return Err(format!(
                "the JWKS URL {jwks_url:?} must be https:// (plain http only on a loopback \
                 address)"
            ));
        }
        Ok(TrustedIssuer {
            issuer: issuer.to_owned(),
            jwks_url: jwks_url.to_owned(),
        })
    }
}

/// Whether `url` is `http://` to 127.0.0.0/8, `[::1]` or `localhost`.
fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What a caller holding a token with an unknown key may do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Fetch now: this caller took the issuer's one fetch slot and must call
    /// [`crate::auth::Authority::fetch_keys`], which frees it.
    Start,
    /// Another fetch is under way: wait for it (without holding a thread) and check again.
    InFlight,
    /// The keys were fetched less than [`MIN_REFETCH`] ago: the token is refused.
    Recent,
}

/// One trusted issuer and the keys last fetched from its JWKS.
pub(crate) struct External {
    issuer: String,
    jwks_url: String,
    agent: ureq::Agent,
    keys: RwLock<Keys>,
    /// Whether a fetch is under way: at most one per issuer, so a stream of tokens naming
    /// made-up keys costs at most one blocked thread and one request to the issuer per
    /// [`MIN_REFETCH`]. A watch rather than a flag, so that callers waiting for the fetch are
    /// woken when it ends.
    in_flight: tokio::sync::watch::Sender<bool>,
}

#[derive(Default)]
struct Keys {
    /// By `kid`; a key published without one is held under the empty string.
    by_kid: HashMap<String, (Algorithm, DecodingKey)>,
    fetched: Option<Instant>,
}

#[derive(Deserialize)]
struct ExternalClaims {
    sub: String,
}

impl External {
    pub(crate) fn new(t: &TrustedIssuer) -> External {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            // A redirect could lead to plain HTTP or to another host's keys.
            .max_redirects(0)
            .https_only(t.jwks_url.starts_with("https://"))
            .build()
            .into();
        External {
            issuer: t.issuer.clone(),
            jwks_url: t.jwks_url.clone(),
            agent,
            keys: RwLock::new(Keys::default()),
            in_flight: tokio::sync::watch::Sender::new(false),
        }
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Checks a token that names this issuer. [`AuthError::UnknownKey`] when it names a key
    /// we do not hold (the caller may [`External::refresh`] and try again).
    pub(crate) fn verify(&self, token: &str, audiences: &[String]) -> Result<String, AuthError> {
        let bad = |m: String| AuthError::BadToken(m);
        let header = jsonwebtoken::decode_header(token).map_err(|e| bad(e.to_string()))?;
        let keys = self.keys.read().expect("key cache");
        let found = match &header.kid {
            Some(kid) => keys.by_kid.get(kid),
            // Without a kid, only an issuer with a single key is unambiguous.
            None if keys.by_kid.len() == 1 => keys.by_kid.values().next(),
            None => None,
        };
        let Some((alg, key)) = found else {
            return Err(AuthError::UnknownKey {
                issuer: self.issuer.clone(),
                kid: header.kid.unwrap_or_default(),
            });
        };
        if header.alg != *alg {
            return Err(bad(format!(
                "the token says {:?} but the issuer's key is for {alg:?}",
                header.alg
            )));
        }
        let mut v = Validation::new(*alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(audiences);
        // Not every issuer sets `nbf` (Keycloak does not); it is checked when present.
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = 30;
        let data = jsonwebtoken::decode::<ExternalClaims>(token, key, &v)
            .map_err(|e| bad(e.to_string()))?;
        Ok(format!("{}@{}", data.claims.sub, self.issuer))
    }

    /// Decides, without blocking, whether the caller should fetch the keys now (see
    /// [`Refresh`]).
    pub(crate) fn begin_refresh(&self) -> Refresh {
        if *self.in_flight.borrow() {
            return Refresh::InFlight;
        }
        let recent = self
            .keys
            .read()
            .expect("key cache")
            .fetched
            .is_some_and(|t| t.elapsed() < MIN_REFETCH);
        if recent {
            return Refresh::Recent;
        }
        // Taken only if no other caller took it since the check above.
        let took = self
            .in_flight
            .send_if_modified(|busy| !std::mem::replace(busy, true));
        if took {
            Refresh::Start
        } else {
            Refresh::InFlight
        }
    }

    /// Waits, without a thread, until no fetch is under way (at once if none is).
    pub(crate) async fn fetch_finished(&self) {
        let mut busy = self.in_flight.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail.
        let _ = busy.wait_for(|busy| !*busy).await;
    }

    /// Fetches the JWKS (blocking, up to 10 s) and frees the fetch slot [`External::begin_refresh`]
    /// gave; on failure the keys held so far stay in use. A failed fetch counts as a fetch, so
    /// that an unreachable issuer is not asked on every request.
    pub(crate) fn fetch_keys(&self) -> Result<(), AuthError> {
        // Freed (and the waiting callers woken) however the fetch ends, a panic included.
        struct Free<'a>(&'a tokio::sync::watch::Sender<bool>);
        impl Drop for Free<'_> {
            fn drop(&mut self) {
                self.0.send_replace(false);
            }
        }
        let _free = Free(&self.in_flight);
        let fetched = self.fetch();
        let mut keys = self.keys.write().expect("key cache");
        keys.fetched = Some(Instant::now());
        keys.by_kid = fetched?;
        Ok(())
    }

    fn fetch(&self) -> Result<HashMap<String, (Algorithm, DecodingKey)>, AuthError> {
        let fail = |m: String| AuthError::Jwks {
            url: self.jwks_url.clone(),
            message: m,
        };
        let text = self
            .agent
            .get(&self.jwks_url)
            .call()
            .map_err(|e| fail(e.to_string()))?
            .body_mut()
            .with_config()
            .limit(MAX_JWKS_BYTES)
            .read_to_string()
            .map_err(|e| fail(e.to_string()))?;
        parse_jwks(&text).map_err(fail)
    }
}

/// The signing keys of a JWKS document, by `kid`. Keys tiport cannot or must not use
/// (encryption keys, symmetric keys, unknown types) are skipped rather than failing the set:
/// issuers publish keys of several kinds.
fn parse_jwks(text: &str) -> Result<HashMap<String, (Algorithm, DecodingKey)>, String> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_str(text).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut out = HashMap::new();
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let Some(alg) = algorithm(&jwk) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        out.insert(jwk.common.key_id.clone().unwrap_or_default(), (alg, key));
    }
    if out.is_empty() {
        return Err("the JWKS holds no usable signing key".into());
    }
    Ok(out)
}

/// The one algorithm a key verifies: its `alg` if it names a signature algorithm that fits the
/// key type, else the usual one for its type. `None` for symmetric keys and mismatches.
fn algorithm(jwk: &Jwk) -> Option<Algorithm> {
    use AlgorithmParameters as P;
    let by_type = match &jwk.algorithm {
        P::RSA(_) => Algorithm::RS256,
        P::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        P::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        _ => return None,
    };
    let Some(named) = jwk.common.key_algorithm else {
        return Some(by_type);
    };
    let named = match named {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    };
    let fits = match &jwk.algorithm {
        P::RSA(_) => matches!(
            named,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        _ => named == by_type,
    };
    fits.then_some(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_issuer_needs_two_urls() {
        let t: TrustedIssuer = "https://login.example/t/v2.0 https://login.example/keys"
            .parse()
            .unwrap();
        assert_eq!(t.issuer, "https://login.example/t/v2.0");
        assert_eq!(t.jwks_url, "https://login.example/keys");
        assert!("https://login.example/t/v2.0"
            .parse::<TrustedIssuer>()
            .is_err());
        assert!("login.example https://k".parse::<TrustedIssuer>().is_err());
        assert!("https://a https://b https://c"
            .parse::<TrustedIssuer>()
            .is_err());
    }

    #[test]
    fn jwks_keeps_signing_keys_only() {
        // An EC signing key, an HMAC key, an encryption key and a key of an unknown type.
        let text = r#"{"keys":[
            {"kty":"EC","crv":"P-256","kid":"ec","use":"sig",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
            {"kty":"EC","crv":"P-256","kid":"enc","use":"enc",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"XYZ","kid":"odd"}
        ]}"#;
        let keys = parse_jwks(text).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["ec"]);
        assert_eq!(keys["ec"].0, Algorithm::ES256);
        assert!(parse_jwks(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).is_err());
        assert!(parse_jwks("[]").is_err());
    }

    /// An issuer whose JWKS cannot be fetched: nothing listens on port 1 of this machine, so
    /// a fetch fails at once, without a network.
    fn unreachable_issuer() -> External {
        External::new(
            &"https://issuer.example http://127.0.0.1:1/keys"
                .parse()
                .unwrap(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn callers_waiting_for_a_fetch_are_woken_when_it_ends() {
        let issuer = unreachable_issuer();
        assert_eq!(issuer.begin_refresh(), Refresh::Start);
        assert_eq!(issuer.begin_refresh(), Refresh::InFlight);
        let waiting = issuer.fetch_finished();
        tokio::pin!(waiting);
        // While the fetch is under way the wait goes on, however long.
        let an_hour = Duration::from_secs(3600);
        assert!(tokio::time::timeout(an_hour, &mut waiting).await.is_err());
        // The fetch ends (failing): the waiting caller is woken at once, not at its next look.
        let started = tokio::time::Instant::now();
        assert!(issuer.fetch_keys().is_err());
        tokio::time::timeout(Duration::from_millis(1), waiting)
            .await
            .expect("woken when the fetch ended");
        assert_eq!(started.elapsed(), Duration::ZERO);
        // A failed fetch counts as a fetch: the next token naming an unknown key waits.
        assert_eq!(issuer.begin_refresh(), Refresh::Recent);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fetch_nobody_waited_for_leaves_nobody_waiting() {
        let issuer = unreachable_issuer();
        assert_eq!(issuer.begin_refresh(), Refresh::Start);
        assert!(issuer.fetch_keys().is_err());
        tokio::time::timeout(Duration::from_millis(1), issuer.fetch_finished())
            .await
            .expect("no fetch is under way");
    }

    #[test]
    fn key_algorithm_must_fit_key_type() {
        let ec: Jwk = serde_json::from_str(
            r#"{"kty":"EC","crv":"P-256","alg":"RS256",
                "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        )
        .unwrap();
        assert_eq!(algorithm(&ec), None);
    }
}
