//! File imports over HTTP: both modes, limits, roles, templates, a stop while one runs, and
//! retention of their files.

use super::*;

/// The values of `key` in a JSON array of records, in order.
fn counts_of(list: &Value, key: &str) -> Vec<u64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|e| e[key].as_u64().unwrap())
        .collect()
}

/// The seed's CSV, every row valid, imports whole; its record has the API's keys.
fn seed_csv_imports_whole(s: &Service, token: &str, csv: &[u8]) {
    let (status, queued) = s.import(
        token,
        &[("source", "My feed"), ("format", "csv")],
        "bulk.csv",
        csv,
    );
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["status"], "queued");
    let r = s.finished_import(token, queued["id"].as_str().unwrap());
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["fileName"], "bulk.csv");
    assert_eq!(r["imported"], r["total"]);
    for key in [
        "id", "source", "fileName", "format", "mode", "status", "total", "imported", "invalid",
        "created", "finished",
    ] {
        assert!(r.get(key).is_some(), "{key} in {r}");
    }
}

/// Generated JSON with injected invalid records: valid-only stores the rest and lists them,
/// all-or-nothing fails and stores nothing more.
fn generated_json_imports_in_both_modes(s: &Service, token: &str) {
    let ws = s.cred("workspace_id");
    let file = crate::helpers::test_data("stix_2mb_invalid.json");
    let (records, injected) =
        crate::import::manifest(&crate::helpers::test_data("stix_2mb_invalid.manifest.json"));
    let json_file = std::fs::read(&file).unwrap();
    let (status, queued) = s.import(
        token,
        &[("source", "gen"), ("mode", "valid-only")],
        "gen.json",
        &json_file,
    );
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();
    let r = s.finished_import(token, &id);
    assert_eq!(r["status"], "partially-succeeded", "{r}");
    assert_eq!(r["total"], records);
    assert_eq!(r["invalid"], injected.len() as u64);
    assert_eq!(r["imported"], records - injected.len() as u64);
    let errors = format!("/workspaces/{ws}/threat-intelligence/imports/{id}/errors");
    let listed = counts_of(&s.get_json(&errors, token), "recordIndex");
    assert_eq!(listed, injected.keys().copied().collect::<Vec<_>>());
    let preview = s.get_json(&format!("{errors}?preview=3"), token);
    assert_eq!(preview.as_array().unwrap().len(), 3);
    assert_eq!(
        preview[0]["recordIndex"].as_u64(),
        injected.keys().next().copied()
    );

    // The same file all-or-nothing: failed, nothing more stored.
    let before = exported(s).len();
    let (status, queued) = s.import(
        token,
        &[("source", "gen2"), ("mode", "all-or-nothing")],
        "gen.json",
        &json_file,
    );
    assert_eq!(status, 202);
    let r = s.finished_import(token, queued["id"].as_str().unwrap());
    assert_eq!(
        (r["status"].as_str(), r["imported"].as_u64()),
        (Some("failed"), Some(0)),
        "{r}"
    );
    assert_eq!(exported(s).len(), before);
}

#[test]
fn file_imports_over_http_in_both_modes() {
    let (s, token) = Service::start_with_token(&[]);
    let ws = s.cred("workspace_id");
    let csv = std::fs::read(seed_samples().join("bulk-import-example.csv")).unwrap();
    seed_csv_imports_whole(&s, &token, &csv);
    generated_json_imports_in_both_modes(&s, &token);

    // The list, sorted.
    let sorted = format!("/workspaces/{ws}/threat-intelligence/imports?sort=total&order=asc");
    let totals = counts_of(&s.get_json(&sorted, &token), "total");
    assert_eq!(totals.len(), 3);
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");

    // What is refused.
    for (what, fields) in [
        ("no source", &[("format", "csv")][..]),
        ("bad mode", &[("source", "s"), ("mode", "sometimes")]),
    ] {
        assert_eq!(s.import(&token, fields, "x.csv", &csv).0, 400, "{what}");
    }
    for (path, want) in [
        (
            format!(
                "/workspaces/{ws}/threat-intelligence/imports/6f1d2c3b-0000-4000-8000-000000000000"
            ),
            404,
        ),
        (
            format!("/workspaces/{ws}/threat-intelligence/imports?sort=size"),
            400,
        ),
    ] {
        assert_eq!(s.get(&path, Some(&token)).0, want, "{path}");
    }
}

#[test]
fn file_import_limits_roles_and_templates() {
    let (s, token) =
        Service::start_with_token(&["--max-csv-bytes", "1000", "--max-json-bytes", "5000"]);
    let big_csv = std::fs::read(seed_samples().join("bulk-import-example.csv"))
        .unwrap()
        .repeat(10);
    assert!(
        big_csv.len() > 1000 && big_csv.len() < 5000,
        "{}",
        big_csv.len()
    );
    let (status, answer) = s.import(
        &token,
        &[("source", "s"), ("format", "csv")],
        "big.csv",
        &big_csv,
    );
    assert_eq!(status, 413, "over the CSV limit: {answer}");
    // Over both limits: refused while streaming.
    let (status, _) = s.import(&token, &[("source", "s")], "huge.json", &vec![b' '; 50_000]);
    assert_eq!(status, 413);
    assert!(s.healthy());
    // Nothing of the refused uploads stays on disk.
    let incoming = s.dir.path().join("imports/incoming");
    assert_eq!(
        std::fs::read_dir(&incoming).map(|d| d.count()).unwrap_or(0),
        0
    );

    // A reader may list but not import.
    let ws = s.cred("workspace_id");
    let reader = s.new_client("reader");
    let rt = s.token_of(&reader);
    let small = std::fs::read(seed_samples().join("bulk-import-example.csv")).unwrap();
    assert_eq!(s.import(&rt, &[("source", "s")], "a.csv", &small).0, 403);
    assert_eq!(
        s.get(
            &format!("/workspaces/{ws}/threat-intelligence/imports"),
            Some(&rt)
        )
        .0,
        200
    );

    // Templates, without a token.
    let (status, body) = s.get("/templates/csv-other", None);
    assert_eq!(status, 200);
    assert!(body.contains("observableType"), "{body}");
    let (status, body) = s.get("/templates/json", None);
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).unwrap().is_array());
    assert_eq!(s.get("/templates/xlsx", None).0, 404);
}

#[test]
fn sigterm_lets_an_import_in_flight_finish() {
    let (s, token) = Service::start_with_token(&[]);
    // A JSON array of the generated file's records ten times over: long enough to be running
    // when the signal comes.
    let one = std::fs::read_to_string(crate::helpers::test_data("stix_2mb_invalid.json")).unwrap();
    let inner = one
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim();
    let file = format!("[{}]", [inner; 10].join(","));
    let (records, injected) =
        crate::import::manifest(&crate::helpers::test_data("stix_2mb_invalid.manifest.json"));
    let (status, queued) = s.import(&token, &[("source", "sig")], "ten.json", file.as_bytes());
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();
    // The signal must find the import running, or the test shows nothing: wait until it is.
    let path = format!(
        "/workspaces/{}/threat-intelligence/imports/{id}",
        s.cred("workspace_id")
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = s.get(&path, Some(&token));
        assert_eq!(status, 200, "{body}");
        let r: Value = serde_json::from_str(&body).unwrap();
        match r["status"].as_str().unwrap() {
            "running" => break,
            "queued" => {}
            other => panic!("the import ended ({other}) before the signal could find it running"),
        }
        assert!(Instant::now() < deadline, "the import did not start: {r}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut s = s;
    crate::helpers::sigterm(&s.child);
    let exited = s.child.wait().unwrap();
    assert!(exited.success(), "a clean stop: {exited:?}");
    // After a restart the import is finished, not failed as interrupted.
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s);
    let s = Service::start_in(dir, &[], &[]);
    let r = s.finished_import(&s.token(), &id);
    assert_eq!(r["status"], "partially-succeeded", "{r}");
    assert_eq!(r["total"], records * 10);
    assert_eq!(r["invalid"], injected.len() as u64 * 10);
}

#[test]
fn a_running_service_applies_file_retention() {
    // Files kept for 3 s, swept every second: a service that runs for weeks must not keep
    // uploaded files and error files past their retention because it opened the store once.
    let (s, token) = Service::start_with_token(&[
        "--import-file-retention",
        "3s",
        "--housekeeping-interval",
        "1s",
    ]);
    let ws = s.cred("workspace_id");
    // The seed rows and one of an unknown observable type: an error file is written.
    let mut csv = std::fs::read_to_string(seed_samples().join("bulk-import-example.csv")).unwrap();
    let bad_row = csv
        .lines()
        .last()
        .unwrap()
        .replacen(",domain-name,", ",not-a-type,", 1);
    csv.push_str(&bad_row);
    csv.push('\n');
    let (status, queued) = s.import(
        &token,
        &[("source", "s"), ("format", "csv")],
        "with-error.csv",
        csv.as_bytes(),
    );
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();
    let r = s.finished_import(&token, &id);
    assert!(r["invalid"].as_u64().unwrap() >= 1, "{r}");
    let errors = format!("/workspaces/{ws}/threat-intelligence/imports/{id}/errors");
    assert_eq!(s.get(&errors, Some(&token)).0, 200);
    let kept = s.dir.path().join("imports").join(&id);
    assert!(kept.exists(), "the import's files are kept at first");
    // Gone within a few sweeps after the retention, without a restart.
    let deadline = Instant::now() + Duration::from_secs(20);
    while kept.exists() {
        assert!(
            Instant::now() < deadline,
            "{} outlived its retention",
            kept.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, answer) = s.get(&errors, Some(&token));
    assert_eq!(status, 404, "{answer}");
    // The record itself is kept (30 days by default).
    let (status, record) = s.get(
        &format!("/workspaces/{ws}/threat-intelligence/imports/{id}"),
        Some(&token),
    );
    assert_eq!(status, 200, "{record}");
}
