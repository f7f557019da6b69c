//! Import → Import using a file (`/imports/new`) and Import → Manage file imports (`/imports`),
//! as seed 000 describes them.
//!
//! The form is the API's form (`crate::imports::receive` reads it, under the same bounds);
//! only the way in differs: the session instead of a token, and the session's CSRF token in
//! the form's address (`?csrf=`), since a multipart body is read only after the place in the
//! queue is taken, and the check must come first.

use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use serde::Deserialize;
use tiport_core::query::{self, ImportListParams};

use super::pages::ImportRow;
use super::{render, work, Here, Page, PageResult, SortLink};
use crate::answers::AnswerPermit;
use crate::imports::form_urlencoded;
use crate::routes::throttle;
use crate::App;

#[derive(Template)]
#[template(path = "import_new.html")]
struct ImportNew {
    page: Page,
    workspace_name: String,
    /// Whether the user may import here (a reader sees the form disabled).
    can_import: bool,
    csrf: String,
    /// The server's refusal of the last attempt, when the form was posted without a script.
    problem: Option<String>,
}

/// `GET /imports/new`: the form.
pub(super) async fn form(here: Here) -> PageResult {
    Ok(render(
        StatusCode::OK,
        &ImportNew {
            page: Page::of(&here.user, "import"),
            workspace_name: here.name.clone(),
            can_import: here.may_change(),
            csrf: here.user.session.csrf.clone(),
            problem: None,
        },
    ))
}

#[derive(Deserialize)]
pub(super) struct CsrfParam {
    #[serde(default)]
    csrf: String,
}

/// `POST /imports/new?csrf=…`: the form with its file. A script's request (it asks for JSON)
/// is answered as the API answers; a form posted without a script is sent to Manage file
/// imports, or shown the form again with the refusal.
pub(super) async fn create(
    State(app): State<Arc<App>>,
    here: Here,
    Query(q): Query<CsrfParam>,
    headers: HeaderMap,
    body: Body,
) -> PageResult {
    if !here.user.csrf_matches(&q.csrf) {
        return Err(super::signin::forbidden());
    }
    let ws = here.writable().ok_or_else(super::reader_refused)?;
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let principal = here.user.user.id.clone();
    let received = match throttle(&app, &principal) {
        Ok(()) => crate::imports::receive(&app, &principal, ws, &headers, body).await,
        Err(e) => Err(e),
    };
    match (received, wants_json) {
        (Ok(record), true) => Ok((
            StatusCode::ACCEPTED,
            Json(
                serde_json::json!({"id": record.id.to_string(), "status": record.status.as_str()}),
            ),
        )
            .into_response()),
        (Ok(_), false) => Ok(Redirect::to("/imports").into_response()),
        (Err(e), true) => Ok(e.into_response()),
        (Err(e), false) => Ok(render(
            e.status(),
            &ImportNew {
                page: Page::of(&here.user, "import"),
                workspace_name: here.name.clone(),
                can_import: true,
                csrf: here.user.session.csrf.clone(),
                problem: Some(e.public_message()),
            },
        )),
    }
}

#[derive(Template)]
#[template(path = "imports.html")]
struct Imports {
    page: Page,
    workspace_name: String,
    rows: Vec<ImportRow>,
    /// Each sortable column's link and whether the list is sorted by it (and which way).
    columns: Vec<SortLink>,
    /// The next page's address, if there may be one.
    next: Option<String>,
    /// Whether an import is still queued or running (the page then refreshes itself).
    open: bool,
    problem: Option<String>,
}

/// `GET /imports`: the workspace's imports, sortable, a page at a time.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    here: Here,
    Query(params): Query<ImportListParams>,
) -> PageResult {
    let (ws, p) = (here.ws, params.clone());
    let app2 = app.clone();
    let listed = work(move || Ok::<_, String>(query::imports(&*app2.store, ws, &p))).await?;
    let sort = params.sort.clone().unwrap_or_else(|| "created".into());
    let order = params.order.clone().unwrap_or_else(|| "desc".into());
    let (rows, next, problem) = match listed {
        Ok(list) => {
            let next = list.next.map(|c| {
                format!(
                    "/imports?sort={sort}&order={order}&cursor={}",
                    form_urlencoded(&c)
                )
            });
            let rows = list
                .records
                .iter()
                .map(|r| ImportRow {
                    progress: app.imports.progress(r.id),
                    ..ImportRow::from(r)
                })
                .collect();
            (rows, next, None)
        }
        Err(e) => (Vec::new(), None, Some(e.to_string())),
    };
    let open = rows
        .iter()
        .any(|r: &ImportRow| r.status == "queued" || r.status == "running");
    let columns = [
        ("Source", "source"),
        ("Name", "name"),
        ("Imported", "imported"),
        ("Total", "total"),
        ("Created", "created"),
    ]
    .into_iter()
    .map(|(label, key)| SortLink::new(label, key, "asc", (&sort, &order), "/imports?"))
    .collect();
    Ok(render(
        super::status_of(&problem),
        &Imports {
            page: Page::of(&here.user, "imports"),
            workspace_name: here.name.clone(),
            rows,
            columns,
            next,
            open,
            problem,
        },
    ))
}

/// The most error entries the import's page shows.
const PREVIEW_ENTRIES: usize = 50;

/// One entry of an error file as the page shows it.
struct ErrorEntry {
    /// "line 12" for a CSV row, "record 3" for a JSON record.
    place: String,
    messages: Vec<String>,
}

impl ErrorEntry {
    fn of(entry: &serde_json::Value) -> ErrorEntry {
        let place = match (entry.get("line"), entry.get("recordIndex")) {
            (Some(line), _) => format!("line {line}"),
            (None, Some(index)) => format!("record {index}"),
            (None, None) => String::new(),
        };
        let messages = entry
            .get("errorMessages")
            .and_then(|m| m.as_array())
            .map(|m| {
                m.iter()
                    .map(|x| x.as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        ErrorEntry { place, messages }
    }
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    page: Page,
    row: ImportRow,
    mode: String,
    message: Option<String>,
    /// The error file's first entries, when it is still kept.
    errors: Vec<ErrorEntry>,
    /// Whether the import had an error file that retention has since deleted.
    expired: bool,
    /// Whether there are more entries than shown.
    more: bool,
}

/// `GET /imports/{id}`: one import, and the first entries of its error file.
pub(super) async fn import(
    State(app): State<Arc<App>>,
    here: Here,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let (app2, ws) = (app.clone(), here.ws);
    let found = work(move || {
        let record = query::import(&*app2.store, ws, &id)?;
        let preview = match (&record.error_path, record.invalid) {
            (Some(_), _) => Some(query::import_errors(
                &*app2.store,
                ws,
                &id,
                &query::ErrorsParams {
                    preview: Some((PREVIEW_ENTRIES + 1).to_string()),
                },
            )),
            _ => None,
        };
        Ok::<_, query::QueryError>((record, preview))
    })
    .await;
    let (record, preview) = match found {
        Ok(f) => f,
        // An import of another workspace, or none: the same answer.
        Err(_) => return Err((StatusCode::NOT_FOUND, "No such import.").into_response()),
    };
    let (errors, expired) = match preview {
        Some(Ok(query::ImportErrors::Preview(entries))) => (
            entries.iter().map(ErrorEntry::of).collect::<Vec<_>>(),
            false,
        ),
        Some(_) => (Vec::new(), true),
        None => (Vec::new(), record.invalid > 0 && record.status.is_final()),
    };
    let more = errors.len() > PREVIEW_ENTRIES;
    Ok(render(
        StatusCode::OK,
        &ImportPage {
            page: Page::of(&here.user, "imports"),
            row: ImportRow::from(&record),
            mode: record.mode.to_string(),
            message: record.message.clone(),
            errors: errors.into_iter().take(PREVIEW_ENTRIES).collect(),
            expired,
            more,
        },
    ))
}

/// `GET /imports/{id}/errors`: the error file, to download.
pub(super) async fn error_file(
    State(app): State<Arc<App>>,
    here: Here,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let (app2, id2, ws) = (app.clone(), id.clone(), here.ws);
    let found = work(move || {
        Ok::<_, String>(query::import_errors(
            &*app2.store,
            ws,
            &id2,
            &query::ErrorsParams::default(),
        ))
    })
    .await?;
    let Ok(query::ImportErrors::File { file, format }) = found else {
        return Err((
            StatusCode::NOT_FOUND,
            "This import has no error file: no record was invalid, or it was deleted after 24 hours.",
        )
            .into_response());
    };
    // A large answer, as the API's download of the same file is: bounded per user.
    let permit =
        AnswerPermit::take(&app, &here.user.user.id).map_err(IntoResponse::into_response)?;
    Ok(permit.hold(crate::imports::error_file_answer(file, format, &id)))
}
