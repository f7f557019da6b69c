#!/usr/bin/env bash
# Observable lookups with 10 million objects stored (issue 4's target: p99 at most 2 ms), by
# crates/store/examples/observable-lookup.rs: the store is built once under
# bench-data/lookup-10m (about 4 GB; reused by later runs), then RUNS runs of 100,000 lookups.
#
#   scripts/bench-lookup.sh [RUNS]      (default 3)
#
# The first run after the build, or after a reboot, reads the index from disk; later runs find
# it in the page cache, as a running service does.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${1:-3}
cargo build --release --locked -p store --example observable-lookup >/dev/null 2>&1
dir=bench-data/lookup-10m
if [ ! -e "$dir/tiport.db" ]; then
  mkdir -p "$dir"
  /usr/bin/time -f "build: %e s wall, %M KB peak RSS" \
    target/release/examples/observable-lookup "$dir" --objects 10000000 --probes 1000
fi
echo "store: $(du -sh "$dir" | cut -f1)"
for i in $(seq "$runs"); do
  echo "== run $i"
  target/release/examples/observable-lookup "$dir" --probes 100000
done
