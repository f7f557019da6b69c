//! Web sessions of local users: started by a sign-in, resumed from the cookie's token on every
//! page, ended by sign-out or after [`LIFETIME`].
//!
//! # Key decisions
//!
//! - The session lives in the store, not in a signed cookie, so that signing out really ends it
//!   (an old cookie replayed finds nothing) and every node of one store knows it.
//! - The store keeps the SHA-256 of the token, never the token: a copy of the database signs
//!   nobody in. The token is 256 random bits, so a hash without salt or stretching is enough.
//! - Each session has its own CSRF token, which every state-changing form carries; it is
//!   compared in constant time.
//! - Roles are read on every resume, as the API reads them on every request: a role revoked
//!   takes effect on the next page.
//!
//! Checking the password itself (throttled, on the sign-in guard's threads) is the caller's:
//! [`password_hash`] gives it what to check against.

use std::time::Duration;

use ring::digest::{digest, SHA256};
use stix::Timestamp;
use store::{Principal, PrincipalKind, Role, Session, Store, Workspace, WorkspaceId};

use crate::auth::{random_secret, AuthError};
use crate::error::{DomainError, ErrorKind};

/// How long a session lasts, however it is used: a working day.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Why a session could not be started, resumed or changed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The user has no role on that workspace (or it does not exist): the same answer for
    /// both, as the API gives.
    #[error("no such workspace")]
    NoSuchWorkspace,
    /// A user that cannot be made: its name or password breaks a rule (the message says which).
    #[error("{0}")]
    BadUser(String),
}

impl DomainError for SessionError {
    fn kind(&self) -> ErrorKind {
        match self {
            SessionError::NoSuchWorkspace => ErrorKind::NotFound,
            SessionError::BadUser(_) => ErrorKind::BadRequest,
            SessionError::Store(_) | SessionError::Auth(_) => ErrorKind::Internal,
        }
    }
}

/// A signed-in user, as a page needs it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: Session,
    pub user: Principal,
    /// Every workspace the user has a role on, by name.
    pub workspaces: Vec<(Workspace, Role)>,
    /// The one the user works in: the session's choice, else the first of `workspaces`.
    pub workspace: Option<(Workspace, Role)>,
}

impl SignedIn {
    /// Whether `token` (from a form) is this session's CSRF token.
    pub fn csrf_matches(&self, token: &str) -> bool {
        same_token(&self.session.csrf, token)
    }
}

/// Whether two tokens are equal, in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The hash the store keeps of a session's token.
pub fn token_hash(token: &str) -> String {
    digest(&SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fewest characters a user's password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Makes user `name` (the name signs in) with `password` and `role` on `workspace`.
pub fn create_user(
    store: &dyn Store,
    workspace: WorkspaceId,
    role: Role,
    name: &str,
    password: &str,
) -> Result<(), SessionError> {
    let name_ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !name_ok {
        return Err(SessionError::BadUser(format!(
            "a user name is 1 to 64 letters, digits, '.', '_', '-' or '@', not {name:?}"
        )));
    }
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(SessionError::BadUser(format!(
            "the password has {chars} characters; it needs at least {MIN_PASSWORD_CHARS}"
        )));
    }
    if password.len() > 1024 {
        return Err(SessionError::BadUser(
            "the password is longer than 1,024 bytes".into(),
        ));
    }
    if store.workspace(workspace)?.is_none() {
        return Err(SessionError::NoSuchWorkspace);
    }
    store.create_principal(&Principal {
        id: name.to_owned(),
        kind: PrincipalKind::User,
        name: name.to_owned(),
        secret_hash: Some(crate::auth::hash_secret(password)?),
        created: Timestamp::now(),
    })?;
    store.assign_role(workspace, name, role)?;
    Ok(())
}

/// The password hash of user `name`, if there is such a user with a password (clients and
/// external principals cannot sign in to the web UI).
pub fn password_hash(store: &dyn Store, name: &str) -> Result<Option<String>, SessionError> {
    Ok(store
        .principal(name)?
        .filter(|p| p.kind == PrincipalKind::User)
        .and_then(|p| p.secret_hash))
}

/// Starts a session for `user`, whose password the caller has checked; the cookie's token.
pub fn start(store: &dyn Store, user: &str) -> Result<String, SessionError> {
    let token = random_secret()?;
    let now = Timestamp::now();
    let workspace = store.roles_of(user)?.first().map(|(ws, _)| *ws);
    store.create_session(&Session {
        id_hash: token_hash(&token),
        principal: user.to_owned(),
        workspace,
        csrf: random_secret()?,
        created: now,
        expires: later(now, LIFETIME),
    })?;
    Ok(token)
}

/// The signed-in user of the session `token` names, if it exists and has not expired (an
/// expired one is deleted on the way).
pub fn resume(store: &dyn Store, token: &str) -> Result<Option<SignedIn>, SessionError> {
    let Some(session) = store.session(&token_hash(token))? else {
        return Ok(None);
    };
    if session.expires <= Timestamp::now() {
        store.delete_session(&session.id_hash)?;
        return Ok(None);
    }
    let Some(user) = store
        .principal(&session.principal)?
        .filter(|p| p.kind == PrincipalKind::User)
    else {
        return Ok(None);
    };
    let mut workspaces = Vec::new();
    for (id, role) in store.roles_of(&user.id)? {
        if let Some(ws) = store.workspace(id)? {
            workspaces.push((ws, role));
        }
    }
    workspaces.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(a.0.id.cmp(&b.0.id)));
    let workspace = session
        .workspace
        .and_then(|id| workspaces.iter().find(|(w, _)| w.id == id))
        .or(workspaces.first())
        .cloned();
    Ok(Some(SignedIn {
        session,
        user,
        workspaces,
        workspace,
    }))
}

/// Makes `workspace` the one the session works in, if the user has a role on it.
pub fn switch_workspace(
    store: &dyn Store,
    signed_in: &SignedIn,
    workspace: WorkspaceId,
) -> Result<(), SessionError> {
    if !signed_in.workspaces.iter().any(|(w, _)| w.id == workspace) {
        return Err(SessionError::NoSuchWorkspace);
    }
    Ok(store.set_session_workspace(&signed_in.session.id_hash, workspace)?)
}

/// Ends the session `token` names, if any.
pub fn end(store: &dyn Store, token: &str) -> Result<(), SessionError> {
    store.delete_session(&token_hash(token))?;
    Ok(())
}

fn later(t: Timestamp, d: Duration) -> Timestamp {
    let secs = t
        .unix_seconds()
        .saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Timestamp::from_unix(secs, t.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_hash_is_sha256_in_hex() {
        // RFC 6234's test vector "abc".
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
