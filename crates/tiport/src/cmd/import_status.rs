//! `tiport import-status --workspace ID [IMPORT_ID] [--sort …] [--order …]`: the records of a
//! workspace's file imports, one JSON line each, with the keys of the HTTP API's
//! `GET …/imports/{id}`: `{"id","source","fileName","format","mode","status","total",
//! "imported","invalid","created","finished"}` (`finished` is `null` while an import runs).
//!
//! The list comes a page at a time, like the HTTP API's (`--limit`, default 100); when there
//! is more, the command says on stderr which `--cursor` gives the next page.
//!
//! Like every command that opens the store, it first fails the imports whose process died, so
//! an import interrupted by a crash shows `failed` here, never `running`.

use anyhow::Result;
use std::process::ExitCode;
use store::{ImportId, ImportRecord, ImportSort, Order, Store, WorkspaceId};

use super::store_args::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    /// Only this import (exit 2 if the workspace has no such import).
    #[arg(value_parser = ImportId::parse, value_name = "IMPORT_ID")]
    import: Option<ImportId>,
    /// The workspace whose imports to show.
    #[arg(long, value_parser = WorkspaceId::parse)]
    workspace: WorkspaceId,
    /// The order of the list, as in Manage file imports.
    #[arg(long, value_enum, default_value_t = ImportSort::Created)]
    sort: ImportSort,
    /// Ascending or descending.
    #[arg(long, value_enum, default_value_t = Order::Desc)]
    order: Order,
    /// The most records to show (1 to 1000).
    #[arg(long, default_value_t = tiport_core::query::DEFAULT_IMPORTS_LIMIT)]
    limit: usize,
    /// Where to start: the cursor a previous page named.
    #[arg(long)]
    cursor: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let opened = args.store.open()?;
    if opened.store.workspace(args.workspace)?.is_none() {
        eprintln!("tiport: workspace {} not found", args.workspace);
        return Ok(ExitCode::from(2));
    }
    let records = match args.import {
        Some(id) => match opened.store.import(args.workspace, id)? {
            Some(r) => vec![r],
            None => {
                eprintln!(
                    "tiport: import {id} not found in workspace {}",
                    args.workspace
                );
                return Ok(ExitCode::from(2));
            }
        },
        None => {
            let params = tiport_core::query::ImportListParams {
                sort: Some(args.sort.as_str().into()),
                order: Some(args.order.as_str().into()),
                limit: Some(args.limit.to_string()),
                cursor: args.cursor.clone(),
            };
            let page = match tiport_core::query::imports(&opened.store, args.workspace, &params) {
                Ok(p) => p,
                Err(tiport_core::query::QueryError::BadParameter(m)) => {
                    eprintln!("tiport: {m}");
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(next) = &page.next {
                eprintln!("tiport: more imports follow; the next page: --cursor {next}");
            }
            page.records
        }
    };
    for r in &records {
        println!("{}", line(r)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// One record as the API's JSON object.
fn line(r: &ImportRecord) -> Result<String> {
    Ok(serde_json::to_string(
        &tiport_core::import::RecordView::of(r),
    )?)
}
