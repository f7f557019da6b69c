//! The pages of a signed-in user.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tiport_core::query;

use super::{render, require_user, work, Page, PageResult};
use crate::App;

/// One import as the pages list it.
pub(crate) struct ImportRow {
    pub(crate) id: String,
    pub(crate) source: String,
    pub(crate) file_name: String,
    pub(crate) status: String,
    pub(crate) imported: u64,
    pub(crate) total: u64,
    pub(crate) invalid: u64,
    pub(crate) created: String,
}

impl From<&store::ImportRecord> for ImportRow {
    fn from(r: &store::ImportRecord) -> ImportRow {
        ImportRow {
            id: r.id.to_string(),
            source: r.source.clone(),
            file_name: r.file_name.clone(),
            status: r.status.to_string(),
            imported: r.imported,
            total: r.total,
            invalid: r.invalid,
            created: r.created.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    page: Page,
    workspace_name: String,
    objects: u64,
    versions: u64,
    imports: Vec<ImportRow>,
}

#[derive(Template)]
#[template(path = "no_workspace.html")]
struct NoWorkspace {
    page: Page,
}

/// `/`: what the workspace holds and what came in last.
pub(super) async fn overview(State(app): State<Arc<App>>, headers: HeaderMap) -> PageResult {
    let user = require_user(&app, &headers).await?;
    let Some((ws, _)) = user.workspace.clone() else {
        return Ok(render(
            StatusCode::OK,
            &NoWorkspace {
                page: Page::of(&user, "overview"),
            },
        ));
    };
    let app2 = app.clone();
    let o = work(move || query::overview(&*app2.store, ws.id)).await?;
    Ok(render(
        StatusCode::OK,
        &Overview {
            page: Page::of(&user, "overview"),
            workspace_name: ws.name,
            objects: o.objects,
            versions: o.versions,
            imports: o.latest_imports.iter().map(ImportRow::from).collect(),
        },
    ))
}
