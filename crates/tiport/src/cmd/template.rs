//! `tiport template csv-file|csv-other|json`: the import templates, ready to fill in.

use anyhow::Result;
use clap::ValueEnum;
use ingest::csvmap::{template_text, Template};
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    which: Which,
}

#[derive(Clone, Copy, ValueEnum)]
enum Which {
    CsvFile,
    CsvOther,
    Json,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let text = match args.which {
        Which::CsvFile => template_text(Template::CsvFile),
        Which::CsvOther => template_text(Template::CsvOther),
        Which::Json => tiport_core::templates::JSON,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
