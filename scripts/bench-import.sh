#!/usr/bin/env bash
# Whole-process benchmarks of `tiport import` into a fresh embedded store, beside
# `tiport validate` of the same files in the same run (the import should cost at most three
# validations). Prints Markdown rows for BENCHMARKS.md.
#
#   scripts/bench-import.sh [RUNS]        (default 5 runs; medians are reported)
#
# Each import gets a new data directory (a fresh store), and is timed to its exit: the import is
# durable then (its transaction committed with synchronous=FULL, the WAL checkpointed when the
# store closed). Imports use both cores, as they are meant to; validate uses one, as it does.
# Needs: the corpora (made here with ../shared/tools/make-corpora.sh into bench-data/ if
# missing), /usr/bin/time.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${1:-5}
shared=${TIPORT_SHARED:-$root/../shared}
data=$root/bench-data
[ -s "$data/stix_250mb.json" ] && [ -s "$data/indicators_50mb.csv" ] \
  || bash "$shared/tools/make-corpora.sh" "$data" >/dev/null
cargo build --release --locked -p tiport >/dev/null 2>&1
bin=$root/target/release/tiport
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
ws=11111111-1111-4111-8111-111111111111

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# measure LOG: "wall cpu peak_kib" from a /usr/bin/time -v log.
measure() {
  awk -F': ' '
    /Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; w=s}
    /User time/ {u=$2} /System time/ {y=$2}
    /Maximum resident set size/ {r=$2}
    END {print w, u+y, r}' "$1"
}

# import_run FILE: one import into a fresh store; prints "wall cpu peak_kib".
import_run() {
  local dir=$scratch/d log=$scratch/log
  rm -rf "$dir"
  "$bin" workspace create --name bench --id "$ws" --data-dir "$dir" >/dev/null
  /usr/bin/time -v "$bin" import "$1" --workspace "$ws" --source bench --data-dir "$dir" \
    >"$scratch/summary" 2>"$log" || [ $? -le 1 ]
  measure "$log"
}

validate_run() {
  local log=$scratch/log
  /usr/bin/time -v "$bin" validate "$1" >/dev/null 2>"$log" || [ $? -le 1 ]
  measure "$log"
}

bench() {
  local file=$1 name; name=$(basename "$1")
  local iw=() ic=() ir=() vw=() vc=()
  for _ in $(seq "$runs"); do
    read -r w c r < <(import_run "$file"); iw+=("$w"); ic+=("$c"); ir+=("$r")
    read -r w c _ < <(validate_run "$file"); vw+=("$w"); vc+=("$c")
  done
  local m_iw m_ic m_ir m_vw m_vc summary
  m_iw=$(printf '%s\n' "${iw[@]}" | median); m_ic=$(printf '%s\n' "${ic[@]}" | median)
  m_ir=$(printf '%s\n' "${ir[@]}" | median)
  m_vw=$(printf '%s\n' "${vw[@]}" | median); m_vc=$(printf '%s\n' "${vc[@]}" | median)
  summary=$(cat "$scratch/summary")
  # Each run's own ratio too: on a shared machine whose speed drifts, the spread says more
  # than one figure.
  local ratios=() i
  for i in "${!iw[@]}"; do ratios+=("$(awk -v a="${iw[$i]}" -v b="${vw[$i]}" 'BEGIN {printf "%.2f", a/b}')"); done
  echo "$name per-run import/validate: ${ratios[*]} (median $(printf '%s\n' "${ratios[@]}" | median))" >&2
  awk -v f="$name" -v iw="$m_iw" -v ic="$m_ic" -v ir="$m_ir" -v vw="$m_vw" -v vc="$m_vc" \
      -v s="$summary" -v k="$runs" -v size="$(stat -c %s "$file")" 'BEGIN {
    printf "| `tiport import %s` | %.2f s | %.2f s | %.0f MB | %.1f MB/s | median of %d; %s |\n",
      f, iw, ic, ir/1024, size/1e6/iw, k, s
    printf "| `tiport validate %s` (same run) | %.2f s | %.2f s | | %.1f MB/s | median of %d |\n",
      f, vw, vc, size/1e6/vw, k
    printf "| ratio import / validate, %s | %.1fx wall | %.1fx CPU | | | same run |\n",
      f, iw/vw, ic/vc }'
}

echo "| command | wall | CPU (user+sys) | peak RSS | throughput | runs |"
echo "| --- | --- | --- | --- | --- | --- |"
bench "$data/stix_250mb.json"
bench "$data/indicators_50mb.csv"
