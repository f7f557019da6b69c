//! `src/registry.rs` is generated (`scripts/gen-registry.py`, from the reference validator in
//! its virtualenv): this fails when the committed file differs from what the generator writes,
//! so that it is regenerated, never edited by hand, and stays what stix2-validator checks.

#[test]
fn the_committed_registry_is_what_the_generator_writes() {
    let root = test_support::repo_root();
    let written =
        test_support::run_reference_script::<&str>(&root.join("scripts/gen-registry.py"), &[]);
    let committed = std::fs::read(root.join("crates/stix/src/registry.rs")).unwrap();
    assert!(
        written == committed,
        "crates/stix/src/registry.rs differs from what scripts/gen-registry.py writes; run\n  \
         .reference-venv/bin/python scripts/gen-registry.py > crates/stix/src/registry.rs"
    );
}
