//! `tiport client create --workspace ID --role contributor|reader [--name NAME]`: prints
//! `{"tenant_id":..,"client_id":..,"client_secret":..}`. The secret is shown this once; the store
//! keeps only its argon2 hash.

use anyhow::{Context, Result};
use std::process::ExitCode;
use store::{Role, WorkspaceId};

use super::store_args::StoreArgs;

#[derive(clap::Subcommand)]
pub enum Args {
    /// Create a client (an application that gets tokens with its id and secret).
    Create {
        #[arg(long, value_parser = WorkspaceId::parse)]
        workspace: WorkspaceId,
        #[arg(long, value_enum)]
        role: Role,
        /// A name for people.
        #[arg(long, default_value = "client")]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args {
        Args::Create {
            workspace,
            role,
            name,
            store,
        } => {
            let opened = store.open()?;
            let tenant = tiport_core::auth::tenant(&opened.store)?;
            let client =
                tiport_core::auth::create_client(&opened.store, &tenant, workspace, role, &name)
                    .with_context(|| format!("cannot create a client on workspace {workspace}"))?;
            println!("{}", serde_json::to_string(&client)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
