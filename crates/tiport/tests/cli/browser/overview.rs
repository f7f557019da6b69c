//! The overview: what the workspace holds by type, source and TLP, what came in per day.

use serde_json::json;

use super::Browser;
use crate::service::Service;

#[test]
fn the_overview_counts_by_type_source_and_tlp_and_charts_the_days() {
    let (s, token) = Service::start_with_token(&[]);
    let amber = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
    let mut objects: Vec<_> = (0..3).map(crate::service::indicator).collect();
    objects[0]["object_marking_refs"] = json!([amber]);
    objects.push(json!({"type": "attack-pattern", "spec_version": "2.1",
        "id": "attack-pattern--00000000-0000-4000-8000-000000000001",
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "name": "Spearphishing"}));
    let (status, body) = s.upload(
        &token,
        &json!({"sourcesystem": "Feed A", "stixobjects": objects}),
    );
    assert_eq!(status, 200, "{body}");
    let more = vec![crate::service::indicator(7)];
    let (status, body) = s.upload(
        &token,
        &json!({"sourcesystem": "Feed B", "stixobjects": more}),
    );
    assert_eq!(status, 200, "{body}");

    let b = Browser::signed_in("overview", &s);
    // The first visit starts the count and says so; the page fills in by itself.
    b.eval("window.__same_page = true", vec![]);
    assert_eq!(b.wait_for_text("#objects", |t| !t.is_empty()), "5");
    assert_eq!(
        b.eval("return window.__same_page === true", vec![]),
        json!(true)
    );
    assert_eq!(b.text("#versions"), "5");
    let table = |id: &str| {
        b.eval(
            "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'))
               .map(tr => [tr.querySelector('th').textContent, tr.querySelector('td').textContent])",
            vec![json!(id)],
        )
    };
    assert_eq!(
        table("by-type"),
        json!([["indicator", "4"], ["attack-pattern", "1"]])
    );
    assert_eq!(
        table("by-source"),
        json!([["Feed A", "4"], ["Feed B", "1"]])
    );
    assert_eq!(table("by-tlp"), json!([["none", "4"], ["amber", "1"]]));
    let bars = b.eval(
        "return Array.from(document.querySelectorAll('#per-day rect'))
           .map(r => [r.getAttribute('height'), r.querySelector('title').textContent])",
        vec![],
    );
    let bars = bars.as_array().unwrap();
    assert_eq!(bars.len(), 30);
    // Everything came today (UTC), the last bar, which is as tall as the chart.
    let today = &bars[29];
    assert_eq!(today[0], "120", "{today}");
    assert!(today[1].as_str().unwrap().ends_with(": 5"), "{today}");
    assert!(bars[..29].iter().all(|b| b[0] == "0"));
    b.screenshot("overview");
}
