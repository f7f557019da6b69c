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
