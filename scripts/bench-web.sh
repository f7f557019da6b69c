#!/usr/bin/env bash
# How long the web UI's pages take to answer on a store of many objects: `tiport serve` on a
# store filled by importing COPIES generated JSON corpora of about 350,000 objects each (ids
# differ between copies: each has its own seed), then each page asked for RUNS times by a
# signed-in browser's request (curl on the same machine, keep-alive off), the median of
# `time_total` reported; and how long the overview's background count of the workspace took.
# Prints Markdown rows for BENCHMARKS.md.
#
#   scripts/bench-web.sh [COPIES [RUNS]]     (defaults 3 and 7)
#
# Needs: python3 and ../shared/tools/gen_corpus.py (or TIPORT_SHARED), curl.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
copies=${1:-3}
runs=${2:-7}
shared=${TIPORT_SHARED:-$root/../shared}
cargo build --release --locked -p tiport >/dev/null 2>&1
bin=$root/target/release/tiport
data=$root/bench-data
mkdir -p "$data"
scratch=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$scratch"' EXIT
ws=11111111-1111-4111-8111-111111111111
"$bin" workspace create --name bench --id "$ws" --data-dir "$scratch/d" >/dev/null
for i in $(seq "$copies"); do
  f=$data/web_stix_250mb_$i.json
  [ -s "$f" ] || python3 "$shared/tools/gen_corpus.py" json --mb 250 --seed $((100 + i)) \
    --out "$f" >/dev/null 2>&1
  "$bin" import "$f" --workspace "$ws" --source "feed $i" --data-dir "$scratch/d" >/dev/null 2>&1 || true
done
printf '%s\n' "a long enough password" | "$bin" user create --workspace "$ws" --role reader \
  --name bench --data-dir "$scratch/d" >/dev/null
port=$((20000 + RANDOM % 20000))
"$bin" serve --data-dir "$scratch/d" --listen "127.0.0.1:$port" >/dev/null 2>"$scratch/log" &
pid=$!
for _ in $(seq 100); do grep -q listening "$scratch/log" && break; sleep 0.1; done
base=http://127.0.0.1:$port
jar=$scratch/jar
csrf=$(curl -s -c "$jar" "$base/login" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
curl -s -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf=$csrf" \
  --data-urlencode username=bench --data-urlencode "password=a long enough password" "$base/login"
# The overview's counts are made in the background: the first visit starts them; wait for them
# (and report how long they took, from the page).
first_visit=$(curl -s -b "$jar" -o /dev/null -w '%{time_total}' "$base/")
for _ in $(seq 600); do
  page=$(curl -s -b "$jar" "$base/")
  grep -q 'id="objects"' <<<"$page" && break
  sleep 1
done
objects=$(grep -o '<dd id="objects">[0-9]*</dd>' <<<"$page" | tr -dc 0-9)
counted_in=$(grep -o 'Counted at [^(]*(in [0-9.]* s)' <<<"$page" | sed 's/.*(in //; s/)//')
# An object and an observable value to look up: the first indicator of the list.
first=$(curl -s -b "$jar" "$base/intel?type=indicator" | grep -o 'href="/intel/indicator--[^"]*"' | head -1 | sed 's/href="//; s/"$//')

# A cursor in the middle of the ids (keyset pages must start there, not read up to it).
deep=$(printf %s indicator--80000000-0000-4000-8000-000000000000 | base64 -w0 | tr '+/' '-_' | tr -d '=')

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "store: $objects current objects in one workspace ($copies corpora); the overview's background count took $counted_in; the first visit, which starts it, answered in $(awk -v t="$first_visit" 'BEGIN {printf "%.1f ms", t * 1000}')"
echo "| page | median of $runs (ms) |"
echo "| --- | ---: |"
# The pages: the list in each order, a rare type, deep in the ids, filters nothing passes (a
# page looks at 20,000 objects, then offers to search further), an observable, names (a
# common start, and one nothing has), an object, the imports.
for page in "/" "/intel" "/intel?sort=stored&order=asc" "/intel?sort=id" \
  "/intel?sort=id&order=desc&type=indicator" "/intel?type=relationship" \
  "/intel?sort=id&cursor=$deep" "/intel?source=nobody" "/intel?sort=id&label=nothing" \
  "/intel?q=198.51.100.7" "/intel?q=domain+indicator" "/intel?q=zzz" \
  "/intel?q=domain&source=nobody" "$first" "/imports" "/imports/new" "/login"; do
  # The sign-in page is asked for as by someone not signed in (who is sent on otherwise).
  cookie=(-b "$jar")
  [ "$page" = /login ] && cookie=()
  # A page that does not answer 200 would be timed doing something else: stop.
  status=$(curl -s "${cookie[@]}" -o /dev/null -w '%{http_code}' "$base$page")
  [ "$status" = 200 ] || { echo "$page answered $status" >&2; exit 1; }
  t=$(for _ in $(seq "$runs"); do
    curl -s "${cookie[@]}" -o /dev/null -H 'Connection: close' -w '%{time_total}\n' "$base$page"
  done | median)
  awk -v p="$page" -v t="$t" 'BEGIN {printf "| `%s` | %.1f |\n", p, t * 1000}'
done
