#!/usr/bin/env bash
# Runs every test: unit, integration on both ClickHouse engines, fuzz
# targets briefly, and the browser tests. It installs and starts what the
# tests need: libchdb (npm), Debian's clickhouse-server on its own port and
# data folder (unless SEZIM_TEST_CLICKHOUSE names a server), Chromium and
# playwright-core. Usage: scripts/test.sh   (or: make test)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/fetch-chdb.sh "$root/.cache/chdb"
export CHDB_LIB_PATH="$root/.cache/chdb/libchdb.so"

if [ -z "${SEZIM_TEST_CLICKHOUSE:-}" ]; then
  port=19500
  while (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 10)); done
  chdir="$root/.cache/clickhouse-test"
  rm -rf "$chdir"
  scripts/clickhouse-test-server.sh start "$chdir" "$port"
  trap 'scripts/clickhouse-test-server.sh stop "$chdir" || true' EXIT
  export SEZIM_TEST_CLICKHOUSE="clickhouse://default:@127.0.0.1:$port/"
  # The same server's HTTP interface (the script puts it at PORT-1000):
  # e2e/consent.test.mjs reads the tables through it. With a server of your
  # own, set SEZIM_TEST_CLICKHOUSE_HTTP too.
  export SEZIM_TEST_CLICKHOUSE_HTTP="http://127.0.0.1:$((port - 1000))/"
fi

# Chromium and playwright-core for the browser tests (Go tests drive them too).
if [ ! -x /usr/bin/chromium ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi
if [ ! -d e2e/node_modules ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix e2e --no-audit --no-fund
fi

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
