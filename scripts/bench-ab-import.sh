#!/usr/bin/env bash
# Two builds of tiport importing the same file into a fresh store, alternating run by run so
# that the drift of a shared machine falls on both alike; the method of scripts/bench-import.sh
# (wall time to exit and CPU, from /usr/bin/time -v). Prints "A|B wall_s cpu_s" per run.
#
#   scripts/bench-ab-import.sh RUNS FILE BIN_A BIN_B
set -euo pipefail
runs=$1 file=$2 a=$3 b=$4
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
ws=11111111-1111-4111-8111-111111111111
one() { # BIN -> "wall cpu"
  local dir=$scratch/d log=$scratch/log
  rm -rf "$dir"
  "$1" workspace create --name bench --id "$ws" --data-dir "$dir" >/dev/null
  /usr/bin/time -v "$1" import "$file" --workspace "$ws" --source bench --data-dir "$dir" \
    >/dev/null 2>"$log" || [ $? -le 1 ]
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; w=s}
    /User time/ {u=$2} /System time/ {y=$2} END {printf "%.2f %.2f\n", w, u+y}' "$log"
}
for i in $(seq "$runs"); do
  if [ $((i % 2)) -eq 1 ]; then
    echo "A $(one "$a")"; echo "B $(one "$b")"
  else
    echo "B $(one "$b")"; echo "A $(one "$a")"
  fi
done
