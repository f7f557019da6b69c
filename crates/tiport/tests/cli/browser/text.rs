//! Whatever an object holds is shown as text: markup in a name, a pattern or a description
//! never becomes part of the page, and no script of it runs.

use serde_json::json;

use super::Browser;
use crate::service::Service;

#[test]
fn markup_in_objects_is_shown_as_text_and_runs_nothing() {
    let (s, token) = Service::start_with_token(&[]);
    let names = [
        "<script>window.__xss = 1</script>",
        "\"><img src=x onerror=\"window.__xss = 2\">",
    ];
    let objects: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({"type": "indicator", "spec_version": "2.1",
                   "id": format!("indicator--0000000{i}-0000-4000-8000-000000000000"),
                   "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                   "name": name, "description": "see javascript:window.__xss=3",
                   "pattern": format!("[domain-name:value = 'x{i}.example']"),
                   "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"})
        })
        .collect();
    let (status, body) = s.upload(
        &token,
        &json!({"sourcesystem": "<b>bold</b>", "stixobjects": objects}),
    );
    assert_eq!(status, 200, "{body}");

    let b = Browser::signed_in("text", &s);
    b.goto(&format!("{}/intel", s.base));
    let shown = b.eval(
        "return Array.from(document.querySelectorAll('#objects tbody .name')).map(e => e.textContent)",
        vec![],
    );
    let mut shown: Vec<String> = serde_json::from_value(shown).unwrap();
    shown.sort();
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(shown, expected);
    assert_eq!(
        b.eval(
            "return document.querySelectorAll('#objects img, #objects b').length",
            vec![]
        ),
        json!(0)
    );
    b.screenshot("list");
    for i in 0..names.len() {
        b.click(&format!("#objects tbody tr:nth-child({}) .name a", i + 1));
        b.wait_for_path("000-000000000000");
        assert!(b.text("pre.json").contains("javascript:window.__xss=3"));
        assert_eq!(
            b.eval("return typeof window.__xss", vec![]),
            json!("undefined")
        );
        b.goto(&format!("{}/intel", s.base));
    }
    assert_eq!(
        b.eval("return typeof window.__xss", vec![]),
        json!("undefined")
    );
}
