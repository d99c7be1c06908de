#!/usr/bin/env bash
# Runs a published V1 client's own test suite against a sandbox Pier, changing only its base URL.
# Not part of `npm test`: it downloads the client from the npm registry at run time, and nothing of
# the client is kept in this repository. Of the clients in the README's table, the npm package
# `iamport` is the one that ships its tests in the registry package; the others' suites live in
# their source repositories (see docs/decisions/0011-v1-wire-fidelity.md for how they were run).
#
#   scripts/compat-clients.sh [port]        # default port 18400; the simulator takes port+11
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${1:-18400}"
WORK="$(mktemp -d)"
PIER_PID=""
cleanup() {
  if [ -n "$PIER_PID" ]; then kill "$PIER_PID" 2>/dev/null || true; wait "$PIER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== starting Pier (sandbox, fresh data in $WORK/data) on port $PORT"
(cd "$ROOT" && PORT="$PORT" PIER_DATA_DIR="$WORK/data" exec node_modules/.bin/tsx src/main.ts >"$WORK/pier.log" 2>&1) &
PIER_PID=$!
for _ in $(seq 1 60); do
  grep -q 'Server listening' "$WORK/pier.log" 2>/dev/null && break
  sleep 1
done
grep -q 'Server listening' "$WORK/pier.log" || { cat "$WORK/pier.log"; echo "Pier did not start"; exit 1; }

echo "== npm package iamport: its own mocha suite, base URL patched"
cd "$WORK"
npm pack iamport@0.3.4 --silent >/dev/null
tar xzf iamport-0.3.4.tgz
cd package
# the only change: the client's default host
sed -i "s#Iamport.DEFAULT_HOST = 'https://api.iamport.kr'#Iamport.DEFAULT_HOST = 'http://127.0.0.1:$PORT'#" lib/iamport.js
grep -q "127.0.0.1:$PORT" lib/iamport.js || { echo "could not patch the base URL"; exit 1; }
npm install --silent --no-audit --no-fund >/dev/null
npx mocha || true # the README lists the tests that need i'mport's own demo-account data
