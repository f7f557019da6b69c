//! Every page reads on a narrow window (400 px) without the page scrolling sideways (a wide
//! table scrolls inside itself), and can be worked with the keyboard: each control is reached
//! by Tab and shows where the focus is.

use serde_json::json;

use super::Browser;
use crate::service::Service;

const PAGES: [&str; 5] = ["/", "/intel", "/intel/new", "/imports", "/imports/new"];

#[test]
fn every_page_fits_a_narrow_window() {
    let s = Service::start(&[]);
    let b = Browser::signed_in("narrow", &s);
    b.resize(400, 800);
    for path in PAGES {
        b.goto(&format!("{}{path}", s.base));
        let (page, window) = (
            b.eval("return document.documentElement.scrollWidth", vec![]),
            b.eval("return window.innerWidth", vec![]),
        );
        assert!(
            page.as_u64().unwrap() <= window.as_u64().unwrap(),
            "{path}: the page is {page} px wide in a window of {window} px"
        );
        b.screenshot(&path.replace('/', "_"));
    }
}

#[test]
fn every_control_is_labelled_and_shows_the_focus() {
    let s = Service::start(&[]);
    let b = Browser::signed_in("keyboard", &s);
    for path in PAGES {
        b.goto(&format!("{}{path}", s.base));
        // Every field has a label a screen reader reads out.
        let unlabelled = b.eval(
            "return Array.from(document.querySelectorAll('input:not([type=hidden]), select'))
               .filter(e => !(e.labels && e.labels.length) && !e.closest('label'))
               .map(e => e.name || e.id)",
            vec![],
        );
        assert_eq!(unlabelled, json!([]), "{path}");
        // Tab reaches the controls in turn, and the focused one is drawn with an outline.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5 {
            b.tab();
            let focus = b.eval(
                "const e = document.activeElement;
                 return [e.tagName + '#' + (e.id || e.name || e.textContent.trim()),
                         getComputedStyle(e).outlineStyle];",
                vec![],
            );
            assert_ne!(focus[1], json!("none"), "{path}: {focus}");
            assert!(
                seen.insert(focus[0].to_string()),
                "{path}: Tab stayed on {focus}"
            );
        }
    }
}
