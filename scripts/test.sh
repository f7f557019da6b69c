#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a used one: installs what is missing, makes the
# test inputs, then runs formatting and lint checks and every test.
#
#   scripts/test.sh
#
# Environment (all optional):
#   TIPORT_SHARED           the project's shared/ folder (default: ../shared beside the repo)
#   TIPORT_REFERENCE_VENV   virtualenv of the OASIS reference tools (default: .reference-venv)
#   TIPORT_TEST_DATA        generated test inputs (default: .test-data)
#   TIPORT_TEST_POSTGRES_URL  the PostgreSQL server the store's tests make their databases on
#                           (default: postgres://postgres@127.0.0.1:5432/postgres)
#   TIPORT_TEST_POSTGRES    `skip` to skip the PostgreSQL tests; otherwise an unreachable
#                           server fails the run, with a message, before anything is built
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export TIPORT_SHARED=${TIPORT_SHARED:-$root/../shared}
export TIPORT_REFERENCE_VENV=${TIPORT_REFERENCE_VENV:-$root/.reference-venv}
export TIPORT_TEST_DATA=${TIPORT_TEST_DATA:-$root/.test-data}
[ -d "$TIPORT_SHARED/tools" ] || { echo "test.sh: shared/ not found at $TIPORT_SHARED (set TIPORT_SHARED)" >&2; exit 2; }

step() { printf '\n== %s\n' "$*"; }

step "reference tools (OASIS stix2-validator, stix2-patterns) in $TIPORT_REFERENCE_VENV"
if ! "$TIPORT_REFERENCE_VENV/bin/python" -c 'import stix2validator, stix2patterns' 2>/dev/null; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3-venv
  fi
  bash "$TIPORT_SHARED/tools/reference-tools.sh" "$TIPORT_REFERENCE_VENV" >/dev/null
fi

step "tools the end-to-end tests use (curl; chromium and chromium-driver for the web UI)"
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "PostgreSQL for the store's tests"
if [ "${TIPORT_TEST_POSTGRES:-}" = skip ]; then
  echo "TIPORT_TEST_POSTGRES=skip: the PostgreSQL tests are skipped"
else
  pg_url=${TIPORT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  # host[:port] from postgres://[user[:password]@]host[:port]/db
  pg_hostport=${pg_url#*://}; pg_hostport=${pg_hostport#*@}; pg_hostport=${pg_hostport%%/*}
  pg_host=${pg_hostport%%:*}; pg_port=5432
  [ "$pg_hostport" != "$pg_host" ] && pg_port=${pg_hostport##*:}
  if ! timeout 5 bash -c ": </dev/tcp/$pg_host/$pg_port" 2>/dev/null; then
    echo "test.sh: no PostgreSQL answers at $pg_host:$pg_port ($pg_url). Start one (trust" \
      "authentication, a user that may create databases), point TIPORT_TEST_POSTGRES_URL at" \
      "one, or set TIPORT_TEST_POSTGRES=skip to skip the PostgreSQL tests." >&2
    exit 2
  fi
  echo "PostgreSQL answers at $pg_host:$pg_port"
fi

step "test inputs in $TIPORT_TEST_DATA"
mkdir -p "$TIPORT_TEST_DATA"
gen() { python3 "$TIPORT_SHARED/tools/gen_corpus.py" "$@"; }
[ -s "$TIPORT_TEST_DATA/stix_2mb_invalid.json" ] || gen json --mb 2 --seed 5 --invalid-rate 0.05 \
  --out "$TIPORT_TEST_DATA/stix_2mb_invalid.json" --manifest "$TIPORT_TEST_DATA/stix_2mb_invalid.manifest.json" 2>/dev/null
[ -s "$TIPORT_TEST_DATA/indicators_1mb_invalid.manifest.json" ] || gen csv --mb 1 --seed 7 --invalid-rate 0.02 \
  --out "$TIPORT_TEST_DATA/indicators_1mb_invalid.csv" --manifest "$TIPORT_TEST_DATA/indicators_1mb_invalid.manifest.json" 2>/dev/null

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked
