//! Sign-in, sign-out and the workspace switcher.
//!
//! A sign-in is checked as a token request is (`token.rs`): the sign-in guard admits it or
//! says when to come back (failures throttled per user name and per address), the password is
//! checked on the guard's threads against the user's hash (or a decoy, for a name that is no
//! user, so both cost the same), and each failure is logged with the name and address, never
//! the password.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use tiport_core::auth::random_secret;
use tiport_core::guard::Attempt;
use tiport_core::session;

use super::{
    cookie, internal, render, set_cookie, signed_in, work, Page, PageResult, User, SESSION_COOKIE,
};
use crate::listener::Secure;
use crate::App;

/// The cookie that the sign-in form's CSRF token must match.
const SIGNIN_COOKIE: &str = "tiport_signin";

#[derive(Template)]
#[template(path = "login.html")]
struct Login {
    page: Page,
    csrf: String,
    username: String,
    problem: Option<String>,
}

/// The sign-in form, with a fresh CSRF token in it and in its cookie.
pub(super) async fn form(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    secure: Option<Extension<Secure>>,
) -> PageResult {
    Ok(match signed_in(&app, &headers).await? {
        Some(_) => Redirect::to("/").into_response(),
        None => login_page(StatusCode::OK, String::new(), None, is_secure(secure)),
    })
}

fn login_page(
    status: StatusCode,
    username: String,
    problem: Option<String>,
    secure: bool,
) -> Response {
    let csrf = match random_secret() {
        Ok(t) => t,
        Err(e) => return internal(&e),
    };
    let mut page = render(
        status,
        &Login {
            page: Page::anonymous(),
            csrf: csrf.clone(),
            username,
            problem,
        },
    );
    page.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SIGNIN_COOKIE, &csrf, "/login", 3600, secure),
    );
    page
}

fn is_secure(secure: Option<Extension<Secure>>) -> bool {
    matches!(secure, Some(Extension(Secure(true))))
}

#[derive(Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// Signs in: on success a session cookie and the way to the overview; otherwise the form
/// again, saying why.
pub(super) async fn sign_in(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    secure: Option<Extension<Secure>>,
    Form(form): Form<SignInForm>,
) -> PageResult {
    let secure = is_secure(secure);
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !session::same_token(expected, &form.csrf) {
        // No cookie, or another page's form: the form was not ours, or it is stale.
        return Ok(login_page(
            StatusCode::FORBIDDEN,
            form.username,
            Some("The sign-in form had expired; please sign in again.".into()),
            secure,
        ));
    }
    let name: String = form.username.trim().chars().take(256).collect();
    let address = peer.ip();
    let attempt = match app.guard.admit(&name, address) {
        Ok(a) => a,
        Err(wait) => {
            tracing::warn!(user = ?name, %address, "sign-in refused: too many failed attempts");
            let secs = wait.as_secs().max(1);
            let mut page = login_page(
                StatusCode::TOO_MANY_REQUESTS,
                name,
                Some(format!(
                    "Too many failed sign-ins; try again in {secs} seconds."
                )),
                secure,
            );
            page.headers_mut().insert(
                header::RETRY_AFTER,
                secs.to_string().parse().expect("digits"),
            );
            return Ok(page);
        }
    };
    if !check_password(&app, attempt, &name, form.password).await? {
        tracing::warn!(user = ?name, %address, "sign-in refused: unknown user or wrong password");
        return Ok(login_page(
            StatusCode::UNAUTHORIZED,
            name,
            Some("Unknown user name or wrong password.".into()),
            secure,
        ));
    }
    let (app2, user) = (app.clone(), name.clone());
    let token = work(move || session::start(&*app2.store, &user)).await?;
    tracing::info!(user = ?name, %address, "signed in");
    let mut to = Redirect::to("/").into_response();
    let cookies = to.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &token,
            "/",
            session::LIFETIME.as_secs(),
            secure,
        ),
    );
    cookies.append(
        header::SET_COOKIE,
        set_cookie(SIGNIN_COOKIE, "", "/login", 0, secure),
    );
    Ok(to)
}

/// Whether `password` is user `name`'s, settling `attempt` (`SignInGuard::check`, as the
/// token endpoint checks a client's secret).
async fn check_password(
    app: &Arc<App>,
    attempt: Attempt<'_>,
    name: &str,
    password: String,
) -> Result<bool, Response> {
    let (app2, name2) = (app.clone(), name.to_owned());
    let hash = match work(move || session::password_hash(&*app2.store, &name2)).await {
        Ok(h) => h,
        Err(page) => {
            attempt.withdraw();
            return Err(page);
        }
    };
    app.guard
        .check(attempt, password, hash)
        .await
        .map_err(|_busy| {
            let mut busy = (
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is busy checking other sign-ins; try again in a moment.",
            )
                .into_response();
            busy.headers_mut()
                .insert(header::RETRY_AFTER, "1".parse().expect("digits"));
            busy
        })
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Signs out: the session ends in the store, so the cookie is worth nothing even if kept.
pub(super) async fn sign_out(
    State(app): State<Arc<App>>,
    User(user): User,
    headers: HeaderMap,
    secure: Option<Extension<Secure>>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    if !user.csrf_matches(&form.csrf) {
        return Err(forbidden());
    }
    let token = cookie(&headers, SESSION_COOKIE)
        .unwrap_or_default()
        .to_owned();
    let app2 = app.clone();
    work(move || session::end(&*app2.store, &token)).await?;
    tracing::info!(user = ?user.user.id, "signed out");
    let mut to = Redirect::to("/login").into_response();
    to.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", 0, is_secure(secure)),
    );
    Ok(to)
}

#[derive(Deserialize)]
pub(super) struct WorkspaceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    workspace: String,
}

/// Switches the workspace the session works in.
pub(super) async fn switch_workspace(
    State(app): State<Arc<App>>,
    User(user): User,
    Form(form): Form<WorkspaceForm>,
) -> PageResult {
    if !user.csrf_matches(&form.csrf) {
        return Err(forbidden());
    }
    let no_such = || (StatusCode::NOT_FOUND, "No such workspace.").into_response();
    let ws = store::WorkspaceId::parse(form.workspace.trim()).map_err(|_| no_such())?;
    let app2 = app.clone();
    match work(move || Ok::<_, String>(session::switch_workspace(&*app2.store, &user, ws))).await? {
        Ok(()) => Ok(Redirect::to("/").into_response()),
        Err(session::SessionError::NoSuchWorkspace) => Err(no_such()),
        Err(e) => Err(internal(&e)),
    }
}

/// A state-changing form without its session's CSRF token.
pub(super) fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "This form is not from your session (or it is out of date); reload the page and try again.",
    )
        .into_response()
}
