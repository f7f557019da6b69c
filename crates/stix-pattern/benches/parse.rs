//! Parse + validate throughput on typical IOC patterns.
//!
//! Run with `cargo bench -p stix-pattern --bench parse`. Criterion reports time per iteration
//! of the whole mix and, through `Throughput::Elements`, patterns per second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stix_pattern::{parse, validate, Options, Profile};

/// A mix shaped like real feeds: mostly single-observable IOCs (IPs, hashes, URLs, domains),
/// some with several hashes ORed together, a few compound or qualified ones.
const PATTERNS: &[&str] = &[
    "[ipv4-addr:value = '198.51.100.1']",
    "[ipv4-addr:value = '203.0.113.0/24']",
    "[ipv6-addr:value = '2001:db8::1']",
    "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    "[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f']",
    "[file:hashes.'SHA-1' = '2fd4e1c67a2d28fced849ee1bb76e7391b93eb12']",
    "[url:value = 'http://x.example/a']",
    "[domain-name:value = 'evil.example.com']",
    "[domain-name:value = 'evil.example.com'] OR [domain-name:value = 'bad.example.net']",
    "[email-addr:value = 'phish@example.org']",
    "[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f' OR file:hashes.'SHA-1' = '2fd4e1c67a2d28fced849ee1bb76e7391b93eb12' OR file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    "[file:name = 'invoice.pdf.exe' AND file:size > 1024]",
    "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33' AND network-traffic:dst_port = 443]",
    "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Software\\\\Run']",
    "[ipv4-addr:value = '198.51.100.7'] FOLLOWEDBY [domain-name:value = 'c2.example.com'] WITHIN 300 SECONDS",
    "[url:value = 'https://login.example.com/auth?x=1'] START t'2024-01-01T00:00:00Z' STOP t'2024-12-31T23:59:59Z'",
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("patterns");
    group.throughput(Throughput::Elements(PATTERNS.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for p in PATTERNS {
                black_box(parse(black_box(p)).is_ok());
            }
        })
    });
    for (name, profile) in [
        ("parse+validate compatible", Profile::Compatible),
        ("parse+validate strict", Profile::Strict),
    ] {
        let opts = Options {
            profile,
            ..Options::default()
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                for p in PATTERNS {
                    black_box(validate(black_box(p), opts).is_ok());
                }
            })
        });
    }
    group.bench_function("parse+validate+observables", |b| {
        b.iter(|| {
            for p in PATTERNS {
                if let Ok(pattern) = validate(black_box(p), Options::default()) {
                    black_box(pattern.observables());
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
