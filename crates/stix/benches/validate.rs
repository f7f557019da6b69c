//! Parse + validate of typical records, the work `tiport validate` does per object.
//!
//! The records are generated here (indicators with the usual optional properties, a few other
//! types), each about 700 bytes, so that the figure is per typical object including
//! `Json::parse` of its text. Target: well under 2 µs per object in either profile.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use stix::{Json, Options};

fn records() -> Vec<String> {
    (0..64u32)
        .map(|i| {
            let id = format!("{:08x}-b5e9-4380-85ae-e1184abf5ff4", 0x1000_0000u32 + i);
            match i % 4 {
                0 | 1 => format!(
                    r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--{id}","created":"2022-07-27T12:00:00.000Z","modified":"2022-07-27T12:00:00.000Z","created_by_ref":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff","name":"Sample indicator {i}","description":"This indicator implements an observation expression for a known bad address.","indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '198.51.100.{}']","pattern_type":"stix","pattern_version":"2.1","valid_from":"2022-07-20T12:00:00.000Z","valid_until":"2023-07-20T12:00:00.000Z","kill_chain_phases":[{{"kill_chain_name":"mandiant-attack-lifecycle-model","phase_name":"establish-foothold"}}],"labels":["proxy","demo"],"confidence":80,"lang":"en","object_marking_refs":["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]}}"#,
                    i % 250
                ),
                2 => format!(
                    r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--{id}","created":"2022-07-27T12:00:00.000Z","modified":"2022-07-27T12:00:00.000Z","name":"File hash {i}","description":"A sample seen in a phishing campaign delivering a loader to finance staff.","indicator_types":["malicious-activity"],"pattern":"[file:hashes.'SHA-256' = '6db12788c37247f2316052e142f42f4b259d6561751e5f401a1ae2a6df9c674b']","pattern_type":"stix","valid_from":"2022-07-20T12:00:00.000Z","labels":["phishing"],"confidence":60,"external_references":[{{"source_name":"veris","external_id":"0001AA7F-C601","url":"https://example.com/report.json"}}]}}"#
                ),
                _ => format!(
                    r#"{{"type":"attack-pattern","spec_version":"2.1","id":"attack-pattern--{id}","created":"2015-05-15T09:12:16.432Z","modified":"2015-05-20T09:12:16.432Z","created_by_ref":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff","revoked":false,"labels":["heartbleed","has-logo"],"confidence":55,"lang":"en","object_marking_refs":["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"],"external_references":[{{"source_name":"capec","description":"spear phishing","external_id":"CAPEC-163"}}],"name":"Attack Pattern {i}","description":"menuPass appears to favor spear phishing to deliver payloads to the intended targets.","aliases":["alias_1","alias_2"],"kill_chain_phases":[{{"kill_chain_name":"mandiant-attack-lifecycle-model","phase_name":"initial-compromise"}}]}}"#
                ),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let records = records();
    let bytes: usize = records.iter().map(String::len).sum();
    for r in &records {
        let json = Json::parse(r).expect("parses");
        let report = stix::validate(&json, Options::strict(), None);
        assert!(report.is_valid(), "{r}: {:?}", report.messages());
    }
    // Both groups time each profile.
    let profiles = [
        ("compatible", Options::default()),
        ("strict", Options::strict()),
    ];
    let mut group = c.benchmark_group("parse+validate");
    group.throughput(Throughput::Bytes(bytes as u64));
    for (name, opts) in profiles {
        group.bench_function(format!("{name}/64 records"), |b| {
            b.iter(|| {
                let mut invalid = 0usize;
                for r in &records {
                    let json = Json::parse(black_box(r)).expect("parses");
                    invalid += usize::from(!stix::validate(&json, opts, None).is_valid());
                }
                black_box(invalid)
            })
        });
    }
    group.finish();

    // The two halves apart, to see where the time goes.
    let mut group = c.benchmark_group("parts");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("parse/64 records", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for r in &records {
                n += usize::from(Json::parse(black_box(r)).is_ok());
            }
            black_box(n)
        })
    });
    let parsed: Vec<Json<'_>> = records.iter().map(|r| Json::parse(r).unwrap()).collect();
    for (name, opts) in profiles {
        group.bench_function(format!("validate {name}/64 records"), |b| {
            b.iter(|| {
                let mut invalid = 0usize;
                for j in &parsed {
                    invalid += usize::from(!stix::validate(black_box(j), opts, None).is_valid());
                }
                black_box(invalid)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
