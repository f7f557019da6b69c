//! What the command line says when it refuses something, snapshotted: each case's exit status,
//! standard error and (for `validate`) standard output, with the temporary directory's path
//! written as `<dir>` and generated ids as `<id>`. A change of wording shows as a diff of
//! `tests/cli/snapshots/cli__messages__*.snap` to review (`cargo insta review`, or accept the
//! `.snap.new` file by renaming it).

use crate::helpers::*;
use std::fmt::Write;
use std::path::Path;

const GOOD: &str = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z"}"#;

/// `text` with every UUID (an import's id, made anew each run) written as `<id>`.
fn without_ids(text: &str) -> String {
    let is_uuid = |s: &[u8]| {
        s.len() == 36
            && s.iter().enumerate().all(|(i, &c)| match i {
                8 | 13 | 18 | 23 => c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len() && is_uuid(&b[i..i + 36]) {
            out.push_str("<id>");
            i += 36;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `text` with every duration the summaries print (`0.01 s`) written as `<t> s`.
fn without_times(text: &str) -> String {
    text.lines()
        .map(|line| match line.rfind(" s)") {
            Some(end) => {
                let start = line[..end]
                    .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .map_or(0, |i| i + 1);
                format!("{}<t>{}", &line[..start], &line[end..])
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The case's output, with what differs from run to run replaced.
fn shown(dir: &Path, ws: &str, out: &std::process::Output) -> String {
    let dir = dir.to_str().unwrap();
    let clean = |s: String| {
        without_times(&without_ids(
            &s.replace(dir, "<dir>").replace(ws, "<workspace>"),
        ))
    };
    let mut text = format!("exit {}\n", out.status.code().unwrap_or(-1));
    for (name, stream) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        if !stream.is_empty() {
            writeln!(text, "{name}:").unwrap();
            for line in clean(stream).lines() {
                writeln!(text, "    {line}").unwrap();
            }
        }
    }
    text
}

/// The files the cases read, written into a data directory: their paths.
struct Files {
    invalid: String,
    truncated: String,
    csv: String,
    header_only: String,
    empty: String,
    unknown_key: String,
    /// A path where there is no file.
    missing: String,
}

impl Files {
    fn write(dir: &Path) -> Files {
        let file = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p.to_str().unwrap().to_owned()
        };
        let invalid = format!(
            "[{GOOD},\n{},\n{}, 7]",
            GOOD.replace("198.51.100.1", "999.1.1.1"),
            GOOD.replace(
                "\"valid_from\":\"2016-01-01T00:00:00Z\"",
                "\"valid_from\":\"yesterday\""
            )
        );
        Files {
            invalid: file("invalid.json", &invalid),
            truncated: file("truncated.json", &format!("[{GOOD},\n{}", &GOOD[..60])),
            csv: file(
                "rows.csv",
                "threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,observableType,observableValue\n\
                 ,,,,101,,2024-01-01T00:00:00Z,,,,ipv4-addr,999.1.1.1\n",
            ),
            header_only: file("header.csv", "validFrom,observableType,observableValue\n"),
            empty: file("empty.json", ""),
            unknown_key: file(
                "unknown-key.toml",
                "requests-per-minute = 10\ncolour = \"red\"\n",
            ),
            missing: dir.join("no-such-file.json").to_str().unwrap().to_owned(),
        }
    }
}

const UNKNOWN_WS: &str = "0b1f8e3c-3c5e-4f0c-9d55-8d2c2f0c1a11";

/// `tiport import FILE --workspace WS MORE…`.
fn import_args<'a>(file: &'a str, ws: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["import", file, "--workspace", ws];
    args.extend_from_slice(more);
    args
}

/// The refusals, each a name and a command line, against workspace `ws`.
fn cases<'a>(f: &'a Files, ws: &'a str) -> Vec<(&'static str, Vec<&'a str>)> {
    let source = ["--source", "S"];
    vec![
        ("validate: invalid records", vec!["validate", &f.invalid]),
        (
            "validate: invalid records as JSON lines",
            vec!["validate", &f.invalid, "--output", "json"],
        ),
        ("validate: strict", vec!["validate", &f.invalid, "--strict"]),
        ("validate: a truncated file", vec!["validate", &f.truncated]),
        ("validate: a CSV file", vec!["validate", &f.csv]),
        ("validate: a missing file", vec!["validate", &f.missing]),
        (
            "validate: an unknown format",
            vec!["validate", &f.invalid, "--format", "xml"],
        ),
        (
            "import: an unknown workspace",
            import_args(&f.csv, UNKNOWN_WS, &source),
        ),
        ("import: no source", import_args(&f.csv, ws, &[])),
        (
            "import: a header without rows",
            import_args(&f.header_only, ws, &source),
        ),
        ("import: an empty file", import_args(&f.empty, ws, &source)),
        (
            "import: an unknown format",
            import_args(&f.csv, ws, &["--source", "S", "--format", "xml"]),
        ),
        (
            "import: JSON as CSV",
            import_args(&f.invalid, ws, &["--source", "S", "--format", "csv"]),
        ),
        (
            "import: the reserved source",
            import_args(&f.csv, ws, &["--source", "Microsoft Sentinel"]),
        ),
        (
            "import-status: an unknown import",
            vec![
                "import-status",
                "--workspace",
                ws,
                "0b1f8e3c-3c5e-4f0c-9d55-8d2c2f0c1a12",
            ],
        ),
        (
            "import-status: a bad cursor",
            vec!["import-status", "--workspace", ws, "--cursor", "nope"],
        ),
        (
            "export: an unknown workspace",
            vec!["export", "--workspace", UNKNOWN_WS],
        ),
        (
            "client create: an unknown role",
            vec!["client", "create", "--workspace", ws, "--role", "boss"],
        ),
        (
            "workspace create: a taken id",
            vec!["workspace", "create", "--name", "again", "--id", ws],
        ),
        (
            "serve: an unknown key in the config file",
            vec!["serve", "--config", &f.unknown_key],
        ),
        (
            "serve: a rate that is no number",
            vec!["serve", "--requests-per-minute", "many"],
        ),
        (
            "serve: a duration that is no duration",
            vec!["serve", "--header-timeout", "soon"],
        ),
    ]
}

#[test]
fn refusals_of_the_command_line() {
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "messages");
    let files = Files::write(dir.path());
    let mut report = String::new();
    for (name, args) in cases(&files, &ws) {
        // validate reads files only; every other command opens the store.
        let out = if args[0] == "validate" {
            run(&args, None)
        } else {
            run_in(dir.path(), &args)
        };
        writeln!(report, "== {name}: tiport {}", args.join(" ")).unwrap();
        report.push_str(&shown(dir.path(), &ws, &out));
    }
    let report = report
        .replace(&files.invalid, "<dir>/invalid.json")
        .replace(dir.path().to_str().unwrap(), "<dir>")
        .replace(&ws, "<workspace>");
    insta::assert_snapshot!(report);
}
