//! The seeds' examples and hand-written files imported, re-imported and exported: ids,
//! versions, merges and STIX 2.0 records.

use super::*;

/// The rows of `tiport export --format csv`, whose header must be the csv-other template's,
/// each as column → cell.
fn export_csv(dir: &Path, ws: &str) -> Vec<BTreeMap<String, String>> {
    let out = run_in(dir, &["export", "--workspace", ws, "--format", "csv"]);
    assert_exit(&out, 0);
    let mut rdr = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(
        rdr.headers().unwrap(),
        &csv::StringRecord::from(CSV_OTHER_HEADER.to_vec())
    );
    rdr.records()
        .map(|row| {
            let row = row.unwrap();
            let cells = row.iter().map(str::to_owned);
            CSV_OTHER_HEADER
                .iter()
                .map(|c| c.to_string())
                .zip(cells)
                .collect()
        })
        .collect()
}

#[test]
fn seed_csv_example_imports_one_indicator_and_exports_it() {
    let file = seed_samples().join("bulk-import-example.csv");
    let imp = Imported::new("seed csv", &file, "Seed CSV", &[], 0);
    assert_summary(&imp.summary, "succeeded", (1, 1, 0));
    let record = imp.record();
    assert_eq!(record["source"], "Seed CSV");
    assert_eq!(record["fileName"], "bulk-import-example.csv");
    assert_eq!(record["format"], "csv");
    assert_eq!(record["mode"], "valid-only");
    assert!(!imp
        .dir()
        .join("imports")
        .join(imp.id())
        .join("errors.csv")
        .exists());

    let objects = imp.objects();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let ind = &objects[0];
    assert_eq!(ind["type"], "indicator");
    assert_eq!(ind["spec_version"], "2.1");
    assert!(str_of(ind, "id").starts_with("indicator--"));
    assert_eq!(
        ind["pattern"],
        "[domain-name:value = '1776769042.tailspintoys.com']"
    );
    assert_eq!(ind["pattern_type"], "stix");
    assert_eq!(ind["name"], "MDTI article - Franken-Phish domainname");
    assert_eq!(
        ind["description"],
        "Entity appears in MDTI article Franken-phish"
    );
    assert_eq!(ind["indicator_types"], serde_json::json!(["Phishing"]));
    assert_eq!(ind["labels"], serde_json::json!(["demo", "csv"]));
    assert_eq!(ind["confidence"], 100);
    assert_eq!(ind["valid_from"], "2022-07-18T12:00:00.000Z");
    // TLP:WHITE (STIX 2.1's predefined marking definition).
    assert_eq!(
        ind["object_marking_refs"],
        serde_json::json!(["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"])
    );

    let rows = export_csv(imp.dir(), &imp.ws);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["observableType"], "domain-name");
    assert_eq!(row["observableValue"], "1776769042.tailspintoys.com");
    assert_eq!(row["validFrom"], "2022-07-18T12:00:00.000Z");
    assert_eq!(row["tags"], "demo, csv");
    assert_eq!(row["threatTypes"], "Phishing");
    assert_eq!(row["confidence"], "100");
    assert_eq!(row["severity"], "5");
    assert!(
        ["white", "clear"].contains(&row["tlpLevel"].as_str()),
        "{:?}",
        row["tlpLevel"]
    );
}

#[test]
fn seed_json_example_imports_two_objects_and_exports_them_as_sent() {
    let file = seed_samples().join("bulk-import-example.json");
    let imp = Imported::new("seed json", &file, "Seed JSON", &[], 0);
    assert_summary(&imp.summary, "succeeded", (2, 2, 0));
    assert_eq!(imp.record()["format"], "json");

    let seed: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut objects = imp.objects();
    objects.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let mut want = seed.clone();
    want.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    // Every property kept, the compatible profile's "95" and "" included.
    assert_eq!(objects, want);

    // Indicators only: the attack pattern has no row.
    let rows = export_csv(imp.dir(), &imp.ws);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["observableType"], "ipv4-addr");
    assert_eq!(row["observableValue"], "198.168.100.5");
    assert_eq!(row["validFrom"], "2016-07-20T12:00:00.000Z");
    assert_eq!(row["name"], "Sample IPv4 indicator");
    assert_eq!(row["confidence"], "95");
}

/// The csv-other template as `tiport template` prints it (comment row, header, example row),
/// with more rows: every observable type of the generated corpus, quoting, a CIDR block.
fn hand_written_csv(dir: &Path) -> std::path::PathBuf {
    let out = run(&["template", "csv-other"], None);
    assert_exit(&out, 0);
    let mut text = stdout(&out);
    text.push_str(concat!(
        "Botnet,\"c2, botnet\",C2 address,\"Seen beaconing, every 60s\",80,false,",
        "2024-01-01T00:00:00.000Z,2025-01-01T00:00:00.000Z,amber,7,ipv4-addr,203.0.113.7\n",
        ",,,,,,2024-02-01T00:00:00Z,,,,ipv6-addr,2001:db8::1\n",
        "Malware,,Payload URL,,,,2024-03-01T00:00:00.000Z,,red,,url,https://example.com/a?q='x'\n",
        ",,,,,,2024-04-01T00:00:00.000Z,,green,,email-addr,user@example.com\n",
        ",,Net block,,,,2024-05-01T00:00:00.000Z,,,,ipv4-addr,198.51.100.0/24\n",
    ));
    let path = dir.join("indicators.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn reimporting_the_same_csv_keeps_the_ids_and_makes_no_new_versions() {
    let files = data_dir();
    let file = hand_written_csv(files.path());
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "reimport");
    let (out, first) = import(dir.path(), &ws, &file, "Analyst", &[]);
    assert_exit(&out, 0);
    assert_eq!(first["status"], "succeeded");
    assert_eq!(
        (count(&first, "total"), count(&first, "imported")),
        (6, 6),
        "the template's comment row is skipped"
    );
    let before = export_objects(dir.path(), &ws);
    assert_eq!(before.len(), 6);
    let url = before
        .iter()
        .find(|o| o["name"] == "Payload URL")
        .expect("the URL indicator");
    assert_eq!(
        url["pattern"],
        r"[url:value = 'https://example.com/a?q=\'x\'']"
    );

    let (out, second) = import(dir.path(), &ws, &file, "Analyst", &[]);
    assert_exit(&out, 0);
    assert_eq!(second["status"], "succeeded");
    assert_ne!(second["id"], first["id"]);
    assert_eq!(count(&second, "total"), 6);
    assert_eq!(count(&second, "imported"), 6);
    assert_eq!(count(&second, "invalid"), 0);
    let after = export_objects(dir.path(), &ws);
    // Same ids, same created and modified, same everything: no new version became current.
    assert_eq!(after, before);
    assert_eq!(import_records(dir.path(), &ws, None).len(), 2);

    // Another source is another feed: its own indicators, the first source's untouched.
    let (out, other) = import(dir.path(), &ws, &file, "Other feed", &[]);
    assert_exit(&out, 0);
    assert_eq!(count(&other, "imported"), 6);
    let all = export_objects(dir.path(), &ws);
    assert_eq!(all.len(), 12);
    for o in &before {
        assert!(all.contains(o), "{o} changed");
    }
}

#[test]
fn reimporting_the_generated_csv_changes_nothing() {
    let file = test_data("indicators_1mb_invalid.csv");
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "reimport generated");
    let (out, first) = import(dir.path(), &ws, &file, "Generated", &[]);
    assert_exit(&out, 1);
    let before = export_objects(dir.path(), &ws);
    let (out, second) = import(dir.path(), &ws, &file, "Generated", &[]);
    assert_exit(&out, 1);
    for k in ["status", "total", "imported", "invalid"] {
        assert_eq!(first[k], second[k], "{k}");
    }
    assert_eq!(export_objects(dir.path(), &ws), before);
}

#[test]
fn two_rows_with_the_same_observable_are_merged_and_said_so() {
    let mut text = String::from_utf8(seed_csv()).unwrap();
    // Line 3: the same observable under another name.
    text.push_str(
        "Phishing,,Same domain again,,50,,2023-01-01T00:00:00.000Z,,green,,domain-name,1776769042.tailspintoys.com\n",
    );
    let files = data_dir();
    let path = files.path().join("dup.csv");
    std::fs::write(&path, text).unwrap();
    let imp = Imported::new("dup", &path, "Dup", &[], 0);
    assert_summary(&imp.summary, "succeeded", (2, 2, 0));
    assert!(
        stderr(&imp.out).contains("line 3 repeats line 2"),
        "the merge is told: {}",
        stderr(&imp.out)
    );
    imp.record();
    assert!(
        !error_file_exists(imp.dir(), imp.id()),
        "a merged row is not an invalid one"
    );
    // One indicator, with the first row's values.
    let objects = imp.objects();
    assert_eq!(objects.len(), 1);
    assert_eq!(
        objects[0]["name"],
        "MDTI article - Franken-Phish domainname"
    );
}

/// A row the store refuses (it would un-revoke a revoked indicator) is an invalid record with
/// its line, and a later row with the same observable is refused with it.
#[test]
fn a_row_the_store_refuses_is_listed_with_its_line() {
    let header = CSV_OTHER_HEADER.join(",");
    let row = |revoked: &str, name: &str| {
        format!(
            "Botnet,,{name},,80,{revoked},2024-01-01T00:00:00.000Z,,green,,ipv4-addr,198.51.100.7\n"
        )
    };
    let files = data_dir();
    let first = files.path().join("revoke.csv");
    std::fs::write(&first, format!("{header}\n{}", row("true", "gone"))).unwrap();
    let second = files.path().join("unrevoke.csv");
    std::fs::write(
        &second,
        format!("{header}\n{}{}", row("false", "back"), row("", "again")),
    )
    .unwrap();
    let revoked = Imported::new("revocation", &first, "Feed", &[], 0);
    assert_eq!(revoked.summary["status"], "succeeded");

    let (dir, ws) = (revoked.dir(), &revoked.ws);
    let (out, summary) = import(dir, ws, &second, "Feed", &[]);
    assert_exit(&out, 1);
    assert_summary(&summary, "failed", (2, 0, 2));
    let id = str_of(&summary, "id");
    assert_record_matches(&import_record(dir, ws, id), &summary);
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(error_file(dir, id))
        .unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(&rows[0][0], "2", "the refused row's line");
    assert!(rows[0][1].contains("Property=revoked"), "{:?}", &rows[0][1]);
    assert!(rows[0][1].contains("1 later row(s)"), "{:?}", &rows[0][1]);
    // The indicator is still the revoked one.
    let objects = export_objects(dir, ws);
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["revoked"], true);
    assert_eq!(objects[0]["name"], "gone");
}

/// A STIX 2.0 record (no `spec_version`, an indicator with `labels` and no `pattern_type`) is
/// stored as 2.1 with the members 2.1 requires added, and the import record counts it.
#[test]
fn stix_20_records_are_stored_as_21_and_counted() {
    let v20 = serde_json::json!([{
        "type": "indicator",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "labels": ["malicious-activity"],
        "pattern": "[ipv4-addr:value = '198.51.100.9']",
        "valid_from": "2016-01-01T00:00:00Z"
    }, {
        "type": "malware",
        "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
        "created": "2016-04-06T20:07:09.000Z",
        "modified": "2016-04-06T20:07:09.000Z",
        "name": "Poison Ivy",
        "labels": ["remote-access-trojan"]
    }]);
    let files = data_dir();
    let path = files.path().join("v20.json");
    std::fs::write(&path, v20.to_string()).unwrap();
    let imp = Imported::new("v20", &path, "Old feed", &[], 0);
    let record = imp.record();
    assert_eq!(record["upgraded"], 2, "{record}");
    assert!(
        stderr(&imp.out).contains("2 read as STIX 2.0"),
        "{}",
        stderr(&imp.out)
    );
    let objects = imp.objects();
    assert_eq!(objects.len(), 2);
    for o in &objects {
        assert_eq!(o["spec_version"], "2.1", "{o}");
    }
    let indicator = objects.iter().find(|o| o["type"] == "indicator").unwrap();
    assert_eq!(indicator["pattern_type"], "stix");
    // Exported as 2.1 has it: 2.0's `labels` of an indicator are 2.1's `indicator_types`.
    assert_eq!(indicator["indicator_types"][0], "malicious-activity");
    let malware = objects.iter().find(|o| o["type"] == "malware").unwrap();
    assert_eq!(malware["is_family"], true);
    // The stored JSON is the producer's, with the 2.1 members appended.
    let out = run_in(imp.dir(), &["export", "--workspace", &imp.ws, "--original"]);
    let bundle: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let indicator = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "indicator")
        .unwrap()
        .clone();
    assert_eq!(
        indicator["labels"][0], "malicious-activity",
        "the original JSON is kept"
    );
    assert_eq!(indicator["pattern_type"], "stix");
}
