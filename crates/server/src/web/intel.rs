//! Threat intelligence (`/intel`): the workspace's current objects, searched by observable
//! value and filtered as the API filters them, and one object's page.

use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use store::StoredObject;
use tiport_core::intel::{self, IntelError};
use tiport_core::query::{self, ListParams, QueryError};

use super::{render, work, Here, Page, PageResult, SortLink};
use crate::imports::form_urlencoded;
use crate::App;

/// How long one page of the list looks for objects (passing the filters or not): filters few
/// objects pass would otherwise read a whole workspace for one page, seconds at ten million
/// objects. A page that looks this long says so and links to the rest. A time rather than a
/// number of objects: an object costs 1 µs in the order of storing, 5 µs in id order and
/// 20 µs found by name (BENCHMARKS.md, "Web UI").
const LOOK_FOR: Duration = Duration::from_millis(30);

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
    /// When tiport stored the current version.
    stored: String,
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
            stored: o.stored.to_string(),
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
    tlp: String,
    /// `valid` (valid now), `expired`, `revoked`, or empty for any.
    #[serde(default)]
    validity: String,
    /// `stored` (the default: newest first) or `id` (so by type first).
    #[serde(default)]
    sort: String,
    /// `asc` or `desc`.
    #[serde(default)]
    order: String,
    #[serde(default)]
    cursor: String,
}

impl IntelParams {
    /// The sort and order asked for, or the page's default: newest first.
    fn sort_and_order(&self) -> (&'static str, &'static str) {
        let sort = match self.sort.as_str() {
            "id" => "id",
            _ => "stored",
        };
        let order = match (self.order.as_str(), sort) {
            ("asc", _) => "asc",
            ("desc", _) => "desc",
            (_, "id") => "asc",
            _ => "desc",
        };
        (sort, order)
    }
}

#[derive(Template)]
#[template(path = "intel.html")]
struct Intel {
    page: Page,
    can_add: bool,
    workspace_name: String,
    q: String,
    object_type: String,
    source: String,
    label: String,
    tlps: Vec<Choice>,
    validities: Vec<Choice>,
    rows: Vec<ObjectRow>,
    /// The sortable columns' headers; none while searching (a search has its own order).
    sorts: Vec<SortLink>,
    searching: bool,
    sort: String,
    order: String,
    /// Whether the page ended because it looked for [`LOOK_FOR`].
    looked_far: bool,
    looked_for_ms: u128,
    next: Option<String>,
    problem: Option<String>,
}

/// `GET /intel`: a page of current objects.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    here: Here,
    Query(p): Query<IntelParams>,
) -> PageResult {
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let now = Some(intel::now_text());
    let (valid_at, expired_at, revoked) = match p.validity.as_str() {
        "valid" => (now, None, Some("false".to_owned())),
        "expired" => (None, now, None),
        "revoked" => (None, None, Some("true".to_owned())),
        _ => (None, None, None),
    };
    let (sort, order) = p.sort_and_order();
    let searching = !p.q.trim().is_empty();
    let params = ListParams {
        object_type: some(&p.object_type),
        source: some(&p.source),
        label: some(&p.label),
        sort: (!searching).then(|| sort.to_owned()),
        order: (!searching).then(|| order.to_owned()),
        tlp: some(&p.tlp),
        valid_at,
        expired_at,
        revoked,
        cursor: some(&p.cursor),
        limit: Some("50".into()),
        ..ListParams::default()
    };
    let app2 = app.clone();
    let ws = here.ws;
    let q = p.q.clone();
    let listed = work(move || {
        Ok::<_, String>(if q.trim().is_empty() {
            query::list_within(&*app2.store, ws, &params, Some(Instant::now() + LOOK_FOR))
        } else {
            query::search(
                &*app2.store,
                ws,
                &q,
                &params,
                Some(Instant::now() + LOOK_FOR),
            )
        })
    })
    .await?;
    let (rows, next, problem, looked_far) = match listed {
        Ok(page) => {
            let looked_far = page.out_of_time;
            let next = page.next.map(|c| {
                let mut url = url_with(&p);
                url.push_str(&format!("&cursor={}", form_urlencoded(&c)));
                url
            });
            (
                page.objects.iter().map(ObjectRow::from).collect(),
                next,
                None,
                looked_far,
            )
        }
        Err(e) => (Vec::new(), None, Some(e.to_string()), false),
    };
    let sorts = if searching {
        Vec::new()
    } else {
        sort_links(&p, sort, order)
    };
    Ok(render(
        super::status_of(&problem),
        &Intel {
            can_add: here.may_change(),
            page: Page::of(&here.user, "intel"),
            workspace_name: here.name.clone(),
            q: p.q,
            object_type: p.object_type,
            source: p.source,
            label: p.label,
            tlps: choices(
                &[
                    ("", "any"),
                    ("clear", "clear"),
                    ("green", "green"),
                    ("amber", "amber"),
                    ("amber+strict", "amber+strict"),
                    ("red", "red"),
                ],
                &p.tlp,
            ),
            validities: choices(
                &[
                    ("", "any"),
                    ("valid", "valid now"),
                    ("expired", "expired"),
                    ("revoked", "revoked"),
                ],
                &p.validity,
            ),
            rows,
            sorts,
            searching,
            sort: sort.to_owned(),
            order: order.to_owned(),
            looked_far,
            looked_for_ms: LOOK_FOR.as_millis(),
            next,
            problem,
        },
    ))
}

/// The headers of the columns the list sorts by, each a link that sorts by it (the other way
/// round when it is sorted by it already), keeping the filters.
fn sort_links(p: &IntelParams, sort: &str, order: &str) -> Vec<SortLink> {
    let base = format!(
        "{}&",
        url_with(&IntelParams {
            sort: String::new(),
            order: String::new(),
            ..p.clone()
        })
    );
    [("Type", "id", "asc"), ("Stored", "stored", "desc")]
        .into_iter()
        .map(|(label, key, first)| SortLink::new(label, key, first, (sort, order), &base))
        .collect()
}

/// One option of a select of the search form.
struct Choice {
    value: &'static str,
    shown: &'static str,
    selected: bool,
}

fn choices(all: &[(&'static str, &'static str)], chosen: &str) -> Vec<Choice> {
    all.iter()
        .map(|(value, shown)| Choice {
            value,
            shown,
            selected: *value == chosen,
        })
        .collect()
}

/// `/intel?…` with the search's fields and order (not its cursor).
fn url_with(p: &IntelParams) -> String {
    let mut url = format!(
        "/intel?q={}&type={}&source={}&label={}&tlp={}&validity={}",
        form_urlencoded(&p.q),
        form_urlencoded(&p.object_type),
        form_urlencoded(&p.source),
        form_urlencoded(&p.label),
        form_urlencoded(&p.tlp),
        form_urlencoded(&p.validity)
    );
    if !p.sort.is_empty() {
        url.push_str(&format!(
            "&sort={}&order={}",
            form_urlencoded(&p.sort),
            form_urlencoded(&p.order)
        ));
    }
    url
}

#[derive(Template)]
#[template(path = "object.html")]
struct ObjectPage {
    page: Page,
    row: ObjectRow,
    versions: Vec<VersionRow>,
    more_versions: bool,
    relationships: Vec<RelationRow>,
    csrf: String,
    can_change: bool,
    /// The object's JSON as stored (its members in their order), laid out for reading.
    json: String,
}

/// `GET /intel/{id}`: one object's current version.
pub(super) async fn object(
    State(app): State<Arc<App>>,
    here: Here,
    Path(id): Path<String>,
) -> PageResult {
    let (app2, ws) = (app.clone(), here.ws);
    let found = work(move || {
        let store = &*app2.store;
        let found = query::object_stored(store, ws, &id).and_then(|o| {
            let history = query::version_history(store, ws, &id, MAX_VERSIONS)?;
            let related = query::relationships(store, ws, &id, MAX_RELATIONSHIPS)?
                .into_iter()
                .map(|r| RelationRow::of(store, ws, r))
                .collect::<Vec<_>>();
            Ok((o, history, related))
        });
        Ok::<_, String>(found)
    })
    .await?;
    match found {
        Ok((o, (versions, more_versions), relationships)) => {
            let json = query::readable_json(&o.json);
            Ok(render(
                StatusCode::OK,
                &ObjectPage {
                    page: Page::of(&here.user, "intel"),
                    row: ObjectRow::from(&o),
                    versions: versions.iter().map(VersionRow::from).collect(),
                    more_versions,
                    relationships,
                    csrf: here.user.session.csrf.clone(),
                    can_change: here.may_change(),
                    json,
                },
            ))
        }
        Err(QueryError::NotFound(m) | QueryError::BadParameter(m)) => Err(not_found(&m)),
        Err(e) => Err(super::internal(&e)),
    }
}

/// The most versions an object's page lists.
const MAX_VERSIONS: usize = 100;

/// The most relationships an object's page lists.
const MAX_RELATIONSHIPS: usize = 200;

/// A relationship as the object's page lists it.
struct RelationRow {
    relationship: String,
    relationship_type: String,
    /// Whether the object is its source.
    outgoing: bool,
    other: String,
    /// The other object's name, or its id.
    other_name: String,
    revoked: bool,
}

impl RelationRow {
    fn of(store: &dyn store::Store, ws: store::WorkspaceId, r: query::Related) -> RelationRow {
        let other_name = store
            .current(ws, &r.other)
            .ok()
            .flatten()
            .and_then(|o| {
                let json: serde_json::Value = serde_json::from_str(&o.json).ok()?;
                json.get("name")?.as_str().map(str::to_owned)
            })
            .unwrap_or_else(|| r.other.to_string());
        RelationRow {
            relationship: r.relationship.to_string(),
            relationship_type: r.relationship_type,
            outgoing: r.outgoing,
            other: r.other.to_string(),
            other_name,
            revoked: r.revoked,
        }
    }
}

/// One version as the object's page lists it.
struct VersionRow {
    modified: String,
    stored: String,
    revoked: bool,
    source: String,
    /// The import it came in by, if it did.
    import: Option<String>,
    /// Otherwise the request.
    request: String,
    /// What changed from the version before, in words (empty for the first).
    changes: String,
}

impl From<&query::VersionSummary> for VersionRow {
    fn from(v: &query::VersionSummary) -> VersionRow {
        let (import, request) = match &v.origin {
            Some(store::Origin::Import(id)) => (Some(id.to_string()), String::new()),
            Some(store::Origin::Request(r)) => (None, r.clone()),
            None => (None, String::new()),
        };
        let said = [
            ("changed", &v.changed),
            ("added", &v.added),
            ("removed", &v.removed),
        ]
        .iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| format!("{what} {}", names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
        VersionRow {
            changes: said,
            modified: v.modified.to_string(),
            stored: v.stored.to_string(),
            revoked: v.revoked,
            source: v.source.clone(),
            import,
            request,
        }
    }
}

fn not_found(message: &str) -> Response {
    (StatusCode::NOT_FOUND, message.to_owned()).into_response()
}

/// The fields of Add new: the csv-other template's columns, by the names the template gives
/// them, so that a message names the field as the CSV import names the column.
const NEW_FIELDS: [(&str, &str); 11] = [
    ("observableType", "Observable type"),
    ("observableValue", "Observable value"),
    ("name", "Name"),
    ("description", "Description"),
    ("threatTypes", "Threat types (comma-separated)"),
    ("tags", "Tags (comma-separated)"),
    ("confidence", "Confidence (0–100)"),
    ("validFrom", "Valid from (e.g. 2026-01-31T00:00:00Z)"),
    ("validUntil", "Valid until"),
    (
        "tlpLevel",
        "TLP (white, clear, green, amber, amber+strict, red)",
    ),
    ("severity", "Severity (0–10)"),
];

/// One field of the Add new form, with what was typed in it.
struct NewField {
    name: &'static str,
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "intel_new.html")]
struct IntelNew {
    page: Page,
    can_add: bool,
    csrf: String,
    source: String,
    fields: Vec<NewField>,
    problems: Vec<String>,
}

fn new_form(
    here: &Here,
    values: &std::collections::HashMap<String, String>,
    problems: Vec<String>,
) -> IntelNew {
    IntelNew {
        page: Page::of(&here.user, "intel"),
        can_add: here.may_change(),
        csrf: here.user.session.csrf.clone(),
        source: values.get("source").cloned().unwrap_or_default(),
        fields: NEW_FIELDS
            .iter()
            .map(|(name, label)| NewField {
                name,
                label,
                value: values.get(*name).cloned().unwrap_or_else(|| {
                    if *name == "validFrom" {
                        intel::now_text()
                    } else {
                        String::new()
                    }
                }),
            })
            .collect(),
        problems,
    }
}

/// `GET /intel/new`: the form.
pub(super) async fn new(here: Here) -> PageResult {
    Ok(render(
        StatusCode::OK,
        &new_form(&here, &Default::default(), Vec::new()),
    ))
}

/// `POST /intel/new`: adds the indicator, then shows it; or the form again with every problem.
pub(super) async fn add(
    State(app): State<Arc<App>>,
    here: Here,
    axum::Form(values): axum::Form<std::collections::HashMap<String, String>>,
) -> PageResult {
    let csrf = values.get("csrf").map(String::as_str).unwrap_or("");
    if !here.user.csrf_matches(csrf) {
        return Err(super::signin::forbidden());
    }
    let ws = here.writable().ok_or_else(super::reader_refused)?;
    let fields: Vec<(&'static str, String)> = NEW_FIELDS
        .iter()
        .map(|(name, _)| (*name, values.get(*name).cloned().unwrap_or_default()))
        .collect();
    let source = values.get("source").cloned().unwrap_or_default();
    let (app2, request) = (app.clone(), format!("web:{}", here.user.user.id));
    let added = work(move || {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        Ok::<_, String>(intel::add_indicator(
            &*app2.store,
            ws,
            &source,
            &fields,
            &request,
        ))
    })
    .await?;
    match added {
        Ok(a) => Ok(Redirect::to(&format!("/intel/{}", a.id)).into_response()),
        Err(IntelError::Invalid(problems)) => Ok(render(
            StatusCode::BAD_REQUEST,
            &new_form(&here, &values, problems),
        )),
        Err(e @ (IntelError::Source(_) | IntelError::Rejected(_))) => Ok(render(
            StatusCode::BAD_REQUEST,
            &new_form(&here, &values, vec![e.to_string()]),
        )),
        Err(e) => Err(super::internal(&e)),
    }
}

/// `POST /intel/{id}/revoke`: a new version of the object, revoked.
pub(super) async fn revoke(
    State(app): State<Arc<App>>,
    here: Here,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
) -> PageResult {
    if !here
        .user
        .csrf_matches(form.get("csrf").map(String::as_str).unwrap_or(""))
    {
        return Err(super::signin::forbidden());
    }
    let ws = here.writable().ok_or_else(super::reader_refused)?;
    let (app2, id2, request) = (
        app.clone(),
        id.clone(),
        format!("web:{}", here.user.user.id),
    );
    match work(move || Ok::<_, String>(intel::revoke(&*app2.store, ws, &id2, &request))).await? {
        Ok(()) => Ok(Redirect::to(&format!("/intel/{id}")).into_response()),
        Err(IntelError::NotFound(m)) => Err(not_found(&m)),
        Err(e @ (IntelError::Rejected(_) | IntelError::Invalid(_))) => {
            Err((StatusCode::CONFLICT, e.to_string()).into_response())
        }
        Err(e) => Err(super::internal(&e)),
    }
}
