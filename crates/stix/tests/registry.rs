//! `src/registry.rs` is generated (`scripts/gen-registry.py`, from the reference validator in
//! its virtualenv): this fails when the committed file differs from what the generator writes,
//! so that it is regenerated, never edited by hand, and stays what stix2-validator checks.

use std::process::Command;

#[test]
fn the_committed_registry_is_what_the_generator_writes() {
    let root = test_support::repo_root();
    let out = Command::new(test_support::reference_python())
        .arg(root.join("scripts/gen-registry.py"))
        .output()
        .expect("run scripts/gen-registry.py");
    assert!(
        out.status.success(),
        "scripts/gen-registry.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read(root.join("crates/stix/src/registry.rs")).unwrap();
    assert!(
        out.stdout == committed,
        "crates/stix/src/registry.rs differs from what scripts/gen-registry.py writes; run\n  \
         .reference-venv/bin/python scripts/gen-registry.py > crates/stix/src/registry.rs"
    );
}
