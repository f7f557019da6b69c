//! `tiport role grant --workspace ID --principal P --role contributor|reader`: gives a principal
//! a role on a workspace, replacing the one it had. An addition to the CLI contract, for the
//! principals of trusted external issuers (`<sub>@<issuer>`, see `serve --trust-issuer`),
//! which are created here on their first grant; it also changes a local client's role.

use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use store::{Principal, PrincipalKind, Role, Store, WorkspaceId};

use super::store_args::StoreArgs;

#[derive(clap::Subcommand)]
pub enum Args {
    /// Give a principal a role on a workspace (prints {"workspace","principal","role"}).
    Grant {
        #[arg(long, value_parser = WorkspaceId::parse)]
        workspace: WorkspaceId,
        /// A client id, or `<sub>@<issuer>` for a principal of a trusted external issuer (the
        /// service logs this name when it refuses such a token for want of a role).
        #[arg(long)]
        principal: String,
        #[arg(long, value_enum)]
        role: Role,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn run(args: Args) -> Result<ExitCode> {
    let Args::Grant {
        workspace,
        principal,
        role,
        store,
    } = args;
    let opened = store.open()?;
    let store: &dyn Store = &opened.store;
    if store.workspace(workspace)?.is_none() {
        bail!("there is no workspace {workspace}");
    }
    if store.principal(&principal)?.is_none() {
        let Some((sub, issuer)) = principal.rsplit_once('@') else {
            bail!(
                "there is no principal {principal:?}; a principal of an external issuer is \
                 written <sub>@<issuer>"
            );
        };
        if sub.is_empty() || !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            bail!("{principal:?}: expected <sub>@<issuer URL>");
        }
        store
            .create_principal(&Principal {
                id: principal.clone(),
                kind: PrincipalKind::External,
                name: principal.clone(),
                secret_hash: None,
                created: stix::Timestamp::now(),
            })
            .with_context(|| format!("cannot record the principal {principal}"))?;
    }
    store
        .assign_role(workspace, &principal, role)
        .with_context(|| format!("cannot grant {principal} a role on {workspace}"))?;
    println!(
        "{}",
        serde_json::json!({
            "workspace": workspace.to_string(),
            "principal": principal,
            "role": role.as_str(),
        })
    );
    Ok(ExitCode::SUCCESS)
}
