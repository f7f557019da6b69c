//! `tiport validate FILE [--format …] [--strict] [--output text|json]`
//!
//! Exit codes: 0 every record valid, 1 some invalid, 2 the input cannot be read as the format.
//! With `--output json`, stdout carries exactly one line per invalid record and nothing else; the
//! summary goes to stderr.

use anyhow::{Context, Result};
use clap::ValueEnum;
use ingest::csvmap::{CsvReader, IdScope};
use ingest::{JsonRecords, Limits};
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use stix::{Json, Options, Profile, Timestamp};

#[derive(clap::Args)]
pub struct Args {
    /// The file to validate, or `-` for standard input.
    file: PathBuf,
    /// What the file holds; `auto` decides by extension, then by content.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Enforce every MUST of STIX 2.1 (the default profile accepts what real feeds send).
    #[arg(long)]
    strict: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Auto,
    Json,
    Csv,
    Upload,
    Patterns,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// One invalid record as `--output json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvalidRecord<'a> {
    record_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    error_messages: &'a [String],
}

/// Counts and the printer shared by every format.
struct Sink {
    out: BufWriter<io::StdoutLock<'static>>,
    output: Output,
    total: usize,
    invalid: usize,
    upgraded: usize,
}

impl Sink {
    fn valid(&mut self) {
        self.total += 1;
    }

    /// Reports an invalid record. `line` is where it starts in the file; `--output json` carries
    /// it only when `line_in_json` (CSV rows, pattern lines), as the contract says.
    fn invalid(
        &mut self,
        index: usize,
        line: Option<u64>,
        line_in_json: bool,
        messages: &[String],
    ) -> Result<()> {
        self.total += 1;
        self.invalid += 1;
        match self.output {
            Output::Json => {
                let rec = InvalidRecord {
                    record_index: index,
                    line: line.filter(|_| line_in_json),
                    error_messages: messages,
                };
                serde_json::to_writer(&mut self.out, &rec)?;
                self.out.write_all(b"\n")?;
            }
            Output::Text => {
                for m in messages {
                    match line {
                        Some(l) => writeln!(self.out, "record {index} (line {l}): {m}")?,
                        None => writeln!(self.out, "record {index}: {m}")?,
                    }
                }
            }
        }
        Ok(())
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (input, len, name) = open(&args.file)?;
    let mut input = BufReader::with_capacity(256 << 10, input);
    let format = match args.format {
        Format::Auto => detect(&args.file, &mut input)?,
        f => f,
    };
    let bar = crate::progress::bar(len, &format!("validating {name}"));
    let input = crate::progress::Counting::new(input, bar.clone());
    let profile = if args.strict {
        Profile::Strict
    } else {
        Profile::Compatible
    };
    let mut sink = Sink {
        out: BufWriter::with_capacity(64 << 10, io::stdout().lock()),
        output: args.output,
        total: 0,
        invalid: 0,
        upgraded: 0,
    };
    let started = Instant::now();
    let outcome = match format {
        Format::Json | Format::Upload => {
            validate_json(input, format == Format::Upload, profile, &mut sink)
        }
        Format::Patterns => validate_patterns(input, profile, &mut sink),
        Format::Csv => validate_csv(input, profile, &mut sink),
        Format::Auto => unreachable!("resolved above"),
    };
    bar.finish_and_clear();
    sink.out.flush()?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut summary = format!(
        "{}: {} records, {} valid, {} invalid",
        name,
        sink.total,
        sink.total - sink.invalid,
        sink.invalid
    );
    if sink.upgraded > 0 {
        summary += &format!(", {} read as STIX 2.0", sink.upgraded);
    }
    summary += &format!(" ({elapsed:.2} s)");
    match outcome {
        Err(e) => {
            eprintln!("{summary}");
            eprintln!("tiport: {name}: {e:#}");
            Ok(ExitCode::from(2))
        }
        Ok(()) => {
            eprintln!("{summary}");
            Ok(if sink.invalid == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn open(path: &Path) -> Result<(Box<dyn Read>, Option<u64>, String)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(io::stdin().lock()), None, "<stdin>".into()));
    }
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = f
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        anyhow::bail!("{} is a directory", path.display());
    }
    Ok((Box::new(f), Some(meta.len()), path.display().to_string()))
}

/// Decides the format by extension, then by the first non-blank byte.
fn detect(path: &Path, input: &mut impl BufRead) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => return Ok(Format::Csv),
        Some("json") => return Ok(Format::Json),
        _ => {}
    }
    let head = input.fill_buf().context("cannot read the input")?;
    let first = head
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0xEF | 0xBB | 0xBF));
    Ok(match first {
        Some(b'[' | b'{') => Format::Json,
        _ => Format::Csv,
    })
}

fn validate_json(input: impl Read, upload: bool, profile: Profile, sink: &mut Sink) -> Result<()> {
    let mut records = JsonRecords::new(input, Limits::default());
    if upload {
        records = records.upload_only();
    }
    let opts = Options {
        profile,
        observables: false,
    };
    let mut messages = Vec::new();
    records.for_each(|rec| -> Result<()> {
        match &rec.value {
            Ok(json) => {
                let report = stix::validate(json, opts, rec.container_version);
                if report.upgraded_from_20 {
                    sink.upgraded += 1;
                }
                if report.is_valid() {
                    sink.valid();
                } else {
                    messages.clear();
                    messages.extend(report.errors.iter().map(|d| d.to_string()));
                    sink.invalid(rec.index, Some(rec.line), false, &messages)?;
                }
            }
            Err(d) => sink.invalid(rec.index, Some(rec.line), false, &[d.to_string()])?,
        }
        Ok(())
    })?;
    if upload {
        tiport_core::upload::check_body(records.container())?;
    }
    Ok(())
}

/// One pattern per line; the record index is the 0-based line number.
fn validate_patterns(input: impl Read, profile: Profile, sink: &mut Sink) -> Result<()> {
    let mut input = BufReader::with_capacity(256 << 10, input);
    let opts = stix_pattern::Options {
        profile,
        version: stix_pattern::SpecVersion::V21,
    };
    let mut line = Vec::new();
    let mut index = 0usize;
    let mut messages = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        match std::str::from_utf8(&line) {
            Ok(src) => match stix_pattern::validate(src, opts) {
                Ok(_) => sink.valid(),
                Err(errors) => {
                    messages.clear();
                    messages.extend(errors.iter().map(|e| {
                        stix::Diagnostic::new("pattern", format!("Invalid STIX pattern {e}"), src)
                            .to_string()
                    }));
                    sink.invalid(index, Some(index as u64 + 1), true, &messages)?;
                }
            },
            Err(e) => {
                let m = stix::Diagnostic::new(
                    "pattern",
                    format!("Invalid UTF-8 at byte {}", e.valid_up_to() + 1),
                    "(not shown)",
                );
                sink.invalid(index, Some(index as u64 + 1), true, &[m.to_string()])?;
            }
        }
        index += 1;
    }
}

/// CSV rows are mapped to indicators by the import's own rules, so that `validate` and `import`
/// judge a file the same way.
fn validate_csv(input: impl Read, profile: Profile, sink: &mut Sink) -> Result<()> {
    // validate works offline and stores nothing, so the ids it derives only need to be stable
    // within the run.
    let scope = IdScope {
        workspace: "validate".into(),
        source: "validate".into(),
    };
    let reader = CsvReader::new(input, None, scope, Timestamp::now())?;
    for row in reader {
        let row = row?;
        match row.outcome {
            Ok(mapped) if profile == Profile::Strict => {
                // The mapping already passed the compatible profile; the strict one may still
                // object (to an empty list, say), and says so in STIX terms.
                let json = Json::parse(&mapped.json)?;
                let verdict = stix::validate(&json, Options::strict(), None);
                if verdict.is_valid() {
                    sink.valid();
                } else {
                    sink.invalid(row.index, Some(row.line), true, &verdict.messages())?;
                }
            }
            Ok(_) => sink.valid(),
            Err(invalid) => sink.invalid(row.index, Some(row.line), true, &invalid.messages())?,
        }
    }
    Ok(())
}
