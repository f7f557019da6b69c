//! The pages of a signed-in user.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use tiport_core::overview::{self, Counted};
use tiport_core::query;

use super::{render, work, Page, PageResult, User};
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
    /// How far a running import has read its file, in percent.
    pub(crate) progress: Option<u8>,
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
            progress: None,
        }
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    page: Page,
    workspace_name: String,
    imports: Vec<ImportRow>,
    /// What the workspace holds, as last counted; `None` while the first count runs.
    holdings: Option<Holdings>,
}

/// The last count of the workspace, for the page.
struct Holdings {
    objects: u64,
    versions: u64,
    /// By type, by source, by TLP.
    groups: Vec<CountGroup>,
    chart: Chart,
    /// When it was counted (UTC), and how long that took.
    at: String,
    took: String,
}

/// One table of counts of the overview.
struct CountGroup {
    title: &'static str,
    id: &'static str,
    lines: Vec<Count>,
}

/// One line of a count: what, and how many.
struct Count {
    name: String,
    n: u64,
}

/// The most lines a count lists; the rest are summed in one line.
const COUNT_LINES: usize = 10;

fn counts(all: Vec<(String, u64)>) -> Vec<Count> {
    let mut lines: Vec<Count> = all
        .iter()
        .take(COUNT_LINES)
        .map(|(name, n)| Count {
            name: name.clone(),
            n: *n,
        })
        .collect();
    if all.len() > COUNT_LINES {
        lines.push(Count {
            name: format!("{} others", all.len() - COUNT_LINES),
            n: all[COUNT_LINES..].iter().map(|(_, n)| n).sum(),
        });
    }
    lines
}

impl Holdings {
    fn of(c: &Counted) -> Holdings {
        let b = c.breakdown.clone();
        Holdings {
            objects: c.objects,
            versions: c.versions,
            groups: vec![
                CountGroup {
                    title: "By type",
                    id: "by-type",
                    lines: counts(b.by_type),
                },
                CountGroup {
                    title: "By source",
                    id: "by-source",
                    lines: counts(b.by_source),
                },
                CountGroup {
                    title: "By TLP",
                    id: "by-tlp",
                    lines: counts(
                        b.by_tlp
                            .into_iter()
                            .map(|(t, n)| (t.unwrap_or_else(|| "none".into()), n))
                            .collect(),
                    ),
                },
            ],
            chart: chart(&b.stored_per_day, c.first_day),
            at: c.at.to_string(),
            took: format!("{:.1} s", c.took.as_secs_f64()),
        }
    }
}

/// The bar chart of versions stored per day, drawn on the server as SVG.
struct Chart {
    bars: Vec<Bar>,
    width: u32,
    most: u64,
    first: String,
    last: String,
    total: u64,
}

struct Bar {
    x: u32,
    y: u32,
    height: u32,
    label: String,
}

/// How tall the chart's bars may be, and how wide each day is, in SVG units.
const CHART_HEIGHT: u32 = 120;
const DAY_WIDTH: u32 = 16;

fn chart(per_day: &[(i64, u64)], first_day: i64) -> Chart {
    let days = overview::DAYS;
    let count_of = |day: i64| {
        per_day
            .iter()
            .find(|(d, _)| *d == day)
            .map_or(0, |(_, n)| *n)
    };
    let most = (0..days)
        .map(|i| count_of(first_day + i))
        .max()
        .unwrap_or(0);
    let bars = (0..days)
        .map(|i| {
            let day = first_day + i;
            let n = count_of(day);
            // Rounded up, so that a day with anything shows.
            let height = if most == 0 {
                0
            } else {
                ((n * u64::from(CHART_HEIGHT)).div_ceil(most)) as u32
            };
            Bar {
                x: i as u32 * DAY_WIDTH,
                y: CHART_HEIGHT - height,
                height,
                label: format!("{}: {n}", overview::day_label(day)),
            }
        })
        .collect();
    Chart {
        bars,
        width: days as u32 * DAY_WIDTH,
        most,
        first: overview::day_label(first_day),
        last: overview::day_label(first_day + days - 1),
        total: per_day.iter().map(|(_, n)| n).sum(),
    }
}

#[derive(Template)]
#[template(path = "no_workspace.html")]
struct NoWorkspace {
    page: Page,
}

/// `/`: what the workspace holds (as last counted) and what came in last.
pub(super) async fn overview(State(app): State<Arc<App>>, User(user): User) -> PageResult {
    let Some((ws, _)) = user.workspace.clone() else {
        return Ok(render(
            StatusCode::OK,
            &NoWorkspace {
                page: Page::of(&user, "overview"),
            },
        ));
    };
    let holdings = app.overview.get(ws.id).map(|c| Holdings::of(&c));
    let app2 = app.clone();
    let latest = work(move || query::latest_imports(&*app2.store, ws.id)).await?;
    Ok(render(
        StatusCode::OK,
        &Overview {
            page: Page::of(&user, "overview"),
            workspace_name: ws.name,
            imports: latest.iter().map(ImportRow::from).collect(),
            holdings,
        },
    ))
}
