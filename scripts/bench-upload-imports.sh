#!/usr/bin/env bash
# Upload latency while file imports run (issue 11, item 7): `tiport serve` on a fresh embedded
# store, throttling off, an open-loop upload load (crates/tiport/examples/upload-load.rs, RATE
# requests of 100 new indicators a second over 32 connections) into one workspace, run twice
# on one store: alone, then with two 50 MB CSV imports posted at once (over HTTP, by another
# client, into another workspace) a few seconds into the run.
#
#   scripts/bench-upload-imports.sh [DURATION [RATE [SAME]]]   (defaults 30, 100, "")
#
# SAME=same posts the imports into the uploads' own workspace instead. The CSV files are made
# by the corpus generator (../shared/tools/gen_corpus.py, 50 MB each, seeds 11 and 12) into
# $TIPORT_BENCH_DATA (default /tmp/tiport-bench). Prints each run's latency percentiles and
# how long the imports took.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
duration=${1:-30}
rate=${2:-100}
same=${3:-}
shared=${TIPORT_SHARED:-$root/../shared}
data=${TIPORT_BENCH_DATA:-/tmp/tiport-bench}
mkdir -p "$data"
for seed in 11 12; do
  f="$data/indicators_50mb_$seed.csv"
  [ -s "$f" ] || python3 "$shared/tools/gen_corpus.py" csv --mb 50 --seed "$seed" --out "$f" >/dev/null
done
cargo build --release --locked -p tiport --bin tiport --example upload-load >/dev/null 2>&1
T=target/release/tiport

# shellcheck source=lib/service.sh
. scripts/lib/service.sh
pid= dir=
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
start_service "$T"
TOKEN=$(token_of "$(credential client_id)" "$(credential client_secret)")
export TOKEN
ws=$(credential workspace_id)
url=$(upload_url "$ws")
# The importing client and its workspace (made beside the running service, as an operator would).
if [ "$same" = same ]; then
  import_ws=$ws
  import_token=$TOKEN
else
  import_ws=$($T workspace create --name imports --data-dir "$dir" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
  client=$($T client create --workspace "$import_ws" --role contributor --data-dir "$dir")
  cid=$(echo "$client" | python3 -c "import json,sys; print(json.load(sys.stdin)['client_id'])")
  csecret=$(echo "$client" | python3 -c "import json,sys; print(json.load(sys.stdin)['client_secret'])")
  import_token=$(token_of "$cid" "$csecret")
fi

echo "== uploads alone: $rate requests/s (x100 objects), ${duration} s"
target/release/examples/upload-load "$url" --rate "$rate" --connections 32 --duration "$duration"

echo "== uploads with two 50 MB CSV imports ($( [ "$same" = same ] && echo 'same' || echo 'another') workspace) posted after 3 s"
target/release/examples/upload-load "$url" --rate "$rate" --connections 32 --duration "$duration" &
load=$!
sleep 3
started=$(date +%s.%N)
ids=()
for seed in 11 12; do
  id=$(curl -s -H "Authorization: Bearer $import_token" \
    -F "file=@$data/indicators_50mb_$seed.csv" -F source="bench $seed" -F format=csv \
    "$base/workspaces/$import_ws/threat-intelligence/imports" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
  ids+=("$id")
done
for id in "${ids[@]}"; do
  while :; do
    st=$(curl -s -H "Authorization: Bearer $import_token" \
      "$base/workspaces/$import_ws/threat-intelligence/imports/$id" \
      | python3 -c "import json,sys; r=json.load(sys.stdin); print(r['status'], r['imported'])")
    case "$st" in queued*|running*) sleep 0.2 ;; *) break ;; esac
  done
  echo "import $id: $st"
done
ended=$(date +%s.%N)
echo "both imports done $(python3 -c "print(f'{$ended - $started:.1f}')") s after they were posted"
wait $load
echo "service peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
