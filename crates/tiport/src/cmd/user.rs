//! `tiport user create --workspace ID --role contributor|reader --name NAME`: a user of the web
//! UI. The password is asked for on the terminal (twice, not shown), or read from the first line
//! of standard input when that is not a terminal; the store keeps only its argon2 hash.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use store::{Role, WorkspaceId};

use super::store_args::StoreArgs;

#[derive(clap::Subcommand)]
pub enum Args {
    /// Create a user, who signs in to the web UI with a name and a password.
    Create {
        #[arg(long, value_parser = WorkspaceId::parse)]
        workspace: WorkspaceId,
        #[arg(long, value_enum)]
        role: Role,
        /// The name the user signs in with.
        #[arg(long)]
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
            let password = read_password()?;
            let opened = store.open()?;
            tiport_core::session::create_user(&opened.store, workspace, role, &name, &password)
                .with_context(|| format!("cannot create user {name:?}"))?;
            println!(
                "{}",
                serde_json::json!({"username": name, "workspace_id": workspace.to_string(), "role": role})
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let again =
            rpassword::prompt_password("The same again: ").context("cannot read the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
