//! The web UI: server-rendered pages for analysts, beside the API and on the same use cases.
//!
//! # Key decisions
//!
//! - Pages are askama templates (`templates/`), checked when the crate compiles, and every
//!   value they print is HTML-escaped: an indicator named `<script>` shows as those characters.
//! - No framework and no build step: one stylesheet and one script (`static/`), embedded in the
//!   binary and served under names that carry a hash of their content, so a browser may keep
//!   them for ever and still gets a new one after an upgrade.
//! - A strict Content-Security-Policy on every page (scripts and styles only from these files,
//!   nothing inline, no framing, forms only to us), `X-Frame-Options: DENY` and
//!   `Referrer-Policy: same-origin`.
//! - Sign-in makes a session in the store (`tiport_core::session`); its token is an `HttpOnly`,
//!   `SameSite=Strict` cookie (`Secure` over TLS). Every state-changing form carries the
//!   session's CSRF token; the sign-in form, before there is a session, carries one that must
//!   match a cookie of its own (double submit).
//!
//! Files: `mod.rs` (routes, assets, headers, cookies, the page frame), `signin.rs` (sign-in,
//! sign-out, the workspace switcher), `pages.rs` (the overview), `imports.rs` (Import using a
//! file, Manage file imports), `intel.rs` (Threat intelligence: the list, its search, one object).

mod imports;
mod intel;
mod pages;
mod signin;

use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use store::{Role, WorkspaceId};
use tiport_core::session::{self, SignedIn};

use crate::App;

/// The cookie that holds a session's token.
const SESSION_COOKIE: &str = "tiport_session";

/// The web UI's routes.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(signin::form).post(signin::sign_in))
        .route("/logout", post(signin::sign_out))
        .route("/workspace", post(signin::switch_workspace))
        .route(
            "/imports/new",
            get(imports::form)
                .post(imports::create)
                // The form's file is streamed to disk under the import limits (imports.rs).
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/imports", get(imports::list))
        .route("/imports/{id}", get(imports::import))
        .route("/imports/{id}/errors", get(imports::error_file))
        .route("/intel", get(intel::list))
        .route("/intel/new", get(intel::new).post(intel::add))
        .route("/intel/{id}", get(intel::object))
        .route("/intel/{id}/revoke", post(intel::revoke))
        .route("/static/{name}", get(asset))
        .layer(axum::middleware::map_response(page_headers))
}

/// The headers every page and asset carries.
async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// An embedded file and the name it is served under.
pub(crate) struct Asset {
    pub(crate) path: String,
    bytes: &'static [u8],
    content_type: &'static str,
}

/// The stylesheet and the script, named by their content.
pub(crate) struct Assets {
    pub(crate) css: Asset,
    pub(crate) js: Asset,
}

impl Assets {
    fn all(&self) -> [&Asset; 2] {
        [&self.css, &self.js]
    }
}

pub(crate) static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    css: Asset::named(
        "app",
        "css",
        include_bytes!("../../static/app.css"),
        "text/css; charset=utf-8",
    ),
    js: Asset::named(
        "app",
        "js",
        include_bytes!("../../static/app.js"),
        "text/javascript; charset=utf-8",
    ),
});

impl Asset {
    /// `/static/<stem>.<hash>.<extension>`: the hash changes with the content, which is what a
    /// cache-busting name needs (it is no security measure, so the standard hasher will do).
    fn named(
        stem: &str,
        extension: &str,
        bytes: &'static [u8],
        content_type: &'static str,
    ) -> Asset {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        Asset {
            path: format!("/static/{stem}.{:016x}.{extension}", hasher.finish()),
            bytes,
            content_type,
        }
    }
}

async fn asset(Path(name): Path<String>) -> Response {
    let wanted = format!("/static/{name}");
    match ASSETS.all().into_iter().find(|a| a.path == wanted) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// The value of cookie `name` in the request, if it sent one.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Secure` when the connection is TLS;
/// `max_age` 0 deletes it.
fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie values are tokens of URL-safe base64")
}

/// What a page handler answers: its page, or another page that answers instead (the sign-in
/// form, a refusal, an error), so that handlers can use `?`.
type PageResult = Result<Response, Response>;

/// Runs store work off the async threads; its failure is a logged error page.
async fn work<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, Response>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(internal(&e)),
        Err(e) => Err(internal(&e)),
    }
}

/// The signed-in user of this request, if its session cookie names a live session.
async fn signed_in(app: &Arc<App>, headers: &HeaderMap) -> Result<Option<SignedIn>, Response> {
    let Some(token) = cookie(headers, SESSION_COOKIE).map(str::to_owned) else {
        return Ok(None);
    };
    let app = app.clone();
    work(move || session::resume(&*app.store, &token)).await
}

/// The user of a request that needs one signed in, or the way to the sign-in form.
async fn require_user(app: &Arc<App>, headers: &HeaderMap) -> Result<SignedIn, Response> {
    match signed_in(app, headers).await? {
        Some(user) => Ok(user),
        None => Err(Redirect::to("/login").into_response()),
    }
}

/// The signed-in user of a request, as an extractor: without a live session, the request is
/// answered with the way to the sign-in form.
pub(crate) struct User(pub(crate) SignedIn);

impl FromRequestParts<Arc<App>> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<User, Response> {
        require_user(app, &parts.headers).await.map(User)
    }
}

/// A signed-in user and the workspace they work in, as an extractor: what most pages need.
/// Without a session, the way to the sign-in form; without any workspace, the way to the
/// overview, which says so.
pub(crate) struct Here {
    pub(crate) user: SignedIn,
    pub(crate) ws: WorkspaceId,
    pub(crate) name: String,
    pub(crate) role: Role,
}

impl Here {
    /// Whether the user may change this workspace (import, add, revoke).
    pub(crate) fn may_change(&self) -> bool {
        self.role == Role::Contributor
    }

    /// The workspace, if the user may change it.
    pub(crate) fn writable(&self) -> Option<WorkspaceId> {
        self.may_change().then_some(self.ws)
    }
}

/// What a reader who posts a change anyway is told.
pub(crate) fn reader_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "The reader role cannot change this workspace; a contributor role is needed.",
    )
        .into_response()
}

impl FromRequestParts<Arc<App>> for Here {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Here, Response> {
        let user = require_user(app, &parts.headers).await?;
        match user.workspace.clone() {
            Some((w, role)) => Ok(Here {
                user,
                ws: w.id,
                name: w.name,
                role,
            }),
            None => Err(Redirect::to("/").into_response()),
        }
    }
}

/// A failure of ours, logged; the page says only that.
fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "a web page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html("<!doctype html><title>Error · tiport</title><p>Something went wrong on our side; it was logged."),
    )
        .into_response()
}

/// What the page frame (`base.html`) shows: the assets, and the signed-in user's header.
pub(crate) struct Page {
    pub(crate) assets: &'static Assets,
    pub(crate) user: Option<UserView>,
    /// Which entry of the main navigation the page belongs to.
    pub(crate) section: &'static str,
}

/// The header's view of the signed-in user.
pub(crate) struct UserView {
    pub(crate) name: String,
    pub(crate) csrf: String,
    pub(crate) workspaces: Vec<WorkspaceView>,
}

pub(crate) struct WorkspaceView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) selected: bool,
}

impl Page {
    fn anonymous() -> Page {
        Page {
            assets: &ASSETS,
            user: None,
            section: "",
        }
    }

    fn of(user: &SignedIn, section: &'static str) -> Page {
        let current = user.workspace.as_ref().map(|(w, _)| w.id);
        Page {
            assets: &ASSETS,
            user: Some(UserView {
                name: user.user.name.clone(),
                csrf: user.session.csrf.clone(),
                workspaces: user
                    .workspaces
                    .iter()
                    .map(|(w, role)| WorkspaceView {
                        id: w.id.to_string(),
                        name: w.name.clone(),
                        role: role.to_string(),
                        selected: Some(w.id) == current,
                    })
                    .collect(),
            }),
            section,
        }
    }
}

/// The status of a page that shows `problem`, if it has one: the request was not right.
fn status_of(problem: &Option<String>) -> StatusCode {
    if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// Renders `template` as the page's HTML, with `status`.
fn render(status: StatusCode, template: &impl askama::Template) -> Response {
    match template.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => internal(&e),
    }
}

/// A column heading that sorts the list.
pub(super) struct SortLink {
    pub(super) label: &'static str,
    pub(super) href: String,
    /// `ascending`, `descending` or `none`, as `aria-sort` says it.
    pub(super) aria_sort: &'static str,
}

impl SortLink {
    /// The header of column `label`, which sorts by `key` (`first` the order its first click
    /// asks for), in a list sorted by `sort` in `order`: a click on the column it is sorted by
    /// turns the order round. `base` is the list's address up to its sort parameters, ending
    /// in `?` or `&`.
    pub(super) fn new(
        label: &'static str,
        key: &str,
        first: &str,
        (sort, order): (&str, &str),
        base: &str,
    ) -> SortLink {
        let current = sort == key;
        let next_order = match (current, order) {
            (true, "asc") => "desc",
            (true, _) => "asc",
            (false, _) => first,
        };
        SortLink {
            label,
            href: format!("{base}sort={key}&order={next_order}"),
            aria_sort: match (current, order) {
                (true, "asc") => "ascending",
                (true, _) => "descending",
                _ => "none",
            },
        }
    }
}
