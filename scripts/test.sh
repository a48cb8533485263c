#!/usr/bin/env bash
# Runs every test: unit, integration on both ClickHouse engines, fuzz
# targets briefly, and the browser tests. It installs and starts what the
# tests need: libchdb (npm), Debian's clickhouse-server on its own port and
# data folder (unless SEZIM_TEST_CLICKHOUSE names a server), Chromium and
# playwright-core. Usage: scripts/test.sh   (or: make test)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

. scripts/test-env.sh

echo "== go test (race detector on, both engines)"
go test -race -count=1 -timeout 30m ./...

echo "== fuzz targets, ${SEZIM_FUZZTIME:-5s} each"
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    out=$(mktemp)
    # A second try only when the first found no input to keep: the fuzzer
    # itself can fail on a starved machine ("hung or terminated
    # unexpectedly"), while a real finding is written under testdata/fuzz
    # and replayed by the plain run below.
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "${SEZIM_FUZZTIME:-5s}" "$pkg" >"$out" 2>&1; then
      echo "fuzz $pkg $target failed:"; tail -20 "$out"
      if grep -q "Failing input written to" "$out" \
        || ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "${SEZIM_FUZZTIME:-5s}" "$pkg" >"$out" 2>&1; then
        tail -20 "$out"; go test -run "^${target}\$" "$pkg"; rm -f "$out"; exit 1
      fi
      echo "fuzz $pkg $target: passed on a second try (the first failed without a finding)"
    fi
    rm -f "$out"
    echo "fuzz ok: $pkg $target"
  done
done

echo "== browser tests"
bash e2e/run.sh
