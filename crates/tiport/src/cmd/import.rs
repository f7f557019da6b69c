//! `tiport import FILE --workspace ID --source NAME [--mode …] [--format …]`
//!
//! Prints one JSON line, `{"id","status","total","imported","invalid"}`, and a human summary on
//! stderr. Exit codes: 0 succeeded; 1 some or all records invalid (partially-succeeded, or
//! failed because of invalid records); 2 the file could not be imported at all (refused,
//! unreadable, not CSV or JSON).

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use store::{ImportMode, ImportStatus, WorkspaceId};
use tiport_core::import::{self, FileImport, FileLimits, FormatChoice, QueueError};
use tiport_core::source::SourceError;

use super::store_args::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The CSV or JSON file.
    file: PathBuf,
    /// The workspace to import into.
    #[arg(long, value_parser = WorkspaceId::parse)]
    workspace: WorkspaceId,
    /// The source stamped on every object (the SourceSystem).
    #[arg(long)]
    source: String,
    /// What to do with invalid records: store the valid ones, or store nothing.
    #[arg(long, value_enum, default_value_t = ImportMode::ValidOnly)]
    mode: ImportMode,
    /// csv, json, or auto: the file's first bytes decide.
    #[arg(long, default_value = "auto")]
    format: FormatChoice,
    /// The largest CSV file accepted, in bytes.
    #[arg(long, env = "TIPORT_MAX_CSV_BYTES", default_value_t = FileLimits::default().csv_bytes)]
    max_csv_bytes: u64,
    /// The largest JSON file accepted, in bytes.
    #[arg(long, env = "TIPORT_MAX_JSON_BYTES", default_value_t = FileLimits::default().json_bytes)]
    max_json_bytes: u64,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let source = match tiport_core::source::SourceName::parse(&args.source) {
        Ok(s) => s,
        Err(SourceError::Empty) => {
            bail!("--source must not be empty: it is stamped on every imported object")
        }
        Err(e) => bail!("--source {e}"),
    };
    let meta = std::fs::metadata(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", args.file.display());
    }
    let opened = args.store.open()?;
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let request = FileImport {
        workspace: args.workspace,
        source,
        file_name: file_name.clone(),
        format: args.format.0,
        mode: args.mode,
    };
    let limits = FileLimits {
        csv_bytes: args.max_csv_bytes,
        json_bytes: args.max_json_bytes,
    };
    let owner = tiport_core::owner::current();
    let (record, job) = match import::queue(
        &opened.store,
        &opened.files,
        &request,
        &args.file,
        &limits,
        &owner,
    ) {
        Ok(q) => q,
        Err(e @ (QueueError::UnknownWorkspace(_) | QueueError::TooLarge { .. })) => {
            eprintln!("tiport: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e).context("cannot queue the import"),
    };
    let bar = crate::progress::bar(Some(meta.len()), &format!("importing {file_name}"));
    let started = std::time::Instant::now();
    let ended = import::run(&opened.store, &job, &mut |f| {
        Box::new(crate::progress::Counting::new(f, bar.clone()))
    });
    bar.finish_and_clear();
    let ended = ended.with_context(|| format!("import {} failed", record.id))?;
    let f = &ended.finish;
    // A struct, not json!, so the keys keep the contract's order.
    #[derive(serde::Serialize)]
    struct Summary<'a> {
        id: String,
        status: &'a str,
        total: u64,
        imported: u64,
        invalid: u64,
    }
    let line = Summary {
        id: record.id.to_string(),
        status: f.status.as_str(),
        total: f.total,
        imported: f.imported,
        invalid: f.invalid,
    };
    println!("{}", serde_json::to_string(&line)?);
    let mut summary = format!(
        "{file_name}: {} ({} records: {} imported, {} invalid",
        f.status, f.total, f.imported, f.invalid
    );
    if f.unchanged > 0 {
        summary += &format!(", {} already stored unchanged", f.unchanged);
    }
    if f.upgraded > 0 {
        summary += &format!(", {} read as STIX 2.0 and stored as 2.1", f.upgraded);
    }
    summary += &format!("; {:.2} s)", started.elapsed().as_secs_f64());
    eprintln!("{summary}");
    if let Some(m) = &f.message {
        eprintln!("tiport: {m}");
    }
    if let Some(p) = &f.error_path {
        eprintln!("error file: {}", p.display());
    }
    Ok(match f.status {
        ImportStatus::Succeeded => ExitCode::SUCCESS,
        _ if ended.unreadable => ExitCode::from(2),
        _ => ExitCode::from(1),
    })
}
