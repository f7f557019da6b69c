//! The two readers on the input path, per record: `JsonRecords::for_each` over a JSON array
//! (valid records, which take the in-place parse, and one in ten malformed, which the
//! structural scanner delimits), and `CsvReader` mapping rows of both templates to indicators.
//!
//! The inputs are generated here, so that the figures do not depend on a corpus on disk.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ingest::csvmap::{CsvReader, IdScope};
use ingest::{JsonRecords, Limits, ReadError};
use std::hint::black_box;
use stix::Timestamp;

const RECORD: &str = r#"{"type": "indicator", "spec_version": "2.1", "id": "indicator--dd986729-3a59-44c3-a672-5d578887060a", "created": "2020-08-06T23:36:24.173Z", "modified": "2020-08-28T01:59:30.173Z", "name": "ipv4 indicator 16f4b0", "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix", "valid_from": "2020-08-07T11:23:45.173Z", "description": "Entity appears in vendor article about \"Turla\" Sandstorm.", "indicator_types": ["malicious-activity"], "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "reconnaissance"}], "labels": ["c2"], "confidence": 50}"#;

/// A pretty-printed array of `n` records; with `broken`, every tenth has a bad literal.
fn json_array(n: usize, broken: bool) -> Vec<u8> {
    let mut out = String::from("[\n");
    for i in 0..n {
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str("  ");
        if broken && i % 10 == 0 {
            out.push_str(&RECORD.replace("\"confidence\": 50", "\"confidence\": tru"));
        } else {
            out.push_str(RECORD);
        }
    }
    out.push_str("\n]\n");
    out.into_bytes()
}

fn csv_other(n: usize) -> Vec<u8> {
    let mut out = String::from("threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,observableType,observableValue\n");
    for i in 0..n {
        let (ty, value) = match i % 5 {
            0 => ("ipv4-addr", format!("198.51.{}.{}", i % 250, i % 200)),
            1 => ("domain-name", format!("host{i}.example.com")),
            2 => ("url", format!("https://example.com/path/{i}?q=1")),
            3 => ("email-addr", format!("user{i}@example.org")),
            _ => ("ipv6-addr", format!("2001:db8::{:x}", i % 65535)),
        };
        out.push_str(&format!(
            "Phishing,\"demo, csv\",Indicator {i},Entity appears in an article,80,,2022-07-18T12:00:00.000Z,2023-07-18T12:00:00Z,amber,5,{ty},{value}\n"
        ));
        if i % 20 == 19 {
            // An invalid row now and then, as real files have.
            out.push_str(",,bad,,150,maybe,not-a-date,,purple,11,ipv4-addr,300.1.1.1\n");
        }
    }
    out.into_bytes()
}

fn csv_file(n: usize) -> Vec<u8> {
    let mut out = String::from("threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,fileName,MD5,SHA-1,SHA-256,SHA-512\n");
    for i in 0..n {
        let md5 = format!("{:032x}", 0x5f2b_7c3e_u128 * (i as u128 + 1));
        let sha256 = format!("{:064x}", 0x3b5d_7f9e_u128 * (i as u128 + 7));
        out.push_str(&format!(
            "Malware,\"demo, csv\",Invoice dropper {i},Attachment seen in a campaign,80,false,2024-01-15T09:30:00.000Z,,green,7,invoice{i}.pdf.exe,{md5},,{sha256},\n"
        ));
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let read_json = |input: &[u8]| {
        let mut r = JsonRecords::new(input, Limits::default());
        let mut ok = 0usize;
        r.for_each(|rec| {
            ok += usize::from(rec.value.is_ok());
            Ok::<(), ReadError>(())
        })
        .expect("readable");
        ok
    };
    let mut g = c.benchmark_group("json records");
    for (name, input, valid) in [
        ("valid/2000 records", json_array(2000, false), 2000),
        (
            "one in ten malformed/2000 records",
            json_array(2000, true),
            1800,
        ),
    ] {
        assert_eq!(read_json(&input), valid, "{name}");
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(name, |b| b.iter(|| read_json(black_box(&input))));
    }
    g.finish();

    let scope = IdScope {
        workspace: "ws-bench".into(),
        source: "bench".into(),
    };
    let now = Timestamp::parse("2024-05-01T10:00:00.000Z").expect("timestamp");
    let read_csv = |input: &[u8]| {
        let r = CsvReader::new(input, None, scope.clone(), now).expect("a template");
        let mut ok = 0usize;
        for rec in r {
            ok += usize::from(rec.expect("readable").outcome.is_ok());
        }
        ok
    };
    let mut g = c.benchmark_group("csv rows");
    for (name, input) in [
        ("csv-other/2000 rows", csv_other(2000)),
        ("csv-file/2000 rows", csv_file(2000)),
    ] {
        assert_eq!(read_csv(&input), 2000, "{name}");
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(name, |b| b.iter(|| read_csv(black_box(&input))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
