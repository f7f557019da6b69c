//! Running the binary and finding the project's shared data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test: this build's, or the one `TIPORT_TEST_BIN` names (to show that a
/// new test fails on an older build).
pub fn tiport() -> Command {
    match std::env::var_os("TIPORT_TEST_BIN") {
        Some(bin) => Command::new(bin),
        None => Command::new(env!("CARGO_BIN_EXE_tiport")),
    }
}

/// Runs `tiport ARGS`, with `stdin` as standard input.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = tiport();
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn tiport");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin piped");
        // A write error means the child stopped reading early, which the test then sees in
        // the exit status; it is not this helper's failure.
        let _ = pipe.write_all(input);
    }
    child.wait_with_output().expect("wait for tiport")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub use test_support::{reference_python, repo_root, seed_samples, shared, test_data};

/// Sends SIGTERM to `child`, as an operator's `kill` would; the test fails if it cannot be sent
/// (the child must still be there to be stopped).
pub fn sigterm(child: &std::process::Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    // SAFETY: kill(2) with a pid this test spawned and has not waited for, so not reused.
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(
        sent,
        0,
        "SIGTERM to {pid}: {}",
        std::io::Error::last_os_error()
    );
}

/// Sends SIGKILL to `child` (no chance to finish anything); the test fails if it cannot.
pub fn sigkill(child: &mut std::process::Child) {
    let pid = child.id();
    child
        .kill()
        .unwrap_or_else(|e| panic!("SIGKILL to {pid}: {e}"));
}

/// The JSON lines of `--output json`.
pub fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// A fresh, empty data directory for one test's store.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tiport-cli-")
        .tempdir()
        .expect("temporary data directory")
}

/// Runs `tiport ARGS --data-dir DIR`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", dir.to_str().expect("UTF-8 temp path")]);
    run(&all, None)
}

/// Creates a workspace named `name` in `dir` and returns its id.
pub fn create_workspace(dir: &Path, name: &str) -> String {
    let out = run_in(dir, &["workspace", "create", "--name", name]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("workspace JSON");
    v["id"].as_str().expect("workspace id").to_owned()
}

/// Runs `tiport import FILE --workspace WS --source SOURCE EXTRA… --data-dir DIR`: its output,
/// unchecked (for an import refused before it begins, which prints no summary).
pub fn run_import(dir: &Path, ws: &str, file: &Path, source: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "import",
        file.to_str().expect("UTF-8 path"),
        "--workspace",
        ws,
        "--source",
        source,
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

/// `tiport import FILE --workspace WS --source SOURCE EXTRA… --data-dir DIR`: the output and
/// its summary line, checked to be exactly one JSON object with the contract's keys in order.
pub fn import(
    dir: &Path,
    ws: &str,
    file: &Path,
    source: &str,
    extra: &[&str],
) -> (Output, serde_json::Value) {
    let out = run_import(dir, ws, file, source, extra);
    let text = stdout(&out);
    let summary = summary_line(&text).unwrap_or_else(|e| {
        panic!(
            "import summary: {e}\nstdout: {text}\nstderr: {}",
            stderr(&out)
        )
    });
    (out, summary)
}

/// Checks that `stdout` is one line holding exactly
/// `{"id":…,"status":…,"total":…,"imported":…,"invalid":…}`, keys in that order.
pub fn summary_line(stdout: &str) -> Result<serde_json::Value, String> {
    let lines: Vec<&str> = stdout.lines().collect();
    let [line] = lines.as_slice() else {
        return Err(format!("expected one line, got {}", lines.len()));
    };
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let n = |k: &str| v[k].as_u64().ok_or(format!("{k} is not a count"));
    let s = |k: &str| v[k].as_str().ok_or(format!("{k} is not a string"));
    let canonical = format!(
        r#"{{"id":{},"status":{},"total":{},"imported":{},"invalid":{}}}"#,
        serde_json::Value::from(s("id")?),
        serde_json::Value::from(s("status")?),
        n("total")?,
        n("imported")?,
        n("invalid")?
    );
    if *line != canonical {
        return Err(format!("keys or form differ from the contract: {line}"));
    }
    Ok(v)
}

/// The objects of `tiport export --format stix` (the bundle checked to be a bundle).
pub fn export_objects(dir: &Path, ws: &str) -> Vec<serde_json::Value> {
    let out = run_in(dir, &["export", "--workspace", ws, "--format", "stix"]);
    assert_eq!(out.status.code(), Some(0), "export: {}", stderr(&out));
    let bundle: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("export is not JSON: {e}: {}", stdout(&out)));
    assert_eq!(bundle["type"], "bundle");
    assert!(bundle["id"].as_str().unwrap_or("").starts_with("bundle--"));
    bundle["objects"]
        .as_array()
        .expect("bundle objects")
        .clone()
}

/// The records of `tiport import-status --workspace WS [ID]`.
pub fn import_records(dir: &Path, ws: &str, id: Option<&str>) -> Vec<serde_json::Value> {
    let mut args = vec!["import-status", "--workspace", ws];
    args.extend(id);
    let out = run_in(dir, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "import-status: {}",
        stderr(&out)
    );
    json_lines(&out)
}

/// The one import record with this id.
pub fn import_record(dir: &Path, ws: &str, id: &str) -> serde_json::Value {
    let mut r = import_records(dir, ws, Some(id));
    assert_eq!(r.len(), 1, "{r:?}");
    r.remove(0)
}

/// The error file of import `id`: `DIR/imports/<id>/errors.json` or `errors.csv`.
pub fn error_file(dir: &Path, id: &str) -> PathBuf {
    let d = dir.join("imports").join(id);
    let found: Vec<PathBuf> = ["errors.json", "errors.csv"]
        .iter()
        .map(|n| d.join(n))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "error file of import {id} in {}",
        d.display()
    );
    found[0].clone()
}

/// Whether import `id` has an error file at all.
pub fn error_file_exists(dir: &Path, id: &str) -> bool {
    let d = dir.join("imports").join(id);
    d.join("errors.json").exists() || d.join("errors.csv").exists()
}
