//! The README's walk through the web UI, as written there: sign in, import
//! `examples/indicators.csv`, watch it in Manage file imports, find indicators by value.

use super::imports::drop_file;
use super::Browser;
use crate::service::Service;

#[test]
fn the_readme_walk_through_the_web_ui_works_as_written() {
    let s = Service::start(&[]);
    let b = Browser::signed_in("readme", &s);
    b.click("nav a[href='/imports/new']");
    b.wait_for_path("/imports/new");
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/indicators.csv");
    drop_file(
        &b,
        "indicators.csv",
        &std::fs::read_to_string(file).unwrap(),
    );
    b.fill("#source", "Example feed");
    b.click("#import-form button[type=submit]");
    b.wait_for_path("/imports");
    let status = b.wait_for_text("#imports tbody tr .status", |t| {
        ["succeeded", "partially-succeeded", "failed"].contains(&t)
    });
    assert_eq!(status, "succeeded");
    for (value, name) in [
        ("203.0.113.17", "Botnet controller"),
        // Inside 198.51.100.0/24, which an indicator names.
        ("198.51.100.9", "Scanner network"),
    ] {
        b.click("nav a[href='/intel']");
        b.wait_for_path("/intel");
        assert_eq!(b.search_intel(value), name);
    }
}
