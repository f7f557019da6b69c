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
