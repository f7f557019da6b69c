#!/usr/bin/env bash
# Fuzzes one target of crates/fuzz-targets with libFuzzer, on the stable toolchain (cargo-fuzz
# needs nightly; the instrumentation it asks rustc for is stable): builds fuzz/ with coverage
# instrumentation, runs for SECONDS on the committed corpus fuzz/corpus/TARGET (new inputs are
# added to it), then merges the corpus down to the inputs that add coverage. A crash is saved
# in fuzz/artifacts/TARGET/ and ends the run with status 1; copy it into the corpus as
# regression-<what> (and make a regression test of it) once fixed.
#
#   scripts/fuzz.sh TARGET SECONDS        TARGET: pattern | json_records | csv_mapper | upload_body
#   scripts/fuzz.sh all SECONDS           each target in turn, SECONDS each
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${1:?target: pattern, json_records, csv_mapper, upload_body or all}
seconds=${2:?seconds}
if [ "$target" = all ]; then
  for t in pattern json_records csv_mapper upload_body; do "$0" "$t" "$seconds"; done
  exit 0
fi
# What cargo-fuzz passes for libFuzzer, minus its nightly-only sanitizer flag.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
# An explicit --target, so that the flags reach only the fuzzed code, not build scripts.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --manifest-path fuzz/Cargo.toml --target "$host" --bin "$target" 2>&1 | tail -1
bin=fuzz/target/$host/release/$target
corpus=fuzz/corpus/$target
artifacts=fuzz/artifacts/$target
mkdir -p "$corpus" "$artifacts"
dict=()
[ -f "fuzz/dict/$target.dict" ] && dict=(-dict="fuzz/dict/$target.dict")
status=0
"$bin" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 "${dict[@]}" 2>&1 | tail -25 || status=$?
# Keep only the inputs that add coverage, a smallest set of them, each at most 4 KiB (the
# committed corpus stays small; regression-* inputs, findings once fixed, are kept as named).
merged=$(mktemp -d)
"$bin" -set_cover_merge=1 -max_len=4096 "$merged" "$corpus" >/dev/null 2>&1 || true
cp "$corpus"/regression-* "$merged"/ 2>/dev/null || true
if [ -n "$(ls -A "$merged")" ]; then
  rm -rf "$corpus" && mv "$merged" "$corpus"
else
  rm -rf "$merged"
fi
echo "$target: $(ls "$corpus" | wc -l) corpus inputs; artifacts: $(ls "$artifacts" | wc -l)"
if [ "$status" != 0 ]; then
  # The run's own output ends with libFuzzer's stack; the panic's message is what says why.
  for a in "$artifacts"/*; do
    echo "== $a"
    "$bin" "$a" 2>&1 | grep -A3 "panicked" || true
  done
fi
exit $status
