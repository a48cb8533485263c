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
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${SEZIM_FUZZTIME:-5s}" "$pkg" >/dev/null \
      || { echo "fuzz $pkg $target failed"; go test -run "^${target}\$" "$pkg"; exit 1; }
    echo "fuzz ok: $pkg $target"
  done
done

echo "== browser tests"
bash e2e/run.sh
