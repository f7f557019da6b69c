//! `minify` on records shaped like the benchmark corpus's (one line each, `", "` and `": "`
//! separators, mostly short strings), as an import stores them.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const RECORDS: &[&str] = &[
    r#"{"type": "identity", "spec_version": "2.1", "id": "identity--2b491044-d5e3-4124-9c6e-433715ba2bdd", "created": "2019-06-25T16:46:33.093Z", "modified": "2019-07-18T16:46:33.093Z", "name": "Share CERT", "identity_class": "class", "sectors": ["mining"]}"#,
    r#"{"type": "indicator", "spec_version": "2.1", "id": "indicator--dd986729-3a59-44c3-a672-5d578887060a", "created": "2020-08-06T23:36:24.173Z", "modified": "2020-08-28T01:59:30.173Z", "name": "ipv4 indicator 16f4b0", "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix", "valid_from": "2020-08-07T11:23:45.173Z", "description": "Entity appears in vendor article about Turla Sandstorm.", "indicator_types": ["malicious-activity"], "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "reconnaissance"}], "labels": ["c2"], "confidence": 50, "external_references": [{"source_name": "veris", "external_id": "0001AA7F-C601", "url": "https://example.com/report.json"}], "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]}"#,
    "{\n  \"type\": \"note\",\n  \"id\": \"note--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061\",\n  \"content\": \"A \\\"quoted\\\" word and a path C:\\\\temp\",\n  \"object_refs\": [\n    \"indicator--dd986729-3a59-44c3-a672-5d578887060a\"\n  ]\n}",
];

fn bench(c: &mut Criterion) {
    let records: Vec<&[u8]> = RECORDS
        .iter()
        .map(|r| r.as_bytes())
        .cycle()
        .take(3000)
        .collect();
    let bytes: usize = records.iter().map(|r| r.len()).sum();
    let mut g = c.benchmark_group("minify");
    g.throughput(Throughput::Bytes(bytes as u64));
    let mut out = Vec::with_capacity(4096);
    g.bench_function("corpus-like records", |b| {
        b.iter(|| {
            for r in &records {
                out.clear();
                ingest::minify(r, &mut out);
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
