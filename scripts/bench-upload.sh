#!/usr/bin/env bash
# The upload API under load (issue 4's target): `tiport serve` on a fresh embedded store with
# throttling off, 32 connections sending requests of 100 new indicators each (scripts/upload.lua)
# for DURATION seconds, every 200 meaning durable. Prints wrk's figures and objects/s.
#
#   scripts/bench-upload.sh [DURATION]      (default 60)
#
# Needs wrk (installed from Debian if missing), curl, python3. The load generator runs on the
# same two cores as the service, as it does on the project's machines.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
duration=${1:-60}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked -p tiport >/dev/null 2>&1
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
target/release/tiport serve --data-dir "$dir" --listen "127.0.0.1:$port" --requests-per-minute 0 \
  >/dev/null 2>"$dir/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -s "$dir/initial-credentials.json" ] && grep -q listening "$dir/serve.log" && break; sleep 0.1; done
get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$dir/initial-credentials.json" "$1"; }
base="http://127.0.0.1:$port"
TOKEN=$(curl -s "$base/$(get tenant_id)/oauth2/v2.0/token" -d grant_type=client_credentials \
  -d client_id="$(get client_id)" -d client_secret="$(get client_secret)" \
  -d scope=https://management.azure.com/.default \
  | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])")
export TOKEN
url="$base/workspaces/$(get workspace_id)/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview"
out=$(wrk -t2 -c32 -d"${duration}s" --latency -s scripts/upload.lua "$url")
echo "$out"
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
awk -v r="$rps" 'BEGIN {printf "objects/s: %.0f (100 per request); the hosted API documents 10,000 per minute (167/s)\n", r*100}'
if echo "$out" | grep -q "Non-2xx"; then echo "some answers were not 200" >&2; exit 1; fi
