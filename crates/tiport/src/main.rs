//! The `tiport` command line.
//!
//! Each subcommand lives in its own module under `cmd/` and turns flags into calls of the
//! library crates; no validation or storage logic lives here.

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

mod cmd;
mod progress;

/// mimalloc rather than the system allocator: an import allocates records on the reading
/// thread and frees them on the store's writer thread, which glibc's allocator serializes on
/// its arena locks.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tiport",
    version,
    about = "A self-hosted threat-intelligence store"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a file of STIX objects, CSV indicators or STIX patterns, offline.
    Validate(cmd::validate::Args),
    /// Print an import template (with its comment row explaining the columns).
    Template(cmd::template::Args),
    /// Import a CSV or JSON file into a workspace.
    Import(cmd::import::Args),
    /// Show the records of a workspace's file imports (all, or one by id), one JSON line each.
    ///
    /// Each line has the keys of the HTTP API's import record: {"id","source","fileName",
    /// "format","mode","status","total","imported","invalid","created","finished"}. An import
    /// whose process died is shown failed, never running.
    ImportStatus(cmd::import_status::Args),
    /// Create or list workspaces.
    #[command(subcommand)]
    Workspace(cmd::workspace::Args),
    /// Export a workspace's current objects as a STIX bundle or CSV.
    Export(cmd::export::Args),
    /// Run the HTTP service (upload API, tokens).
    ///
    /// A flag given twice takes its last value, so the command line overrides the settings of
    /// a `--config` file, which are put in before it.
    #[command(args_override_self = true)]
    Serve(cmd::serve::Args),
    /// Create clients: applications that get tokens with an id and a secret.
    #[command(subcommand)]
    Client(cmd::client::Args),
    /// Give principals roles on workspaces (local clients, or principals of trusted external
    /// OpenID Connect issuers).
    #[command(subcommand)]
    Role(cmd::role::Args),
    /// Create users: people who sign in to the web UI with a name and a password.
    #[command(subcommand)]
    User(cmd::user::Args),
}

fn main() -> ExitCode {
    // Every file tiport makes (the store, import copies, error files, credentials) is its
    // owner's alone, whatever the umask it was started with; the store's files are also made
    // 0600 explicitly, for other users of the library.
    // SAFETY: umask only changes this process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let argv = match cmd::config::with_file_settings(std::env::args_os().collect(), &Cli::command())
    {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("tiport: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(argv);
    let result = match cli.command {
        Command::Validate(args) => cmd::validate::run(args),
        Command::Template(args) => cmd::template::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::ImportStatus(args) => cmd::import_status::run(args),
        Command::Workspace(args) => cmd::workspace::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Client(args) => cmd::client::run(args),
        Command::Role(args) => cmd::role::run(args),
        Command::User(args) => cmd::user::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tiport: {e:#}");
            ExitCode::from(2)
        }
    }
}
