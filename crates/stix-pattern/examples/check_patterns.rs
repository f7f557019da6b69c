//! Reads one pattern per line from stdin and prints one verdict per line: `ok`, or `error` and
//! the messages separated by tabs. For differential testing against the OASIS tools.
//!
//! Usage: `cargo run -p stix-pattern --example check_patterns -- [--v20] [--strict] < patterns`

use std::io::{self, BufRead, Write};

use stix_pattern::{validate, Options, Profile, SpecVersion};

fn main() -> io::Result<()> {
    let mut opts = Options::default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--v20" => opts.version = SpecVersion::V20,
            "--strict" => opts.profile = Profile::Strict,
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for line in io::stdin().lock().lines() {
        let line = line?;
        match validate(&line, opts) {
            Ok(_) => writeln!(out, "ok")?,
            Err(errors) => {
                let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                writeln!(out, "error\t{}", messages.join("\t"))?;
            }
        }
    }
    out.flush()
}
