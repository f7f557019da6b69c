//! Where the tests of every crate find what lives outside the repository: the project's
//! `shared/` folder (seeds, their samples, the OASIS conformance cases, the corpus generator),
//! the OASIS reference tools' virtualenv, and the generated test inputs. One place, so that
//! every test honours the same environment variables (`scripts/test.sh` sets them all).
//!
//! Nothing here skips: a test whose input is missing fails, saying what is missing and how to
//! get it. A test that cannot run is a failing test.

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// The project's shared/ folder: `TIPORT_SHARED`, or `../shared` beside the repository.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("TIPORT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"));
    assert!(
        dir.join("tools").is_dir(),
        "the project's shared/ folder is not at {} (set TIPORT_SHARED)",
        dir.display()
    );
    dir
}

/// A file or folder inside shared/, which must exist.
pub fn shared_file(relative: &str) -> PathBuf {
    let path = shared().join(relative);
    assert!(
        path.exists(),
        "{} is missing from the shared/ folder",
        path.display()
    );
    path
}

/// The seed documents' samples (`shared/data/seed-samples`).
pub fn seed_samples() -> PathBuf {
    shared_file("data/seed-samples")
}

/// The OASIS reference tools' python, or a failure that says how to get it.
pub fn reference_python() -> PathBuf {
    let venv = std::env::var_os("TIPORT_REFERENCE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".reference-venv"));
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "the OASIS reference tools are not installed at {}; run scripts/test.sh (the README's \
         test command), which installs them with shared/tools/reference-tools.sh (or set \
         TIPORT_REFERENCE_VENV)",
        venv.display()
    );
    py
}

/// A generated test input made by scripts/test.sh (`TIPORT_TEST_DATA`, or `.test-data`).
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

/// A file of the calling crate's `tests/data/` folder (pass `env!("CARGO_MANIFEST_DIR")`).
pub fn read_data(manifest_dir: &str, name: &str) -> String {
    let path = Path::new(manifest_dir).join("tests/data").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs `script` with the reference tools' python and returns what it printed; a script that
/// fails fails the test, with what it said.
pub fn run_reference_script<A: AsRef<std::ffi::OsStr>>(script: &Path, args: &[A]) -> Vec<u8> {
    let out = std::process::Command::new(reference_python())
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The CSV column a corruption of `gen_corpus.py` breaks, by the `kind` its manifest names:
/// the generator's knowledge, which every test of its CSV corpora needs.
pub fn corpus_csv_column(kind: &str) -> &'static str {
    match kind {
        "missing_validFrom" | "bad_timestamp" => "validFrom",
        "validUntil_before_validFrom" => "validUntil",
        "confidence_out_of_range" => "confidence",
        "bad_observableType" => "observableType",
        "malformed_observableValue" | "missing_observableValue" => "observableValue",
        "bad_revoked" => "revoked",
        other => panic!("gen_corpus.py injects a kind unknown here, {other}: add its column"),
    }
}

/// splitmix64: a small, well-mixed, seeded generator, so that a randomized test (mutations,
/// kill times) is the same run every time for the same seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// A snapshot's text for a table of cases: each case as a quoted line, then what `say` makes
/// of it, indented.
pub fn table<'a>(
    cases: impl IntoIterator<Item = &'a str>,
    mut say: impl FnMut(&str) -> String,
) -> String {
    let mut out = String::new();
    for case in cases {
        out.push_str(&format!("{case:?}\n"));
        for line in say(case).lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}
