//! File imports (items 5, 7, 16, 18): bounded forms, the rate and the queue, formulas
//! neutralized, and a store only its owner may read.

use super::*;

/// A multipart body (boundary `b`) of `count` text fields named `{prefix}0`, `{prefix}1`, …,
/// each holding `value`.
fn text_fields(b: &str, prefix: &str, count: usize, value: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..count {
        write!(
            body,
            "--{b}\r\nContent-Disposition: form-data; name=\"{prefix}{i}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    write!(body, "--{b}--\r\n").unwrap();
    body
}

/// Posts `body` as a form (boundary `b`) that the service must refuse with a 400; its answer.
#[track_caller]
fn refused_form(s: &Service, token: &str, b: &str, body: Vec<u8>) -> String {
    let (status, answer) = post_form(s, token, b, body);
    assert_eq!(status, 400, "{answer}");
    answer.to_string()
}

#[test]
fn a_form_of_many_fields_or_a_huge_part_head_is_refused_without_being_held() {
    let (s, token) = Service::start_with_token(&[]);
    let before = crate::service::peak_rss_kb(&s);
    let b = "bnd";
    // 20,000 text fields of 3 KB: 60 MB that the service must not hold.
    let value = "v".repeat(3000);
    let answer = refused_form(&s, &token, b, text_fields(b, "f", 20_000, &value));
    assert!(answer.contains("the form"), "{answer}");
    // As many empty fields: the count of parts is bounded on its own.
    let answer = refused_form(&s, &token, b, text_fields(b, "f", 20_000, ""));
    assert!(answer.contains("more than 16 parts"), "{answer}");
    // One part whose head never ends: 40 MB without the blank line.
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\nX-Pad: "
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(b'a', 40 << 20));
    let answer = refused_form(&s, &token, b, body);
    assert!(answer.contains("head"), "{answer}");
    // Text fields together are bounded too, unknown ones included.
    refused_form(&s, &token, b, text_fields(b, "x", 10, &value));
    let grew_mb = crate::service::grown_mb(&s, before);
    assert!(grew_mb < 40, "peak memory grew by {grew_mb} MB");
    // A normal form still works.
    let (status, answer) = s.import(
        &token,
        &[("source", "ok"), ("format", "csv")],
        "a.csv",
        b"observableType,observableValue,validFrom\nipv4-addr,198.51.100.1,2024-01-01T00:00:00Z\n",
    );
    assert_eq!(status, 202, "{answer}");
}

#[test]
fn a_formula_after_a_separator_is_neutralized_in_error_files_and_exports() {
    use crate::helpers::{create_workspace, data_dir, error_file, import, run_in};
    let dir = data_dir();
    let ws = create_workspace(dir.path(), "csv");
    let csv = "name,description,observableType,observableValue,validFrom\n\
               \"a;=1+1\",\"x,@SUM(1)\",ipv4-addr,198.51.100.7,2024-01-01T00:00:00Z\n\
               \"b;=HYPERLINK(\"\"http://e.example\"\")\",ok,ipv4-addr,not-an-address,2024-01-01T00:00:00Z\n";
    let file = dir.path().join("in.csv");
    std::fs::write(&file, csv).unwrap();
    let (_, summary) = import(dir.path(), &ws, &file, "csv feed", &[]);
    assert_eq!(summary["invalid"], 1, "{summary}");
    // The error file: the bad row's cells, each a quoted cell, the dangerous one prefixed.
    let errors = std::fs::read(error_file(dir.path(), summary["id"].as_str().unwrap())).unwrap();
    let text = String::from_utf8_lossy(&errors);
    assert!(
        text.contains("\"'b;=HYPERLINK(\"\"http://e.example\"\")\""),
        "{text}"
    );
    assert!(!text.contains(",b;="), "{text}");
    // The export: same rule.
    let out = run_in(
        dir.path(),
        &["export", "--workspace", &ws, "--format", "csv"],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"'a;=1+1\""), "{text}");
    assert!(text.contains("\"'x,@SUM(1)\""), "{text}");
    // Every cell is quoted, so a spreadsheet that splits on ';' splits no cell of ours.
    for line in text.lines() {
        assert!(line.starts_with('"') && line.ends_with('"'), "{line}");
    }
}

#[test]
fn the_store_is_private_and_a_readable_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A data directory made beforehand, readable by everyone, as an operator might.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = Service::start_in(dir, &[], &[]);
    let token = s.token();
    let (status, queued) = s.import(
        &token,
        &[("source", "p")],
        "p.csv",
        b"observableType,observableValue,validFrom\nipv4-addr,198.51.100.1,2024-01-01T00:00:00Z\n",
    );
    assert_eq!(status, 202);
    s.finished_import(&token, queued["id"].as_str().unwrap());
    let d = s.dir.path().to_owned();
    for f in [
        "tiport.db",
        "tiport.db-wal",
        "tiport.db-shm",
        "tiport.db-json",
        "tiport.db-json-wait",
        "initial-credentials.json",
    ] {
        assert_eq!(mode(&d.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&d.join("imports")), 0o700);
    let import_dir = d.join("imports").join(queued["id"].as_str().unwrap());
    assert_eq!(mode(&import_dir), 0o700);
    for f in std::fs::read_dir(&import_dir).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    let dir = s.stop();
    // A store someone made readable: every command refuses it, naming the file.
    std::fs::set_permissions(
        dir.path().join("tiport.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = crate::helpers::run_in(dir.path(), &["workspace", "list"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        crate::helpers::stderr(&out)
    );
    let err = crate::helpers::stderr(&out);
    assert!(
        err.contains("tiport.db (mode 0644)") && err.contains("--allow-readable-store"),
        "{err}"
    );
    let out = crate::helpers::run_in(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    // Unless told to allow it.
    let out = crate::helpers::run_in(dir.path(), &["workspace", "list", "--allow-readable-store"]);
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
}

#[test]
fn imports_count_against_the_rate_and_wait_in_a_bounded_queue() {
    // Throttling: an import is a request like an upload.
    let (s, token) = Service::start_with_token(&["--requests-per-minute", "3"]);
    for i in 0..2 {
        assert_eq!(
            s.upload(
                &token,
                &json!({"sourcesystem": "t", "stixobjects": [indicator(i)]})
            )
            .0,
            200
        );
    }
    let (status, _) = s.import(&token, &[("source", "r")], "a.csv", &csv_of(1));
    assert_eq!(status, 202);
    let (status, answer) = s.import(&token, &[("source", "r")], "a.csv", &csv_of(1));
    assert_eq!(status, 429, "{answer}");
    drop(s);

    // One runs, one waits, the next is refused until there is room.
    let (s, token) =
        Service::start_with_token(&["--max-running-imports", "1", "--max-waiting-imports", "1"]);
    let (status, first) = s.import(&token, &[("source", "q")], "big.csv", &csv_of(100_000));
    assert_eq!(status, 202, "{first}");
    // The second is accepted (its answer comes once the store can record it).
    let second = std::thread::scope(|scope| {
        let second = scope.spawn(|| s.import(&token, &[("source", "q")], "small.csv", &csv_of(3)));
        // The third must come once the second holds its place: the metrics count it as soon as
        // it is reserved (the store records it only when the running import lets it).
        wait_for_queue(&s, 1, 1);
        // The third finds no room, at once: its answer comes without its file being sent.
        let mut conn = slow_import_form(&s, &token, "third");
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut answer = String::new();
        let _ = conn.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("\r\nretry-after:"),
            "{answer}"
        );
        second.join().unwrap()
    });
    assert_eq!(second.0, 202, "{}", second.1);
    for id in [&first["id"], &second.1["id"]] {
        let r = s.finished_import(&token, id.as_str().unwrap());
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    // With room again, another is accepted.
    let (status, _) = s.import(&token, &[("source", "q")], "fourth.csv", &csv_of(3));
    assert_eq!(status, 202);
}

/// An import whose form arrives slowly: its head and its first field, of a body of 100,000
/// bytes declared; the rest never comes.
///
/// The request is written in one piece, and a failed write is not the test's failure: the
/// service may answer from the head alone and close before the field arrives, and what counts is
/// the answer read afterwards.
fn slow_import_form(s: &Service, token: &str, source: &str) -> TcpStream {
    let mut conn = TcpStream::connect(addr(s)).unwrap();
    let request = format!(
        "POST /workspaces/{}/threat-intelligence/imports HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n\
         --b\r\nContent-Disposition: form-data; name=\"source\"\r\n\r\n{source}\r\n",
        s.cred("workspace_id")
    );
    let _ = conn.write_all(request.as_bytes());
    conn
}

/// Waits until the service's metrics count `running` imports running and `waiting` waiting
/// (queued, or being posted into a place reserved for them).
#[track_caller]
fn wait_for_queue(s: &Service, running: u64, waiting: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, metrics) = s.get("/metrics", None);
        let gauge = |name: &str| {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        };
        let now = (
            gauge("tiport_imports_running"),
            gauge("tiport_imports_waiting"),
        );
        if now == (Some(running), Some(waiting)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the queue never held {running} running and {waiting} waiting: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn one_client_posting_imports_slowly_cannot_hold_the_queue() {
    let (s, token) = Service::start_with_token(&[]);
    // Two imports whose forms arrive slowly (the head, then nothing yet).
    let posting: Vec<TcpStream> = (0..2)
        .map(|_| slow_import_form(&s, &token, "slow"))
        .collect();
    wait_for_queue(&s, 0, 2);
    // A third from the same client is refused at once; another client's is accepted.
    let (status, answer) = s.import(&token, &[("source", "third")], "a.csv", &csv_of(3));
    assert_eq!(status, 429, "{answer}");
    assert!(answer.to_string().contains("already posting"), "{answer}");
    let other = s.token_of(&s.new_client("contributor"));
    let (status, answer) = s.import(&other, &[("source", "other")], "a.csv", &csv_of(3));
    assert_eq!(status, 202, "{answer}");
    // The slow forms given up, the client may post again.
    drop(posting);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, answer) = s.import(&token, &[("source", "again")], "a.csv", &csv_of(3));
        if status == 202 {
            break;
        }
        assert_eq!(status, 429, "{answer}");
        assert!(Instant::now() < deadline, "still refused: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
