//! The `tiport` command line.
//!
//! Each subcommand lives in its own module under `cmd/` and turns flags into calls of the
//! library crates; no validation or storage logic lives here.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;
mod progress;

#[derive(Parser)]
#[command(
    name = "tiport",
    version,
    about = "A self-hosted threat-intelligence store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a file of STIX objects, CSV indicators or STIX patterns, offline.
    Validate(cmd::validate::Args),
    /// Print an import template (with its comment row explaining the columns).
    Template(cmd::template::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => cmd::validate::run(args),
        Command::Template(args) => cmd::template::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tiport: {e:#}");
            ExitCode::from(2)
        }
    }
}
