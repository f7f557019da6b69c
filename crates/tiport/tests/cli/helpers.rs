//! Running the binary and finding the project's shared data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn tiport() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tiport"))
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

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// The project's shared/ folder: `TIPORT_SHARED`, or `../shared` beside the repository.
pub fn shared() -> PathBuf {
    std::env::var_os("TIPORT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"))
}

pub fn seed_samples() -> PathBuf {
    shared().join("data/seed-samples")
}

/// The reference tools' python, or a failure that says how to get it. Never a skip: a test
/// that cannot run is a failing test.
pub fn reference_python() -> PathBuf {
    let venv = std::env::var_os("TIPORT_REFERENCE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".reference-venv"));
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "the OASIS reference tools are not installed at {}; run scripts/test.sh (the README's test command), which installs them",
        venv.display()
    );
    py
}

/// A generated test input made by scripts/test.sh.
pub fn test_data(name: &str) -> PathBuf {
    let dir = std::env::var_os("TIPORT_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".test-data"));
    let p = dir.join(name);
    assert!(
        p.exists(),
        "test input {} is missing; run scripts/test.sh (the README's test command), which makes it",
        p.display()
    );
    p
}

/// The JSON lines of `--output json`.
pub fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}
