//! Files and commands refused, and an import killed midway: exit 2, a clear message, nothing
//! half-written.

use super::*;

/// A JSON array of `n` valid indicators, one per line.
fn big_json(path: &Path, n: u32) {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(b"[\n").unwrap();
    for i in 0..n {
        if i > 0 {
            w.write_all(b",\n").unwrap();
        }
        write!(
            w,
            concat!(
                r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--5eed0000-0000-4000-8000-{:012x}","#,
                r#""created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","#,
                r#""name":"generated indicator {}","description":"Made by the SIGKILL test, one of many.","#,
                r#""indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '10.{}.{}.{}']","#,
                r#""pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","labels":["kill-test"],"confidence":50}}"#
            ),
            i,
            i,
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        )
        .unwrap();
    }
    w.write_all(b"\n]\n").unwrap();
    w.flush().unwrap();
}

/// The position of the process's read-only descriptor of a file named `name`, if it has one.
fn read_position(pid: u32, name: &str) -> Option<u64> {
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let fd = fd.ok()?;
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        if target.file_name().and_then(|n| n.to_str()) != Some(name) {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .ok()?;
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_owned())
        };
        let flags = u32::from_str_radix(&field("flags:")?, 8).ok()?;
        if flags & 3 == 0 {
            return field("pos:")?.parse().ok();
        }
    }
    None
}

#[test]
fn sigkill_mid_import_leaves_nothing_and_the_import_failed() {
    let files = data_dir();
    let file = files.path().join("big.json");
    big_json(&file, 50_000);
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size > 20_000_000, "{size}");

    let dir = data_dir();
    let ws = create_workspace(dir.path(), "sigkill");
    let mut child = tiport()
        .args([
            "import",
            file.to_str().unwrap(),
            "--workspace",
            &ws,
            "--source",
            "Killed",
            "--mode",
            "all-or-nothing",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the import reads its kept copy of the file past the middle: by then it has
    // handed thousands of objects to the store inside its transaction.
    let started = std::time::Instant::now();
    let pos = loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the import ended ({status}) before it could be killed mid-file; make the \
                 file bigger. stdout: {} stderr: {}",
                stdout(&out),
                stderr(&out)
            );
        }
        if let Some(pos) = read_position(child.id(), "file-big.json") {
            if pos >= size / 2 {
                break pos;
            }
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the import did not get halfway in 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    eprintln!("killing at {pos} of {size} after {:?}", started.elapsed());
    child.kill().unwrap(); // SIGKILL
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), None, "killed by a signal");
    assert_eq!(stdout(&out), "", "no summary from a killed import");
    assert!(
        pos < size,
        "killed before the end of the file ({pos} of {size})"
    );

    // The next command that opens the store finds the import abandoned.
    let out = run_in(dir.path(), &["export", "--workspace", &ws]);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("1 interrupted import(s) marked failed"),
        "{}",
        stderr(&out)
    );
    let bundle: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        bundle["objects"],
        serde_json::json!([]),
        "nothing of the file"
    );

    let records = import_records(dir.path(), &ws, None);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["imported"], 0, "{r}");
    assert_eq!(r["fileName"], "big.json");
    assert_eq!(r["mode"], "all-or-nothing");
    assert!(r["finished"].is_string(), "{r}");

    // The store works on: the next import succeeds, and still nothing of the killed one.
    let (out, summary) = import(
        dir.path(),
        &ws,
        &seed_samples().join("bulk-import-example.json"),
        "After",
        &[],
    );
    assert_exit(&out, 0);
    assert_eq!(summary["imported"], 2);
    assert_eq!(export_objects(dir.path(), &ws).len(), 2);
}

/// Imports `bytes` as a file named `name` into a fresh workspace, expects exit `code` and
/// `needle` on stderr, and returns the data directory, workspace and summary.
fn import_bad(
    name: &str,
    bytes: &[u8],
    extra: &[&str],
    code: i32,
    needle: &str,
) -> (tempfile::TempDir, String, Value) {
    let files = data_dir();
    let path = files.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "bad input");
    let (out, summary) = import(dir.path(), &ws, &path, "Bad", extra);
    assert_exit(&out, code);
    assert!(
        stderr(&out).contains(needle),
        "expected {needle:?} on stderr: {}",
        stderr(&out)
    );
    let record = import_record(dir.path(), &ws, str_of(&summary, "id"));
    assert_record_matches(&record, &summary);
    assert_eq!(record["fileName"], name);
    (dir, ws, summary)
}

/// A failed import that stored nothing.
#[track_caller]
fn assert_failed_empty(dir: &Path, ws: &str, summary: &Value) {
    assert_eq!(summary["status"], "failed", "{summary}");
    assert_eq!(summary["imported"], 0, "{summary}");
    assert_eq!(export_objects(dir, ws), Vec::<Value>::new());
}

#[test]
fn binary_file_is_neither_csv_nor_json() {
    // Deterministic noise, zero bytes included.
    let mut x: u32 = 0x9E37_79B9;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    assert!(bytes.contains(&0));
    let (dir, ws, summary) = import_bad("blob.bin", &bytes, &[], 2, "neither CSV nor JSON");
    assert_failed_empty(dir.path(), &ws, &summary);
}

/// A file of one format imported as `format`, the other: refused with `needle` on stderr, and
/// recorded with the format it was imported as.
#[track_caller]
fn assert_refused_as(name: &str, bytes: &[u8], format: &str, needle: &str) {
    let (dir, ws, summary) = import_bad(name, bytes, &["--format", format], 2, needle);
    assert_failed_empty(dir.path(), &ws, &summary);
    let r = import_record(dir.path(), &ws, str_of(&summary, "id"));
    assert_eq!(r["format"], format);
}

#[test]
fn csv_imported_as_json_is_refused() {
    assert_refused_as("indicators.csv", &seed_csv(), "json", "not JSON");
}

#[test]
fn json_imported_as_csv_is_refused() {
    assert_refused_as("objects.json", &seed_json(), "csv", "holds JSON");
}

#[test]
fn empty_file_is_refused() {
    let (dir, ws, summary) = import_bad("empty.csv", b"", &[], 2, "the file is empty");
    assert_failed_empty(dir.path(), &ws, &summary);
    assert_eq!(summary["total"], 0);
}

#[test]
fn header_only_csv_is_refused() {
    let csv = seed_csv();
    let header = &csv[..=csv.iter().position(|&b| b == b'\n').unwrap()];
    let (dir, ws, summary) = import_bad("header.csv", header, &[], 2, "header but no data rows");
    assert_failed_empty(dir.path(), &ws, &summary);
    assert_eq!(summary["total"], 0);
}

#[test]
fn csv_without_a_required_column_is_one_error_for_the_file() {
    let text = "threatTypes,validFrom,observableType\nBotnet,2024-01-01T00:00:00Z,ipv4-addr\n";
    let (dir, ws, summary) = import_bad("columns.csv", text.as_bytes(), &[], 2, "observableValue");
    assert_failed_empty(dir.path(), &ws, &summary);
}

#[test]
fn valid_records_then_a_truncated_last_element_store_nothing() {
    let seed: Vec<Value> = serde_json::from_slice(&seed_json()).unwrap();
    let text = format!(
        "[\n{},\n{},\n{{\"type\": \"indic",
        serde_json::to_string(&seed[0]).unwrap(),
        serde_json::to_string(&seed[1]).unwrap()
    );
    // valid-only: even the mode that keeps valid records keeps nothing of a broken file.
    let (dir, ws, summary) = import_bad("cut.json", text.as_bytes(), &[], 2, "line 4, column 16");
    assert_failed_empty(dir.path(), &ws, &summary);
    let entries: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(error_file(dir.path(), str_of(&summary, "id"))).unwrap(),
    )
    .unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["errorMessages"].to_string().contains("line 4, column 16")),
        "{entries:?}"
    );
}

/// No import was created: no record, no directory of files.
#[track_caller]
fn assert_no_import(dir: &Path, ws: &str) {
    assert_eq!(import_records(dir, ws, None), Vec::<Value>::new());
    let imports = dir.join("imports");
    let entries = std::fs::read_dir(&imports).map(|d| d.count()).unwrap_or(0);
    assert_eq!(entries, 0, "{}", imports.display());
}

#[test]
fn csv_over_the_size_limit_is_refused_before_anything_is_recorded() {
    let files = data_dir();
    let path = files.path().join("big.csv");
    std::fs::write(&path, seed_csv()).unwrap();
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "limit");
    let out = run_import(dir.path(), &ws, &path, "Big", &["--max-csv-bytes", "100"]);
    assert_exit(&out, 2);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("limited to 100 bytes"),
        "{}",
        stderr(&out)
    );
    assert_no_import(dir.path(), &ws);
    assert_eq!(export_objects(dir.path(), &ws), Vec::<Value>::new());
}

#[test]
fn unknown_workspace_and_missing_file_exit_2() {
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "known");
    let file = seed_samples().join("bulk-import-example.csv");
    let unknown = "0b1f8e3c-3c5e-4f0c-9d55-8d2c2f0c1a11";
    let out = run_import(dir.path(), unknown, &file, "S", &[]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&format!("workspace {unknown} not found")),
        "{}",
        stderr(&out)
    );
    let out = run_in(dir.path(), &["export", "--workspace", unknown]);
    assert_exit(&out, 2);
    let out = run_in(dir.path(), &["import-status", "--workspace", unknown]);
    assert_exit(&out, 2);

    let missing = dir.path().join("no-such-file.csv");
    let out = run_import(dir.path(), &ws, &missing, "S", &[]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("cannot open"), "{}", stderr(&out));
    assert_no_import(dir.path(), &ws);

    let out = run_in(
        dir.path(),
        &[
            "import-status",
            "--workspace",
            &ws,
            "0b1f8e3c-3c5e-4f0c-9d55-8d2c2f0c1a12",
        ],
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

#[test]
fn workspace_create_prints_id_and_name_and_refuses_a_taken_id() {
    let dir = data_dir();
    let id = "7d2b3c4e-1f2a-4b3c-8d4e-5f6a7b8c9d0e";
    let out = run_in(
        dir.path(),
        &[
            "workspace",
            "create",
            "--name",
            "SOC \"blue\" team",
            "--id",
            id,
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("{{\"id\":\"{id}\",\"name\":\"SOC \\\"blue\\\" team\"}}\n")
    );

    let out = run_in(
        dir.path(),
        &["workspace", "create", "--name", "again", "--id", id],
    );
    assert_exit(&out, 2);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    // Without --id: a fresh UUID.
    let out = run_in(dir.path(), &["workspace", "create", "--name", "second"]);
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let other = str_of(&v, "id");
    assert_eq!(other.len(), 36);
    assert_ne!(other, id);
    assert_eq!(v.as_object().unwrap().len(), 2);

    let out = run_in(
        dir.path(),
        &["workspace", "create", "--name", "x", "--id", "not-a-uuid"],
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("UUID"), "{}", stderr(&out));
}
