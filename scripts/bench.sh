#!/usr/bin/env bash
# Whole-process benchmarks of `tiport validate`, each beside the reference tool where the target
# is a ratio, both measured in this one run. Prints Markdown rows for BENCHMARKS.md.
#
#   scripts/bench.sh [RUNS]        (default 5 runs; medians are reported)
#
# Needs: the corpora (made here with ../shared/tools/make-corpora.sh into bench-data/ if
# missing), the reference tools (installed here if missing), /usr/bin/time.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${1:-5}
shared=${TIPORT_SHARED:-$root/../shared}
venv=${TIPORT_REFERENCE_VENV:-$root/.reference-venv}
data=$root/bench-data
[ -s "$data/stix_250mb.json" ] || bash "$shared/tools/make-corpora.sh" "$data" >/dev/null
"$venv/bin/python" -c 'import stix2validator, stix2patterns' 2>/dev/null \
  || bash "$shared/tools/reference-tools.sh" "$venv" >/dev/null
cargo build --release --locked -p tiport >/dev/null 2>&1
bin=$root/target/release/tiport

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# time_run FILE ARGS...: one run pinned to one core; prints "seconds peak_kib".
time_run() {
  local log; log=$(mktemp)
  taskset -c 0 /usr/bin/time -v "$bin" validate "$@" >/dev/null 2>"$log" || [ $? -le 1 ]
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  rm -f "$log"
  echo "$wall $rss"
}

bench_validate() {
  local file=$1; shift
  local size objs; size=$(stat -c %s "$file")
  local walls=() rsss=()
  for _ in $(seq "$runs"); do
    read -r w r < <(time_run "$file" "$@")
    walls+=("$w"); rsss+=("$r")
  done
  local w r
  w=$(printf '%s\n' "${walls[@]}" | median)
  r=$(printf '%s\n' "${rsss[@]}" | median)
  objs=$({ "$bin" validate "$file" "$@" 2>&1 >/dev/null || true; } | sed -n 's/.*: \([0-9]*\) records.*/\1/p')
  awk -v f="$(basename "$file")" -v s="$size" -v w="$w" -v r="$r" -v n="$objs" -v a="$*" -v k="$runs" 'BEGIN {
    printf "| `tiport validate %s %s` | %.1f MB/s | %.0f objects/s | %.2f s | %.1f MB | median of %d |\n",
      f, a, s/1e6/w, n/w, w, r/1024, k }'
}

echo "| command | throughput | objects/s | wall | peak RSS | runs |"
echo "| --- | --- | --- | --- | --- | --- |"
bench_validate "$data/stix_250mb.json"
bench_validate "$data/stix_250mb.json" --strict
bench_validate "$data/stix_20mb.json"

# The reference validator on the same 20 MB file, once (it takes about 90 s).
ref_log=$(mktemp)
/usr/bin/time -v "$venv/bin/python" "$shared/tools/oracle_validate.py" "$data/stix_20mb.json" >/dev/null 2>"$ref_log"
ref_s=$(sed -n 's/.*"inproc_s": \([0-9.]*\).*/\1/p' "$ref_log")
ref_n=$(sed -n 's/.*"records": \([0-9]*\).*/\1/p' "$ref_log")
rm -f "$ref_log"
read -r w _ < <(time_run "$data/stix_20mb.json" --strict)
awk -v rs="$ref_s" -v rn="$ref_n" -v w="$w" 'BEGIN {
  printf "| stix2-validator 3.3.2 on stix_20mb.json | | %.0f objects/s | %.1f s | | 1 run |\n", rn/rs, rs
  printf "| ratio tiport --strict / stix2-validator, stix_20mb.json | | %.0fx | | | same run |\n", (rn/w)/(rn/rs) }'

# Patterns: stix2-patterns on the patterns of the 250 MB corpus (first 20,000).
pat=$(mktemp)
"$venv/bin/python" "$shared/tools/oracle_patterns.py" --from-stix "$data/stix_20mb.json" --emit-patterns >"$pat"
ref=$("$venv/bin/python" "$shared/tools/oracle_patterns.py" "$pat" --limit 20000 2>&1 >/dev/null)
rn=$(echo "$ref" | sed -n 's/.*"patterns": \([0-9]*\).*/\1/p'); rs=$(echo "$ref" | sed -n 's/.*"inproc_s": \([0-9.]*\).*/\1/p')
head -n "$rn" "$pat" >"$pat.n"
for _ in $(seq 5); do cat "$pat.n"; done >"$pat.5"   # indicative only: the criterion bench is the figure
read -r w _ < <(time_run "$pat.5" --format patterns --strict)
awk -v rs="$rs" -v rn="$rn" -v w="$w" 'BEGIN {
  printf "| stix2-patterns 2.1.2, %d corpus patterns | | %.0f patterns/s | %.2f s | | 1 run |\n", rn, rn/rs, rs
  printf "| `tiport validate --format patterns --strict`, same patterns x5 (whole process) | | %.0f patterns/s | %.2f s | | 1 run |\n", 5*rn/w, w
  printf "| ratio tiport / stix2-patterns (whole process vs in-process) | | %.0fx | | | same run |\n", (5*rn/w)/(rn/rs) }'
rm -f "$pat" "$pat.n" "$pat.5"
