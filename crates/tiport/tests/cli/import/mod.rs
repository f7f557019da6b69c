//! `tiport import`, `tiport export`, `tiport import-status` and `tiport workspace create`,
//! driven as an analyst would drive them: each test has its own empty data directory.
//!
//! Here: the checks of a summary and an import record that every file uses; the tests are
//! grouped by the files they import, one file each.

mod examples;
mod generated;
mod refused;

use crate::helpers::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

const CSV_OTHER_HEADER: [&str; 12] = [
    "threatTypes",
    "tags",
    "name",
    "description",
    "confidence",
    "revoked",
    "validFrom",
    "validUntil",
    "tlpLevel",
    "severity",
    "observableType",
    "observableValue",
];

/// The exit code, with the output in the message when it is not the one expected.
#[track_caller]
fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} is not a string in {v}"))
}

fn count(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} is not a count in {v}"))
}

/// The import record keys of the HTTP API, in order.
const RECORD_KEYS: [&str; 11] = [
    "id", "source", "fileName", "format", "mode", "status", "total", "imported", "invalid",
    "created", "finished",
];

/// Checks an import record against the summary line the import printed.
#[track_caller]
fn assert_record_matches(record: &Value, summary: &Value) {
    let keys: Vec<&str> = record
        .as_object()
        .expect("record is an object")
        .keys()
        .map(String::as_str)
        .collect();
    // The API's keys, plus the counts behind `imported`, plus a message when there is one
    // (why it failed, or what it merged).
    let mut want = RECORD_KEYS.to_vec();
    want.extend(["unchanged", "upgraded"]);
    if record.get("message").is_some() {
        want.push("message");
        assert!(record["message"].is_string(), "{record}");
    }
    want.sort_unstable();
    assert_eq!(keys, want, "{record}");
    if record["status"] == "failed" && record["total"] == 0 {
        assert!(
            record["message"].is_string(),
            "a file that failed before any record says why: {record}"
        );
    }
    for k in ["id", "status", "total", "imported", "invalid"] {
        assert_eq!(
            record[k], summary[k],
            "{k}: record {record}, summary {summary}"
        );
    }
    assert!(
        record["finished"].is_string(),
        "a finished import has its end time: {record}"
    );
}

/// The summary's status, and its counts: total, imported, invalid.
#[track_caller]
fn assert_summary(summary: &Value, status: &str, counts: (u64, u64, u64)) {
    assert_eq!(summary["status"], status, "{summary}");
    let got = (
        count(summary, "total"),
        count(summary, "imported"),
        count(summary, "invalid"),
    );
    assert_eq!(got, counts, "total, imported, invalid: {summary}");
}

/// One import into a workspace of its own, in a fresh data directory.
struct Imported {
    dir: tempfile::TempDir,
    ws: String,
    out: std::process::Output,
    summary: Value,
}

impl Imported {
    /// Imports `file` as `source` (with `extra` flags) into a new workspace `name`; the run
    /// must exit with `code`.
    #[track_caller]
    fn new(name: &str, file: &Path, source: &str, extra: &[&str], code: i32) -> Imported {
        let dir = data_dir();
        let ws = create_workspace(dir.path(), name);
        let (out, summary) = import(dir.path(), &ws, file, source, extra);
        assert_exit(&out, code);
        Imported {
            dir,
            ws,
            out,
            summary,
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn id(&self) -> &str {
        str_of(&self.summary, "id")
    }

    /// The import's record, checked against its summary.
    #[track_caller]
    fn record(&self) -> Value {
        let record = import_record(self.dir(), &self.ws, self.id());
        assert_record_matches(&record, &self.summary);
        record
    }

    /// The objects the workspace exports as STIX.
    fn objects(&self) -> Vec<Value> {
        export_objects(self.dir(), &self.ws)
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The seed's examples

// ---------------------------------------------------------------------------------------------
// 2. Generated corpora with injected invalid records

/// `injected` of a gen_corpus.py manifest: record index → kind.
pub(crate) fn manifest(path: &Path) -> (u64, BTreeMap<u64, String>) {
    let m: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let records = m["summary"]["records"].as_u64().expect("summary.records");
    let injected = m["injected"]
        .as_object()
        .expect("injected")
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.as_str().unwrap().to_owned()))
        .collect();
    (records, injected)
}

// ---------------------------------------------------------------------------------------------
// 3. Importing the same CSV again

// ---------------------------------------------------------------------------------------------
// 4. SIGKILL in the middle of an all-or-nothing import

// ---------------------------------------------------------------------------------------------
// 5. Bad input: a clear message, a correct import record, nothing stored

fn seed_csv() -> Vec<u8> {
    std::fs::read(seed_samples().join("bulk-import-example.csv")).unwrap()
}

fn seed_json() -> Vec<u8> {
    std::fs::read(seed_samples().join("bulk-import-example.json")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// 6. Workspaces
