//! Import using a file and Manage file imports, in the browser: a file dropped on the upload
//! area and one chosen with the browse link, once in each mode, watched to their end without
//! reloading.

use serde_json::json;

use super::Browser;
use crate::service::Service;

/// Drops a file named `name` holding `text` on the upload area, as a person dragging it from
/// their desktop would (a synthesised drop event carrying the file).
pub(super) fn drop_file(b: &Browser, name: &str, text: &str) {
    b.eval(
        "const area = document.getElementById('drop-area');
         const data = new DataTransfer();
         data.items.add(new File([arguments[1]], arguments[0], {type: 'text/csv'}));
         area.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));",
        vec![json!(name), json!(text)],
    );
}

#[test]
fn the_seed_csv_dropped_on_the_form_is_imported_and_watched_to_its_end() {
    let s = Service::start(&[]);
    let b = Browser::signed_in("import-drop", &s);
    b.goto(&format!("{}/imports/new", s.base));
    // The template link follows the indicator type.
    let link = b.eval(
        "return document.getElementById('template-link').getAttribute('href')",
        vec![],
    );
    assert_eq!(link, "/templates/csv-other");

    let seed =
        std::fs::read_to_string(test_support::seed_samples().join("bulk-import-example.csv"))
            .unwrap();
    drop_file(&b, "bulk-import-example.csv", &seed);
    assert!(b.text("#chosen").contains("bulk-import-example.csv"));
    // Checked before anything is sent: a source is needed.
    b.click("#import-form button[type=submit]");
    assert_eq!(b.text("#form-problem"), "Give the source of the file.");
    b.fill("#source", "Seed example");
    b.screenshot("form");
    b.click("#import-form button[type=submit]");
    b.wait_for_path("/imports");
    // Marks this document: if the list reloaded the page, the mark would be gone.
    b.eval("window.__same_page = true", vec![]);
    let status = b.wait_for_text("#imports tbody tr .status", |t| {
        t == "succeeded" || t == "failed" || t == "partially-succeeded"
    });
    assert_eq!(status, "succeeded");
    assert_eq!(b.text("#imports tbody tr .name"), "bulk-import-example.csv");
    assert_eq!(b.text("#imports tbody tr .source"), "Seed example");
    assert_eq!(b.text("#imports tbody tr .imported"), "1");
    assert_eq!(
        b.eval("return window.__same_page === true", vec![]),
        json!(true)
    );
    b.screenshot("list");

    // The analyst finds the indicator by its observable value and opens it.
    b.click("nav a[href='/intel']");
    b.wait_for_path("/intel");
    let name = b.search_intel("1776769042.tailspintoys.com");
    assert_eq!(name, "MDTI article - Franken-Phish domainname");
    assert!(b
        .text("#objects tbody tr .observable")
        .contains("1776769042.tailspintoys.com"));
    b.screenshot("search");
    b.click("#objects tbody tr .name a");
    let h1 = b.wait_for_text("h1", |t| t.starts_with("MDTI"));
    assert_eq!(h1, "MDTI article - Franken-Phish domainname");
    let json = b.text("pre.json");
    assert!(json.contains("\"pattern_type\": \"stix\""), "{json}");
    // As stored: the mapping writes `type` first, not in alphabetical order.
    assert!(json.starts_with("{\n  \"type\": \"indicator\""), "{json}");
    // It came in by the import, which its version links to.
    assert_eq!(b.text("#versions tbody tr .origin a"), "import");
    b.screenshot("object");
}

/// Chooses `path` with the browse link, in `mode`, with source `source`, and sends the form.
fn import_by_browsing(b: &Browser, s: &Service, path: &str, mode: &str, source: &str) {
    b.goto(&format!("{}/imports/new", s.base));
    b.fill("#file", path);
    b.fill("#source", source);
    b.click(&format!("input[name=mode][value={mode}]"));
    b.click("#import-form button[type=submit]");
    b.wait_for_path("/imports");
}

/// The row of the import of `source` in the list (its cells' texts by class), once it has
/// ended, watched without reloading; and the status it had when the list was first shown.
fn watch_to_the_end(b: &Browser, source: &str) -> (String, serde_json::Value) {
    b.eval("window.__same_page = true", vec![]);
    let row = |b: &Browser| {
        b.eval(
            "for (const tr of document.querySelectorAll('#imports tbody tr')) {
               if (tr.querySelector('.source').textContent === arguments[0]) {
                 const cell = (c) => tr.querySelector('.' + c).textContent;
                 return {status: cell('status'), imported: cell('imported'),
                         total: cell('total'), invalid: cell('invalid')};
               }
             }
             return null;",
            vec![json!(source)],
        )
    };
    let first = row(b)["status"].as_str().unwrap_or("").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let now = row(b);
        let status = now["status"].as_str().unwrap_or("");
        if ["succeeded", "partially-succeeded", "failed"].contains(&status) {
            assert_eq!(
                b.eval("return window.__same_page === true", vec![]),
                json!(true)
            );
            return (first, now);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{source} never ended: {now}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_generated_csv_chosen_with_the_browse_link_in_each_mode() {
    // One import at a time, and a large one first: the browser's imports wait behind it, so
    // the list first shows them queued and must update itself to see them end.
    let (s, token) = Service::start_with_token(&["--max-running-imports", "1"]);
    let b = Browser::signed_in("import-browse", &s);
    let big = crate::hardening::csv_of(300_000);
    let (status, _) = s.import(&token, &[("source", "ahead")], "big.csv", &big);
    assert_eq!(status, 202);
    // While it runs, the list says how far it has read its file.
    b.goto(&format!("{}/imports", s.base));
    let read = b.wait_for_text("#imports tbody tr .progress", |t| t.ends_with("% read"));
    assert!(
        read.trim_end_matches("% read").parse::<u8>().unwrap() <= 100,
        "{read}"
    );
    let data = test_support::test_data("indicators_1mb_invalid.csv");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(test_support::test_data(
            "indicators_1mb_invalid.manifest.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let injected = manifest["summary"]["invalid_injected"].as_u64().unwrap();
    let rows = manifest["summary"]["records"].as_u64().unwrap();

    import_by_browsing(&b, &s, data.to_str().unwrap(), "valid-only", "Valid only");
    let (first, ended) = watch_to_the_end(&b, "Valid only");
    assert!(
        first == "queued" || first == "running",
        "the list must first show the import before it ended, not {first:?}"
    );
    b.screenshot("valid-only");
    assert_eq!(ended["status"], "partially-succeeded", "{ended}");
    assert_eq!(ended["invalid"], injected.to_string(), "{ended}");
    assert_eq!(ended["total"], rows.to_string(), "{ended}");
    check_error_preview(&b, "Valid only", injected);

    import_by_browsing(
        &b,
        &s,
        data.to_str().unwrap(),
        "all-or-nothing",
        "All or nothing",
    );
    let (_, ended) = watch_to_the_end(&b, "All or nothing");
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["imported"], "0", "{ended}");
}

/// Opens the import of `source` from the list and checks its error preview (the first 50 of
/// `invalid` entries, each with its line and messages) and that its error file downloads.
fn check_error_preview(b: &Browser, source: &str, invalid: u64) {
    b.eval(
        "for (const tr of document.querySelectorAll('#imports tbody tr')) {
           if (tr.querySelector('.source').textContent === arguments[0]) {
             tr.querySelector('.name a').click();
           }
         }",
        vec![json!(source)],
    );
    b.wait_for_text("#errors tbody tr .where", |t| t.starts_with("line "));
    let shown = b.eval(
        "return Array.from(document.querySelectorAll('#errors tbody tr')).map(tr =>
           [tr.querySelector('.where').textContent, tr.querySelectorAll('.messages li').length])",
        vec![],
    );
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len() as u64, invalid.min(50));
    for entry in shown {
        assert!(entry[0].as_str().unwrap().starts_with("line "), "{entry}");
        assert!(entry[1].as_u64().unwrap() >= 1, "{entry}");
    }
    b.screenshot("errors");
    // The download link gives the whole file, as an attachment.
    let download = b.eval_async(
        "const done = arguments[arguments.length - 1];
         fetch(document.getElementById('error-file').href)
           .then(async r => done([r.status, r.headers.get('content-disposition'),
                                  (await r.text()).split('\\n').length]))
           .catch(e => done([0, String(e), 0]));",
    );
    assert_eq!(download[0], 200, "{download}");
    assert!(
        download[1].as_str().unwrap().starts_with("attachment"),
        "{download}"
    );
    // A header line, and a line for each invalid row (more where a cell holds a line break).
    assert!(download[2].as_u64().unwrap() > invalid, "{download}");
}

#[test]
fn the_template_links_give_what_tiport_template_prints() {
    let s = Service::start(&[]);
    let b = Browser::signed_in("templates", &s);
    b.goto(&format!("{}/imports/new", s.base));
    for (format, indicator_type, template) in [
        ("csv", "csv-file", "csv-file"),
        ("csv", "csv-other", "csv-other"),
        ("json", "csv-other", "json"),
    ] {
        b.click(&format!("input[name=format][value={format}]"));
        b.eval(
            "const t = document.getElementById('indicator-type');
             t.value = arguments[0];
             t.dispatchEvent(new Event('change'));",
            vec![json!(indicator_type)],
        );
        let fetched = b.eval_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.getElementById('template-link').href)
               .then(async r => done(await r.text()))
               .catch(e => done(String(e)));",
        );
        let printed = crate::helpers::run(&["template", template], None);
        assert!(printed.status.success());
        assert_eq!(
            fetched.as_str().unwrap(),
            String::from_utf8(printed.stdout).unwrap(),
            "{template}"
        );
    }
}

#[test]
fn manage_file_imports_sorts_by_each_sortable_column() {
    let (s, token) = Service::start_with_token(&[]);
    // Three imports whose source, name, imported and total counts each order differently.
    for (source, name, rows) in [
        ("b-feed", "c.csv", 2),
        ("c-feed", "a.csv", 3),
        ("a-feed", "b.csv", 1),
    ] {
        let (status, answer) = s.import(
            &token,
            &[("source", source)],
            name,
            &crate::hardening::csv_of(rows),
        );
        assert_eq!(status, 202, "{answer}");
        let id = answer["id"].as_str().unwrap();
        s.finished_import(&token, id);
    }
    let b = Browser::signed_in("sorting", &s);
    b.goto(&format!("{}/imports", s.base));
    let column = |class: &str| -> Vec<String> {
        serde_json::from_value(b.eval(
            "return Array.from(document.querySelectorAll('#imports tbody .' + arguments[0]))
               .map(td => td.textContent)",
            vec![json!(class)],
        ))
        .unwrap()
    };
    // Newest first by default.
    assert_eq!(column("name"), ["b.csv", "a.csv", "c.csv"]);
    for (heading, class, ascending) in [
        ("Source", "source", ["a-feed", "b-feed", "c-feed"]),
        ("Name", "name", ["a.csv", "b.csv", "c.csv"]),
        ("Imported", "imported", ["1", "2", "3"]),
        ("Total", "total", ["1", "2", "3"]),
    ] {
        b.eval(
            "for (const a of document.querySelectorAll('#imports thead a')) {
               if (a.textContent === arguments[0]) { a.click(); }
             }",
            vec![json!(heading)],
        );
        b.wait_for_text("#imports thead th[aria-sort=ascending] a", |t| t == heading);
        assert_eq!(column(class), ascending, "{heading} ascending");
        // Clicked again, the other way round.
        b.eval(
            "document.querySelector('#imports thead th[aria-sort=ascending] a').click()",
            vec![],
        );
        b.wait_for_text("#imports thead th[aria-sort=descending] a", |t| {
            t == heading
        });
        let mut descending = ascending.to_vec();
        descending.reverse();
        assert_eq!(column(class), descending, "{heading} descending");
    }
    b.screenshot("sorted");
}
