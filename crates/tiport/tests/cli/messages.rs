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

#[test]
fn refusals_of_the_command_line() {
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "messages");
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let invalid = file(
        "invalid.json",
        &format!(
            "[{GOOD},\n{},\n{}, 7]",
            GOOD.replace("198.51.100.1", "999.1.1.1"),
            GOOD.replace(
                "\"valid_from\":\"2016-01-01T00:00:00Z\"",
                "\"valid_from\":\"yesterday\""
            )
        ),
    );
    let truncated = file("truncated.json", &format!("[{GOOD},\n{}", &GOOD[..60]));
    let csv = file(
        "rows.csv",
        "threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,observableType,observableValue\n\
         ,,,,101,,2024-01-01T00:00:00Z,,,,ipv4-addr,999.1.1.1\n",
    );
    let header_only = file("header.csv", "validFrom,observableType,observableValue\n");
    let empty = file("empty.json", "");
    let unknown_key = file(
        "unknown-key.toml",
        "requests-per-minute = 10\ncolour = \"red\"\n",
    );
    let missing = dir.path().join("no-such-file.json");
    let missing = missing.to_str().unwrap();
    let unknown_ws = "0b1f8e3c-3c5e-4f0c-9d55-8d2c2f0c1a11";
    let cases: &[(&str, Vec<&str>)] = &[
        ("validate: invalid records", vec!["validate", &invalid]),
        (
            "validate: invalid records as JSON lines",
            vec!["validate", &invalid, "--output", "json"],
        ),
        ("validate: strict", vec!["validate", &invalid, "--strict"]),
        ("validate: a truncated file", vec!["validate", &truncated]),
        ("validate: a CSV file", vec!["validate", &csv]),
        ("validate: a missing file", vec!["validate", missing]),
        (
            "validate: an unknown format",
            vec!["validate", &invalid, "--format", "xml"],
        ),
        (
            "import: an unknown workspace",
            vec!["import", &csv, "--workspace", unknown_ws, "--source", "S"],
        ),
        (
            "import: no source",
            vec!["import", &csv, "--workspace", &ws],
        ),
        (
            "import: a header without rows",
            vec!["import", &header_only, "--workspace", &ws, "--source", "S"],
        ),
        (
            "import: an empty file",
            vec!["import", &empty, "--workspace", &ws, "--source", "S"],
        ),
        (
            "import: an unknown format",
            vec![
                "import",
                &csv,
                "--workspace",
                &ws,
                "--source",
                "S",
                "--format",
                "xml",
            ],
        ),
        (
            "import: JSON as CSV",
            vec![
                "import",
                &invalid,
                "--workspace",
                &ws,
                "--source",
                "S",
                "--format",
                "csv",
            ],
        ),
        (
            "import: the reserved source",
            vec![
                "import",
                &csv,
                "--workspace",
                &ws,
                "--source",
                "Microsoft Sentinel",
            ],
        ),
        (
            "import-status: an unknown import",
            vec![
                "import-status",
                "--workspace",
                &ws,
                "0b1f8e3c-3c5e-4f0c-9d55-8d2c2f0c1a12",
            ],
        ),
        (
            "import-status: a bad cursor",
            vec!["import-status", "--workspace", &ws, "--cursor", "nope"],
        ),
        (
            "export: an unknown workspace",
            vec!["export", "--workspace", unknown_ws],
        ),
        (
            "client create: an unknown role",
            vec!["client", "create", "--workspace", &ws, "--role", "boss"],
        ),
        (
            "workspace create: a taken id",
            vec!["workspace", "create", "--name", "again", "--id", &ws],
        ),
        (
            "serve: an unknown key in the config file",
            vec!["serve", "--config", &unknown_key],
        ),
        (
            "serve: a rate that is no number",
            vec!["serve", "--requests-per-minute", "many"],
        ),
        (
            "serve: a duration that is no duration",
            vec!["serve", "--header-timeout", "soon"],
        ),
    ];
    let mut report = String::new();
    for (name, args) in cases {
        // validate reads files only; every other command opens the store.
        let out = if args[0] == "validate" {
            run(args, None)
        } else {
            run_in(dir.path(), args)
        };
        writeln!(report, "== {name}: tiport {}", args.join(" ")).unwrap();
        report.push_str(&shown(dir.path(), &ws, &out));
    }
    let report = report
        .replace(&invalid, "<dir>/invalid.json")
        .replace(dir.path().to_str().unwrap(), "<dir>")
        .replace(&ws, "<workspace>");
    insta::assert_snapshot!(report);
}
