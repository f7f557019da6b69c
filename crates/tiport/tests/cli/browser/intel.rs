//! Threat intelligence in the browser: an indicator added by form, refused first with its
//! problems named by field, then revoked.

use serde_json::json;

use super::Browser;
use crate::service::Service;

#[test]
fn an_indicator_is_added_by_form_and_revoked() {
    let s = Service::start(&[]);
    let b = Browser::signed_in("intel-add", &s);
    b.goto(&format!("{}/intel", s.base));
    b.click("#add-new");
    b.wait_for_path("/intel/new");
    b.fill("#source", "Analyst");
    b.fill("#observableType", "ipv4-addr");
    b.fill("#observableValue", "192.0.2.300");
    b.fill("#name", "Seen in the proxy log");
    b.fill("#confidence", "80");
    b.click("form.add button[type=submit]");
    let problems = b.wait_for_text("#problems", |t| !t.is_empty());
    assert!(
        problems.contains("Error for Property=observableValue: "),
        "{problems}"
    );
    // What was typed stays in the form, to be corrected.
    assert_eq!(
        b.eval("return document.getElementById('name').value", vec![]),
        json!("Seen in the proxy log")
    );
    b.screenshot("refused");
    b.eval(
        "document.getElementById('observableValue').value = ''",
        vec![],
    );
    b.fill("#observableValue", "192.0.2.77");
    b.click("form.add button[type=submit]");
    let h1 = b.wait_for_text("h1", |t| t == "Seen in the proxy log");
    assert_eq!(h1, "Seen in the proxy log");
    assert!(b
        .text("dl.fields")
        .contains("[ipv4-addr:value = '192.0.2.77']"));
    b.screenshot("added");

    b.click("form.revoke button");
    b.wait_for_text("dl.fields", |t| t.contains("Revoked\nyes"));
    assert_eq!(
        b.eval(
            "return document.querySelector('form.revoke button').disabled",
            vec![]
        ),
        json!(true)
    );
    assert_eq!(
        b.eval(
            "return document.querySelectorAll('#versions tbody tr').length",
            vec![]
        ),
        json!(2),
        "the first version is kept"
    );
    assert_eq!(
        b.text("#versions tbody tr:nth-child(2) .changes"),
        "added revoked"
    );
    b.screenshot("revoked");
    // The list says so too.
    b.goto(&format!("{}/intel?q=192.0.2.77", s.base));
    assert_eq!(b.text("#objects tbody tr td:nth-child(9)"), "revoked");
}
