//! `tiport export --workspace ID [--format stix|csv] [--type T] [--source S] [--original]`: the
//! current version of every object, as one STIX 2.1 bundle (each object valid STIX 2.1, or as
//! stored with `--original`) or as csv-other rows, on stdout.

use anyhow::{Context, Result};
use clap::ValueEnum;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use store::{ObjectFilter, Store, WorkspaceId};
use tiport_core::export;

use super::store_args::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_parser = WorkspaceId::parse)]
    workspace: WorkspaceId,
    #[arg(long, value_enum, default_value_t = Format::Stix)]
    format: Format,
    /// Only objects of this STIX type.
    #[arg(long = "type", value_name = "T")]
    object_type: Option<String>,
    /// Only objects from this source.
    #[arg(long, value_name = "S")]
    source: Option<String>,
    /// Each object as it is stored (what its producer sent; a STIX 2.0 record with the 2.1
    /// members it was stored with), not upgraded to valid STIX 2.1.
    #[arg(long)]
    original: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Stix,
    Csv,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let opened = args.store.open()?;
    if opened.store.workspace(args.workspace)?.is_none() {
        eprintln!("tiport: workspace {} not found", args.workspace);
        return Ok(ExitCode::from(2));
    }
    let filter = ObjectFilter {
        object_type: args.object_type,
        source: args.source,
        ..ObjectFilter::default()
    };
    let bar = crate::progress::counter("exporting");
    let mut out = BufWriter::with_capacity(256 << 10, std::io::stdout().lock());
    let mut progress = |n: u64| bar.set_position(n);
    let done = match args.format {
        Format::Stix => export::stix_bundle(
            &opened.store,
            args.workspace,
            &filter,
            if args.original {
                export::ObjectForm::Original
            } else {
                export::ObjectForm::Stix21
            },
            &mut out,
            &mut progress,
        ),
        Format::Csv => export::csv_other(
            &opened.store,
            args.workspace,
            &filter,
            &mut out,
            &mut progress,
        ),
    };
    bar.finish_and_clear();
    let done = done.context("export failed")?;
    out.flush()?;
    let mut summary = format!("exported {} objects", done.written);
    if done.skipped > 0 {
        summary += &format!(
            "; {} indicators skipped: the csv-other template expresses only patterns of one \
             observable (use --format stix for all)",
            done.skipped
        );
    }
    eprintln!("{summary}");
    Ok(ExitCode::SUCCESS)
}
