//! Who may do what: clients and their secrets, the tokens tiport issues as its own OAuth 2.0
//! authorization server (client credentials), checking a presented token, and the roles per
//! workspace that every request is checked against.
//!
//! # Key decisions
//!
//! - Tokens are JWTs signed with ES256 (ECDSA P-256). The key is generated with `ring` on first
//!   start and kept in the store as a setting, so every node of a cluster signs and verifies
//!   with the same key, and a restart does not invalidate issued tokens. Clients never look
//!   inside the token; anything that does finds the public key in the JWKS.
//! - Tokens carry identity (`appid`, `sub`, `tid`), never roles: roles are read from the store
//!   on every request, so revoking one takes effect at once.
//! - Client secrets are stored as argon2id hashes (PHC strings); the secret itself is shown
//!   once, when the client is created.
//! - Verification accepts exactly ES256 with our key, our issuer and one of the configured
//!   audiences, and requires `exp` and `nbf`: `alg: none`, HMAC with the public key as secret
//!   (algorithm confusion), a foreign issuer, a wrong audience, an expired or not-yet-valid
//!   token are all refused.
//! - External OpenID Connect issuers can be trusted as well ([`crate::oidc`]); a token is
//!   routed to the keys of the issuer it names and checked against them the same way, except
//!   that `nbf` is checked only when present (not every issuer sets it).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use stix::Timestamp;
use store::{Principal, PrincipalKind, Role, Store, StoreError, WorkspaceId};

use crate::error::{DomainError, ErrorKind};
use crate::oidc::{External, Refresh, TrustedIssuer};

/// The audiences the hosted API accepts, which its clients ask for.
pub const DEFAULT_AUDIENCES: [&str; 4] = [
    "https://management.azure.com",
    "https://management.azure.com/",
    "https://management.core.windows.net",
    "https://management.core.windows.net/",
];

const TENANT_SETTING: &str = "tenant_id";
const KEY_SETTING: &str = "token_signing_key_pkcs8";

/// Why a token or a credential was refused. The HTTP layer answers all of these with 401 and
/// says no more than "invalid token" or "invalid client" to the caller; the detail is logged.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid client credentials")]
    BadCredentials,
    #[error("invalid token: {0}")]
    BadToken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the token signing key in the store is unusable: {0}")]
    Key(String),
    /// A token of a trusted external issuer names a key not among those fetched from its
    /// JWKS; fetching the JWKS again may find it.
    #[error("invalid token: issuer {issuer} has no key {kid:?} (as of the last JWKS fetch)")]
    UnknownKey { issuer: String, kid: String },
    #[error("cannot fetch the JWKS {url}: {message}")]
    Jwks { url: String, message: String },
}

impl DomainError for AuthError {
    fn kind(&self) -> ErrorKind {
        match self {
            AuthError::BadCredentials | AuthError::BadToken(_) | AuthError::UnknownKey { .. } => {
                ErrorKind::Unauthenticated
            }
            AuthError::Store(_) | AuthError::Key(_) | AuthError::Jwks { .. } => ErrorKind::Internal,
        }
    }
}

/// Why a principal may not act on a workspace.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Not a workspace id: no workspace by that name. The id as the caller wrote it.
    #[error("workspace {0} not found")]
    Unknown(String),
    /// The principal has no role on the workspace, or there is no such workspace: the same
    /// answer for both, so that workspaces cannot be discovered. The id as the caller wrote it.
    #[error("workspace {shown} not found")]
    NoRole {
        shown: String,
        workspace: WorkspaceId,
    },
    #[error("the reader role cannot upload; a contributor role on the workspace is needed")]
    ReaderCannotWrite,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for AccessError {
    fn kind(&self) -> ErrorKind {
        match self {
            AccessError::Unknown(_) | AccessError::NoRole { .. } => ErrorKind::NotFound,
            AccessError::ReaderCannotWrite => ErrorKind::Forbidden,
            AccessError::Store(e) => e.kind(),
        }
    }
}

/// The workspace named `ws` (as the caller wrote it), if `principal` has at least `needed` on
/// it. Roles are read on every call, so that revoking one takes effect at once.
pub fn authorize(
    store: &dyn Store,
    ws: &str,
    principal: &str,
    needed: Role,
) -> Result<WorkspaceId, AccessError> {
    let workspace = WorkspaceId::parse(ws).map_err(|_| AccessError::Unknown(ws.to_owned()))?;
    match (store.role(workspace, principal)?, needed) {
        (None, _) => Err(AccessError::NoRole {
            shown: ws.to_owned(),
            workspace,
        }),
        (Some(Role::Reader), Role::Contributor) => Err(AccessError::ReaderCannotWrite),
        (Some(_), _) => Ok(workspace),
    }
}

/// The identity a valid token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The principal (a client id).
    pub principal: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    appid: String,
    tid: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// An issued token, as the token endpoint returns it.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub token_type: &'static str,
    pub expires_in: u64,
    pub access_token: String,
}

/// The tenant id of this installation, made on first use.
pub fn tenant(store: &dyn Store) -> Result<String, StoreError> {
    store.init_setting(TENANT_SETTING, &uuid::Uuid::new_v4().to_string())
}

/// tiport's authorization server: its tenant, issuer and signing key.
pub struct Authority {
    tenant: String,
    /// Where clients reach the service, if the operator said (`--public-url`): the issuer and
    /// the OpenID configuration's endpoints are then built from it alone.
    pinned: Option<String>,
    /// Where clients reach the service when no URL is pinned and a request does not say
    /// (its `Host`): the address it listens on.
    default_base: String,
    audiences: Vec<String>,
    lifetime: Duration,
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    /// The public key's affine coordinates, base64url, for the JWKS.
    x: String,
    y: String,
    /// External issuers whose tokens are accepted too (see [`crate::oidc`]).
    external: Vec<External>,
}

impl Authority {
    /// Loads the tenant id and signing key from the store, generating them on first start.
    /// `pinned` is where clients reach the service, if the operator said so
    /// (`https://ti.example.com`); otherwise each request's own scheme and `Host` name it,
    /// and `default_base` (the address it listens on) when a request does not say. The issuer
    /// is `{base}/{tenant}/v2.0`, as Entra ID names its own.
    pub fn load_or_init(
        store: &dyn Store,
        pinned: Option<&str>,
        default_base: &str,
        audiences: Vec<String>,
        lifetime: Duration,
    ) -> Result<Authority, AuthError> {
        let tenant = tenant(store)?;
        let rng = SystemRandom::new();
        let generated = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| AuthError::Key("cannot generate a key".into()))?;
        let stored = store.init_setting(KEY_SETTING, &STANDARD.encode(generated.as_ref()))?;
        let pkcs8 = STANDARD
            .decode(stored)
            .map_err(|e| AuthError::Key(e.to_string()))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .map_err(|e| AuthError::Key(e.to_string()))?;
        // An uncompressed point: 0x04, then x and y of 32 bytes each.
        let public = pair.public_key().as_ref();
        if public.len() != 65 || public[0] != 4 {
            return Err(AuthError::Key("unexpected public key form".into()));
        }
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(&public[1..33]),
            URL_SAFE_NO_PAD.encode(&public[33..]),
        );
        let decoding =
            DecodingKey::from_ec_components(&x, &y).map_err(|e| AuthError::Key(e.to_string()))?;
        // The key id: a digest of the public key, so it changes only with the key.
        let kid = {
            use sha2::{Digest, Sha256};
            URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12])
        };
        Ok(Authority {
            pinned: pinned.map(|p| p.trim_end_matches('/').to_owned()),
            default_base: default_base.trim_end_matches('/').to_owned(),
            tenant,
            audiences,
            lifetime,
            encoding: EncodingKey::from_ec_der(&pkcs8),
            decoding,
            kid,
            x,
            y,
            external: Vec::new(),
        })
    }

    /// Accepts tokens of these external issuers as well (their keys are fetched with
    /// [`Authority::fetch_keys`]). Refuses our own issuer and an issuer named twice.
    pub fn trust(&mut self, issuers: &[TrustedIssuer]) -> Result<(), String> {
        for (i, t) in issuers.iter().enumerate() {
            if self.is_own_issuer(&t.issuer) {
                return Err(format!("{} is tiport's own issuer", t.issuer));
            }
            if issuers[..i].iter().any(|o| o.issuer == t.issuer) {
                return Err(format!("the issuer {} is named twice", t.issuer));
            }
        }
        self.external = issuers.iter().map(External::new).collect();
        Ok(())
    }

    /// The external issuers trusted.
    pub fn trusted(&self) -> impl Iterator<Item = &str> {
        self.external.iter().map(|e| e.issuer())
    }

    fn external(&self, issuer: &str) -> Option<&External> {
        self.external.iter().find(|e| e.issuer() == issuer)
    }

    /// Whether the caller should fetch `issuer`'s keys now; see [`Refresh`].
    pub fn begin_refresh(&self, issuer: &str) -> Refresh {
        self.external(issuer)
            .map_or(Refresh::Recent, External::begin_refresh)
    }

    /// Waits, holding no thread, until no fetch of `issuer`'s keys is under way (at once if
    /// none is, or if the issuer is not trusted): for callers told [`Refresh::InFlight`].
    pub async fn fetch_finished(&self, issuer: &str) {
        if let Some(e) = self.external(issuer) {
            e.fetch_finished().await;
        }
    }

    /// Fetches `issuer`'s JWKS (blocking I/O); only after [`Authority::begin_refresh`] answered
    /// [`Refresh::Start`].
    pub fn fetch_keys(&self, issuer: &str) -> Result<(), AuthError> {
        match self.external(issuer) {
            Some(e) => e.fetch_keys(),
            None => Ok(()),
        }
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Where a client reaches the service: the pinned URL, else the scheme and authority
    /// the request used (`https`, `ti.example.com:8443`) if that authority is well formed,
    /// else the address the service listens on.
    pub fn base_url(&self, scheme: &str, authority: Option<&str>) -> String {
        if let Some(p) = &self.pinned {
            return p.clone();
        }
        match authority.filter(|a| is_authority(a)) {
            Some(a) => format!("{scheme}://{a}"),
            None => self.default_base.clone(),
        }
    }

    /// The issuer of tokens handed out at `base`.
    pub fn issuer(&self, base: &str) -> String {
        format!("{base}/{}/v2.0", self.tenant)
    }

    /// Whether `iss` is an issuer this service names itself by: the pinned one, or, with none
    /// pinned, `{scheme}://{authority}/{tenant}/v2.0` under any of the names clients reach it
    /// by. Only tokens signed with our key get this far, so accepting every name of ours
    /// trusts nothing more than the key does.
    fn is_own_issuer(&self, iss: &str) -> bool {
        if let Some(p) = &self.pinned {
            return iss == self.issuer(p);
        }
        let Some(rest) = iss
            .strip_prefix("https://")
            .or_else(|| iss.strip_prefix("http://"))
        else {
            return false;
        };
        rest.split_once('/').is_some_and(|(authority, path)| {
            is_authority(authority) && path.strip_suffix("/v2.0") == Some(self.tenant.as_str())
        })
    }

    /// The JWKS document: the one public key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                "kid": self.kid, "x": self.x, "y": self.y,
            }]
        })
    }

    /// The secret hash of client `client_id`, if there is such a client. Checking a secret
    /// against it is the caller's (through [`crate::guard::SignInGuard`], which bounds the
    /// work and throttles failures); then [`Authority::token_for`] issues the token.
    pub fn client_secret_hash(
        &self,
        store: &dyn Store,
        client_id: &str,
    ) -> Result<Option<String>, AuthError> {
        Ok(store
            .principal(client_id)?
            .filter(|p| p.kind == PrincipalKind::Client)
            .and_then(|p| p.secret_hash))
    }

    /// Issues a token for a client whose secret was checked (the client-credentials grant),
    /// naming the issuer at `base` (see [`Authority::base_url`]).
    pub fn token_for(
        &self,
        client_id: &str,
        audience: &str,
        base: &str,
    ) -> Result<IssuedToken, AuthError> {
        let now = Timestamp::now().unix_seconds();
        let claims = Claims {
            iss: self.issuer(base),
            aud: audience.to_owned(),
            sub: client_id.to_owned(),
            appid: client_id.to_owned(),
            tid: self.tenant.clone(),
            iat: now,
            nbf: now,
            exp: now + self.lifetime.as_secs() as i64,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| AuthError::Key(e.to_string()))?;
        Ok(IssuedToken {
            token_type: "Bearer",
            expires_in: self.lifetime.as_secs(),
            access_token: token,
        })
    }

    /// The audience a token request's `scope` asks for (`https://management.azure.com/.default`
    /// → `https://management.azure.com`), if it is one we accept.
    pub fn audience_for_scope(&self, scope: &str) -> Option<String> {
        let resource = scope.strip_suffix("/.default").unwrap_or(scope);
        self.audiences
            .iter()
            .find(|a| a.trim_end_matches('/') == resource.trim_end_matches('/'))
            .map(|a| a.trim_end_matches('/').to_owned())
    }

    /// Checks a presented token; see the module documentation for what is accepted. A token
    /// of a trusted external issuer is checked against that issuer's keys, and its principal
    /// is `<sub>@<issuer>`.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        refuse_critical_extensions(token)?;
        if let Some(iss) = unverified_issuer(token) {
            if let Some(e) = self.external(&iss) {
                return Ok(Identity {
                    principal: e.verify(token, &self.audiences)?,
                });
            }
        }
        let mut v = Validation::new(Algorithm::ES256);
        // The issuer is checked below, against every name of ours.
        v.set_audience(&self.audiences);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = 30;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map_err(|e| AuthError::BadToken(e.to_string()))?;
        if !self.is_own_issuer(&data.claims.iss) {
            return Err(AuthError::BadToken(format!(
                "issuer {:?} is not this service's",
                data.claims.iss
            )));
        }
        Ok(Identity {
            principal: data.claims.sub,
        })
    }
}

/// Whether `a` is a URL authority as clients send it in `Host`: a host name, an IPv4
/// address or a bracketed IPv6 address, and an optional port; nothing that could end a URL
/// or start a path (the OpenID configuration is built from it).
fn is_authority(a: &str) -> bool {
    let (host, port) = match a.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => (h, Some(p)),
        _ => (a, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    };
    // Digits only: `u16::from_str` also takes a sign, and `+443` is no port.
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

/// A JOSE header's `crit` names extensions the recipient must understand or refuse the token
/// (RFC 7515 §4.1.11). tiport understands none, and the JWT library ignores the parameter, so
/// a token that has one is refused here.
fn refuse_critical_extensions(token: &str) -> Result<(), AuthError> {
    let Some(header) = token.split('.').next() else {
        return Ok(());
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(header) else {
        // Not ours to judge: the library refuses a header it cannot read.
        return Ok(());
    };
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes) {
        Ok(h) if h.contains_key("crit") => Err(AuthError::BadToken(format!(
            "the token's header names critical extensions ({}), which are not supported",
            h["crit"]
        ))),
        _ => Ok(()),
    }
}

/// The `iss` claim of a token, read without checking anything: only to choose which keys to
/// check it with.
fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok().map(|i| i.iss)
}

/// A new client's credentials, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct NewClient {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Creates a client with `role` on `workspace`.
pub fn create_client(
    store: &dyn Store,
    tenant: &str,
    workspace: WorkspaceId,
    role: Role,
    name: &str,
) -> Result<NewClient, AuthError> {
    if store.workspace(workspace)?.is_none() {
        return Err(StoreError::NotFound(format!("workspace {workspace}")).into());
    }
    let client_id = uuid::Uuid::new_v4().to_string();
    let secret = random_secret()?;
    store.create_principal(&Principal {
        id: client_id.clone(),
        kind: PrincipalKind::Client,
        name: name.to_owned(),
        secret_hash: Some(hash_secret(&secret)?),
        created: Timestamp::now(),
    })?;
    store.assign_role(workspace, &client_id, role)?;
    Ok(NewClient {
        tenant_id: tenant.to_owned(),
        client_id,
        client_secret: secret,
    })
}

/// 32 random bytes, base64url: 256 bits, safe in a form body and a shell.
pub fn random_secret() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::Key("no randomness".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// An argon2id hash of `secret` with a random salt, as a PHC string.
pub fn hash_secret(secret: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| AuthError::Key("no randomness".into()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Key(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| AuthError::Key(e.to_string()))?
        .to_string())
}

/// Whether `secret` matches a hash from [`hash_secret`] (constant-time in the secret).
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod authority_tests {
    use super::is_authority;

    #[test]
    fn authorities_from_host_headers() {
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:8443",
            "ti.example.com",
            "a_b.internal",
        ] {
            assert!(is_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "evil.com/x",
            "evil.com?",
            "x:99999",
            "x:",
            ":80",
            "[::1",
            "a@b",
            "h\r\nX: y",
            "::1",
            "x:+443",
        ] {
            assert!(!is_authority(bad), "{bad:?}");
        }
    }
}
