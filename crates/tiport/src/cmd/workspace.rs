//! `tiport workspace create --name NAME [--id UUID]`: prints `{"id":..,"name":..}`.

use anyhow::{bail, Result};
use std::process::ExitCode;
use store::{Store, StoreError, WorkspaceId};

use super::store_args::StoreArgs;

#[derive(clap::Subcommand)]
pub enum Args {
    /// Create a workspace.
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
        /// Its id (a UUID); a random one by default.
        #[arg(long, value_parser = WorkspaceId::parse)]
        id: Option<WorkspaceId>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the workspaces, one JSON line each.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args {
        Args::Create { name, id, store } => {
            let name = name.trim();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            let opened = store.open()?;
            let id = id.unwrap_or_else(WorkspaceId::random);
            match opened.store.create_workspace(id, name) {
                Ok(ws) => {
                    println!(
                        "{}",
                        serde_json::json!({"id": ws.id.to_string(), "name": ws.name})
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(StoreError::Conflict(_)) => bail!("a workspace with id {id} already exists"),
                Err(e) => Err(e.into()),
            }
        }
        Args::List { store } => {
            let opened = store.open()?;
            for ws in opened.store.workspaces()? {
                println!(
                    "{}",
                    serde_json::json!({"id": ws.id.to_string(), "name": ws.name, "created": ws.created.to_string()})
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
