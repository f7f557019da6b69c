#!/usr/bin/env bash
# Instruction counts of the upload path, which load on the machine does not disturb: a built
# `tiport serve` under `valgrind --tool=callgrind` answering N uploads of 100 new indicators
# (seeded, the same bodies every run) sent one after another on one connection, instrumentation
# switched on after 20 warm-up requests. Prints the program's total; the profile is OUT.
#
#   scripts/callgrind-upload.sh TIPORT_BINARY OUT [N]      (N defaults to 200)
#
# The applier's commits are timed (one a second, or 20 ms after the last upload), and under
# valgrind their number varies from run to run: compare two builds by alternating runs.
# Needs valgrind, python3, curl.
set -euo pipefail
bin=$1 out=$2 n=${3:-200}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir/bodies" "$((n + 20))" <<'PY'
import os, random, sys
out, count = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
os.makedirs(out)
for k in range(count):
    objs = []
    for _ in range(100):
        h = rnd.getrandbits
        idv = "indicator--%08x-%04x-4%03x-8%03x-%012x" % (h(32), h(16), h(12), h(12), h(48))
        ip = "%d.%d.%d.%d" % (rnd.randint(1, 223), rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(0, 255))
        objs.append('{"type":"indicator","spec_version":"2.1","id":"%s","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"bench","pattern":"[ipv4-addr:value = \'%s\']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","labels":["bench"],"confidence":50}' % (idv, ip))
    open(f"{out}/{k:05d}.json", "w").write('{"sourcesystem":"bench","stixobjects":[' + ",".join(objs) + "]}")
PY
port=$((20000 + RANDOM % 20000))
# The store's first start (credentials, a token) natively, so that argon2 is not counted.
"$bin" serve --data-dir "$dir/d" --listen "127.0.0.1:$port" --requests-per-minute 0 >/dev/null 2>"$dir/serve0.log" &
pid=$!
for _ in $(seq 200); do [ -s "$dir/d/initial-credentials.json" ] && grep -q listening "$dir/serve0.log" && break; sleep 0.1; done
get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$dir/d/initial-credentials.json" "$1"; }
token=$(curl -s "http://127.0.0.1:$port/$(get tenant_id)/oauth2/v2.0/token" -d grant_type=client_credentials \
  -d client_id="$(get client_id)" -d client_secret="$(get client_secret)" \
  -d scope=https://management.azure.com/.default | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])")
ws=$(get workspace_id)
kill "$pid"; wait "$pid" || true
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
  "$bin" serve --data-dir "$dir/d" --listen "127.0.0.1:$port" --requests-per-minute 0 >/dev/null 2>"$dir/serve1.log" &
vpid=$!
for _ in $(seq 600); do grep -q listening "$dir/serve1.log" 2>/dev/null && break; sleep 0.2; done
python3 - "$port" "$ws" "$token" "$dir/bodies" "$vpid" <<'PY'
import http.client, os, sys
port, ws, token, bodies, vpid = sys.argv[1:6]
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)
path = f"/workspaces/{ws}/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview"
names = sorted(os.listdir(bodies))
def send(name):
    c.request("POST", path, body=open(os.path.join(bodies, name), "rb").read(),
              headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse(); d = r.read()
    assert r.status == 200, (r.status, d[:300])
for name in names[:20]:
    send(name)
os.system(f"callgrind_control -i on {vpid} >/dev/null")
for name in names[20:]:
    send(name)
os.system(f"callgrind_control -i off {vpid} >/dev/null")
PY
kill "$vpid"; wait "$vpid" || true
callgrind_annotate --auto=no "$out" 2>/dev/null | grep 'PROGRAM TOTALS'
