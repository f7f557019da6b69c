#!/usr/bin/env python3
"""Commands run beside a busy `tiport serve` on the same data directory (ARCHITECTURE.md,
"Writers in two processes"): how long they take, and what they do to the service's uploads.

    scripts/bench-beside.py TIPORT CSV [open|closed]

`open` (the default): uploads of 100 new indicators at 50 requests a second, on a fixed
schedule over 16 connections, into a workspace of their own (latency measured from when each
was due, so a stall counts against every request it delays); meanwhile `tiport export`,
`tiport client create`, `tiport import CSV` into the service's first workspace, then the same
file sent to the service's own import API. Prints each command's time and the uploads' latency
while it ran.

`closed`: 16 connections each sending its next upload (20 indicators) as soon as the last is
answered; `tiport export` and `tiport client create` twice each. Prints their times.

Needs python3 only. TIPORT is a release build (target/release/tiport); CSV is, say,
bench-data/indicators_50mb.csv (scripts/bench-import.sh makes it). The data directory is a
fresh temporary one, removed at the end.
"""
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

tiport, csv = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "open"
data = tempfile.mkdtemp()
port = 20000 + random.randrange(20000)
serve = subprocess.Popen(
    [tiport, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}",
     "--requests-per-minute", "0"],
    stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "serve.log"), "w"))
start = time.monotonic()
stop = threading.Event()
results = []  # (due, latency, status) of each upload
results_lock = threading.Lock()


def cli(*args):
    return subprocess.run([tiport, *args, "--data-dir", data], capture_output=True, text=True)


def wait_for_service():
    creds = os.path.join(data, "initial-credentials.json")
    for _ in range(400):
        if os.path.exists(creds) and "listening" in open(os.path.join(data, "serve.log")).read():
            return json.load(open(creds))
        time.sleep(0.05)
    sys.exit("the service did not start")


def token_of(cred):
    c = http.client.HTTPConnection("127.0.0.1", port)
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": cred["client_id"],
        "client_secret": cred["client_secret"], "scope": "https://management.azure.com/.default"})
    c.request("POST", f"/{cred['tenant_id']}/oauth2/v2.0/token", form,
              {"Content-Type": "application/x-www-form-urlencoded"})
    return json.loads(c.getresponse().read())["access_token"]


def body(n):
    return json.dumps({"sourcesystem": "bench", "stixobjects": [{
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "name": "bench", "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"} for _ in range(n)]})


def uploader(path, token, first_due, interval, objects):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    due = first_due
    while not stop.is_set():
        if interval:
            time.sleep(max(0.0, due - time.monotonic()))
        else:
            due = time.monotonic()
        try:
            conn.request("POST", path, body(objects),
                         {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            status = r.status
        except (OSError, http.client.HTTPException) as e:
            status = type(e).__name__
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        with results_lock:
            results.append((due - start, time.monotonic() - due, status))
        due += interval


def timed(name, run):
    t0 = time.monotonic() - start
    detail = run()
    t1 = time.monotonic() - start
    print(f"{name}: {t1 - t0:.2f} s {detail}", flush=True)
    return name, t0, t1


def latency(label, lo, hi):
    with results_lock:
        sel = [r for r in results if lo <= r[0] < hi]
    if not sel:
        return print(f"  {label}: no uploads due")
    lat = sorted(r[1] for r in sel)
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] * 1000
    bad = sum(1 for r in sel if r[2] != 200)
    print(f"  {label}: {len(sel)} uploads, p50 {q(.5):.0f} ms, p99 {q(.99):.0f} ms, "
          f"max {lat[-1] * 1000:.0f} ms, not 200: {bad}", flush=True)


def api_import(ws, token):
    boundary = "b" + uuid.uuid4().hex
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"source\"\r\n\r\napi\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"f.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode() \
        + open(csv, "rb").read() + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    auth = {"Authorization": f"Bearer {token}"}
    conn.request("POST", f"/workspaces/{ws}/threat-intelligence/imports", payload,
                 {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    rec = json.loads(conn.getresponse().read())
    while rec.get("status") in ("queued", "running"):
        time.sleep(0.1)
        conn.request("GET", f"/workspaces/{ws}/threat-intelligence/imports/{rec['id']}",
                     headers=auth)
        rec = json.loads(conn.getresponse().read())
    return rec.get("status")


def exit_of(p):
    return f"(exit {p.returncode})"


try:
    cred = wait_for_service()
    ws = cred["workspace_id"]
    token = token_of(cred)
    if mode == "open":
        # Uploads into a workspace of their own: an import into the first one does not hold
        # them back by design.
        up_ws = json.loads(cli("workspace", "create", "--name", "uploads").stdout)["id"]
        cli("role", "grant", "--workspace", up_ws, "--principal", cred["client_id"],
            "--role", "contributor")
        path = f"/workspaces/{up_ws}/threat-intelligence-stix-objects:upload" \
               "?api-version=2024-02-01-preview"
        rate, conns = 50.0, 16
        for k in range(conns):
            threading.Thread(target=uploader, args=(path, token, start + k / rate, conns / rate, 100),
                             daemon=True).start()
        time.sleep(5)
        spans = [
            timed("tiport export", lambda: exit_of(cli("export", "--workspace", ws))),
            timed("tiport client create",
                  lambda: exit_of(cli("client", "create", "--workspace", ws, "--role", "reader"))),
        ]
        time.sleep(2)
        spans.append(timed("tiport import", lambda: exit_of(
            cli("import", csv, "--workspace", ws, "--source", "cli"))))
        time.sleep(3)
        spans.append(timed("POST /imports", lambda: api_import(ws, token)))
        time.sleep(3)
        stop.set()
        latency("uploads before", 1, 5)
        for name, t0, t1 in spans:
            latency(f"uploads due during {name}", t0, t1)
    else:
        path = f"/workspaces/{ws}/threat-intelligence-stix-objects:upload" \
               "?api-version=2024-02-01-preview"
        for _ in range(16):
            threading.Thread(target=uploader, args=(path, token, 0, 0, 20), daemon=True).start()
        time.sleep(3)
        for _ in range(2):
            timed("tiport export", lambda: exit_of(cli("export", "--workspace", ws)))
            timed("tiport client create",
                  lambda: exit_of(cli("client", "create", "--workspace", ws, "--role", "reader")))
        stop.set()
        with results_lock:
            print(f"  {len(results) / (time.monotonic() - start - 3):.0f} uploads/s")
finally:
    stop.set()
    serve.terminate()
    serve.wait()
    shutil.rmtree(data, ignore_errors=True)
