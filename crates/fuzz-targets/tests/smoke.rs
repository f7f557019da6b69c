//! The fuzz targets' smoke run, part of the README's test command: every input of the
//! committed corpus (`fuzz/corpus/<target>/`: what libFuzzer kept, and every finding, so that a
//! fixed bug stays fixed), then seeded mutations of it for a few seconds per target. The seed
//! is fixed, so a failure here is reproducible: its message names the seed and the input.
//!
//! Longer, coverage-guided runs: `scripts/fuzz.sh TARGET SECONDS` (FUZZING.md).

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long each target is mutated for, per run of the suite.
const BUDGET: Duration = Duration::from_secs(3);

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no corpus for {target}");
    inputs
}

use test_support::Rng;

/// Bytes that matter to the parsers: their syntax, and values at the edges.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"'",
    b"\\",
    b"\\u0000",
    b"\n",
    b"\r\n",
    b"\0",
    b"\xef\xbb\xbf",
    b"\xff",
    b"null",
    b"true",
    b"1e999999",
    b"-0",
    b"99999999999999999999",
    b"\"stixobjects\"",
    b"\"objects\"",
    b"\"sourcesystem\"",
    b"\"spec_version\":\"2.0\"",
    b"\"type\":\"indicator\"",
    b" AND ",
    b" OR ",
    b" WITHIN ",
    b" REPEATS ",
    b" START ",
    b"t'2024-02-30T00:00:00Z'",
    b"[x:y = '",
    b"MATCHES",
    b"hashes.'SHA-256'",
    b"/33",
    b"::",
    b"=",
    b"+",
    b"-",
    b"@",
    b";",
    b"\"\"",
    b"#",
];

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.insert(at, rng.next_u64() as u8),
            2 if at < out.len() => {
                let n = 1 + rng.below((out.len() - at).min(16));
                out.drain(at..at + n);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, t.iter().copied());
            }
            4 if !other.is_empty() => {
                // Splice a piece of another input in.
                let from = rng.below(other.len());
                let n = 1 + rng.below((other.len() - from).min(64));
                out.splice(at..at, other[from..from + n].iter().copied());
            }
            5 if at < out.len() => {
                // Repeat a piece: deep nesting, long runs.
                let n = 1 + rng.below((out.len() - at).min(8));
                let piece = out[at..at + n].to_vec();
                for _ in 0..rng.below(64) {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            _ => out.truncate(at),
        }
    }
    out
}

fn run(target: &str, f: fn(&[u8])) {
    let inputs = corpus(target);
    for (name, data) in &inputs {
        let caught = std::panic::catch_unwind(|| f(data));
        assert!(caught.is_ok(), "{target}: corpus input {name} fails");
    }
    let seed = 0x7469_706f_7274 ^ target.len() as u64;
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < BUDGET {
        let base = &inputs[rng.below(inputs.len())].1;
        let other = &inputs[rng.below(inputs.len())].1;
        let data = mutate(&mut rng, base, other);
        if std::panic::catch_unwind(|| f(&data)).is_err() {
            panic!(
                "{target}: mutation {runs} of seed {seed:#x} fails; input (add it to \
                 fuzz/corpus/{target}/ once fixed): {:?}",
                String::from_utf8_lossy(&data)
            );
        }
        runs += 1;
    }
    eprintln!("{target}: {} corpus inputs, {runs} mutations", inputs.len());
}

#[test]
fn every_target_survives_its_corpus_and_seeded_mutations() {
    for (name, f) in fuzz_targets::TARGETS {
        run(name, *f);
    }
}
