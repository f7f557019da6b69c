# A fresh `tiport serve` for the benchmark scripts, sourced by scripts/bench-upload.sh and
# scripts/bench-upload-imports.sh (it is not run on its own). They start the service the same
# way and sign in with its initial credentials; keeping that here keeps their figures
# comparable.

# Starts TIPORT (the binary, $1) serving a fresh store in a new temporary directory, on a
# random local port, with throttling off, and waits (at most 10 s) until it listens. Sets
# `dir` (the store, with the service's log in serve.log), `pid` and `base` (its URL).
start_service() {
  dir=$(mktemp -d)
  local port=$((20000 + RANDOM % 20000))
  "$1" serve --data-dir "$dir" --listen "127.0.0.1:$port" \
    --requests-per-minute 0 >/dev/null 2>"$dir/serve.log" &
  pid=$!
  for _ in $(seq 100); do
    [ -s "$dir/initial-credentials.json" ] && grep -q listening "$dir/serve.log" && break
    sleep 0.1
  done
  base="http://127.0.0.1:$port"
}

# A field of the fresh store's initial credentials (tenant_id, client_id, client_secret,
# workspace_id).
credential() {
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
    "$dir/initial-credentials.json" "$1"
}

# An access token for the client with id $1 and secret $2.
token_of() {
  curl -s "$base/$(credential tenant_id)/oauth2/v2.0/token" -d grant_type=client_credentials \
    -d client_id="$1" -d client_secret="$2" -d scope=https://management.azure.com/.default \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])"
}

# The upload endpoint of workspace $1.
upload_url() {
  echo "$base/workspaces/$1/threat-intelligence-stix-objects:upload?api-version=2024-02-01-preview"
}
