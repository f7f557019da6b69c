//! Threat intelligence (`/intel`): the workspace's current objects, searched by observable
//! value and filtered as the API filters them, and one object's page.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use store::StoredObject;
use tiport_core::query::{self, ListParams, QueryError};

use super::{render, require_user, work, Page, PageResult};
use crate::App;

/// One object as the table shows it.
struct ObjectRow {
    id: String,
    object_type: String,
    name: String,
    /// The pattern of an indicator, the value of an observable, else nothing.
    observable: String,
    source: String,
    tlp: String,
    confidence: String,
    valid_from: String,
    valid_until: String,
    revoked: bool,
    modified: String,
}

fn text(t: &Option<impl ToString>) -> String {
    t.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl From<&StoredObject> for ObjectRow {
    fn from(o: &StoredObject) -> ObjectRow {
        let json: serde_json::Value = serde_json::from_str(&o.json).unwrap_or_default();
        let field = |k: &str| {
            json.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let observable = match field("pattern") {
            p if !p.is_empty() => p,
            _ => field("value"),
        };
        ObjectRow {
            id: o.id.to_string(),
            object_type: o.object_type.clone(),
            name: field("name"),
            observable,
            source: o.source.clone(),
            tlp: o.tlp.map(|t| t.name().to_owned()).unwrap_or_default(),
            confidence: text(&o.confidence),
            valid_from: text(&o.valid_from),
            valid_until: text(&o.valid_until),
            revoked: o.revoked,
            modified: o.modified.to_string(),
        }
    }
}

/// The search form's fields, as the page's address carries them.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct IntelParams {
    #[serde(default)]
    q: String,
    #[serde(default, rename = "type")]
    object_type: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    cursor: String,
}

#[derive(Template)]
#[template(path = "intel.html")]
struct Intel {
    page: Page,
    workspace_name: String,
    q: String,
    object_type: String,
    source: String,
    label: String,
    rows: Vec<ObjectRow>,
    next: Option<String>,
    problem: Option<String>,
}

/// `GET /intel`: a page of current objects.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(p): Query<IntelParams>,
) -> PageResult {
    let user = require_user(&app, &headers).await?;
    let Some((ws, _)) = user.workspace.clone() else {
        return Ok(axum::response::Redirect::to("/").into_response());
    };
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let params = ListParams {
        object_type: some(&p.object_type),
        source: some(&p.source),
        observable: some(&p.q),
        label: some(&p.label),
        cursor: some(&p.cursor),
        limit: Some("50".into()),
        ..ListParams::default()
    };
    let app2 = app.clone();
    let listed = work(move || Ok::<_, String>(query::list(&*app2.store, ws.id, &params))).await?;
    let (rows, next, problem) = match listed {
        Ok(page) => {
            let next = page.next.map(|c| {
                let mut url = url_with(&p);
                url.push_str(&format!("&cursor={}", super::imports::encode(&c)));
                url
            });
            (
                page.objects.iter().map(ObjectRow::from).collect(),
                next,
                None,
            )
        }
        Err(e) => (Vec::new(), None, Some(e.to_string())),
    };
    Ok(render(
        if problem.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &Intel {
            page: Page::of(&user, "intel"),
            workspace_name: ws.name,
            q: p.q,
            object_type: p.object_type,
            source: p.source,
            label: p.label,
            rows,
            next,
            problem,
        },
    ))
}

/// `/intel?…` with the search's fields (not its cursor).
fn url_with(p: &IntelParams) -> String {
    use super::imports::encode;
    format!(
        "/intel?q={}&type={}&source={}&label={}",
        encode(&p.q),
        encode(&p.object_type),
        encode(&p.source),
        encode(&p.label)
    )
}

#[derive(Template)]
#[template(path = "object.html")]
struct ObjectPage {
    page: Page,
    row: ObjectRow,
    /// The object's JSON as stored, laid out for reading.
    json: String,
}

/// `GET /intel/{id}`: one object's current version.
pub(super) async fn object(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let user = require_user(&app, &headers).await?;
    let Some((ws, _)) = user.workspace.clone() else {
        return Ok(axum::response::Redirect::to("/").into_response());
    };
    let app2 = app.clone();
    let found =
        work(move || Ok::<_, String>(query::object_stored(&*app2.store, ws.id, &id))).await?;
    match found {
        Ok(o) => {
            let json = serde_json::from_str::<serde_json::Value>(&o.json)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| o.json.clone());
            Ok(render(
                StatusCode::OK,
                &ObjectPage {
                    page: Page::of(&user, "intel"),
                    row: ObjectRow::from(&o),
                    json,
                },
            ))
        }
        Err(QueryError::NotFound(m) | QueryError::BadParameter(m)) => Err(not_found(&m)),
        Err(e) => Err(super::internal(&e)),
    }
}

fn not_found(message: &str) -> Response {
    (StatusCode::NOT_FOUND, message.to_owned()).into_response()
}
