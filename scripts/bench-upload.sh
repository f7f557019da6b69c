#!/usr/bin/env bash
# The upload API under load (issue 4's target): `tiport serve` on a fresh embedded store with
# throttling off, 32 connections sending requests of 100 new indicators with random ids, every
# 200 meaning durable. Two runs of DURATION seconds, each on a fresh store:
#
#   1. closed loop (wrk, scripts/upload.lua): each connection sends its next request as soon as
#      the last is answered. The most the service takes; its latency is the queue such a client
#      builds (32 connections / throughput, by Little's law).
#   2. open loop (crates/tiport/examples/upload-load.rs): RATE requests per second on a fixed
#      schedule, latency measured from when each request was due. The latency at a given rate.
#
#   scripts/bench-upload.sh [DURATION [RATE]]      (defaults 60 and 300, i.e. 30,000 objects/s)
#
# TIPORT_BIN=DIR runs the tiport and upload-load found in DIR instead of building them (to
# compare two builds in one session, alternating). Each run also prints the service's CPU time.
#
# Needs wrk (installed from Debian if missing), curl, python3. The load generators run on the
# same two cores as the service, as they do on the project's machines.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
duration=${1:-60}
rate=${2:-300}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -n "${TIPORT_BIN:-}" ]; then
  tiport=$TIPORT_BIN/tiport load=$TIPORT_BIN/upload-load
else
  cargo build --release --locked -p tiport --bin tiport --example upload-load >/dev/null 2>&1
  tiport=target/release/tiport load=target/release/examples/upload-load
fi

# shellcheck source=lib/service.sh
. scripts/lib/service.sh
pid=
dir=
stop() {
  # The service's CPU time (user + system, clock ticks of 10 ms): a measure of its work that
  # other processes on the machine disturb less than latency or throughput.
  if [ -n "$pid" ] && [ -r /proc/$pid/stat ]; then
    awk '{printf "service cpu: %.2f s (user %.2f, system %.2f)\n", ($14+$15)/100, $14/100, $15/100}' /proc/$pid/stat
  fi
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$dir" ]; then rm -rf "$dir"; fi
  pid= dir=
}
trap stop EXIT

# Starts the service on a fresh store; sets pid, dir, TOKEN and url.
start() {
  start_service "$tiport"
  TOKEN=$(token_of "$(credential client_id)" "$(credential client_secret)")
  export TOKEN
  url=$(upload_url "$(credential workspace_id)")
}

status=0
echo "== closed loop (wrk), ${duration} s"
start
out=$(wrk -t2 -c32 -d"${duration}s" --latency -s scripts/upload.lua "$url")
echo "$out"
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
awk -v r="$rps" 'BEGIN {printf "objects/s: %.0f (100 per request); the hosted API documents 10,000 per minute (167/s)\n", r*100}'
if echo "$out" | grep -q "Non-2xx"; then echo "some answers were not 200" >&2; status=1; fi
echo "database: $(du -sh "$dir" | cut -f1)"
stop

echo "== open loop at $rate requests/s, ${duration} s"
start
"$load" "$url" --rate "$rate" --connections 32 \
  --duration "$duration" || status=1
echo "database: $(du -sh "$dir" | cut -f1)"
stop
exit $status
