#!/usr/bin/env bash
# Sourced by the test scripts: installs and starts what the tests need
# (libchdb from npm; Debian's clickhouse-server on its own port and data
# folder, stopped when the sourcing script exits, unless
# SEZIM_TEST_CLICKHOUSE names a server; Chromium and playwright-core) and
# exports the variables the tests read. Expects $root, the repository.
# at_exit CMD adds CMD to what runs when the sourcing script exits.

_exit_cmds=()
at_exit() { _exit_cmds+=("$1"); }
_run_exit_cmds() { local c; for c in "${_exit_cmds[@]}"; do eval "$c" || true; done; }
trap _run_exit_cmds EXIT

scripts/fetch-chdb.sh "$root/.cache/chdb"
export CHDB_LIB_PATH="$root/.cache/chdb/libchdb.so"

if [ -z "${SEZIM_TEST_CLICKHOUSE:-}" ]; then
  port=19500
  while (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 10)); done
  chdir="$root/.cache/clickhouse-test"
  rm -rf "$chdir"
  scripts/clickhouse-test-server.sh start "$chdir" "$port"
  at_exit 'scripts/clickhouse-test-server.sh stop "$chdir"'
  export SEZIM_TEST_CLICKHOUSE="clickhouse://default:@127.0.0.1:$port/"
  # The same server's HTTP interface (the script puts it at PORT-1000):
  # e2e/consent.test.mjs reads the tables through it. With a server of your
  # own, set SEZIM_TEST_CLICKHOUSE_HTTP too.
  export SEZIM_TEST_CLICKHOUSE_HTTP="http://127.0.0.1:$((port - 1000))/"
fi

# cmd/sezim's TestServerUsersSeparateTheRoles starts a server of its own
# with deploy/clickhouse/users.d, also beside a server named by
# SEZIM_TEST_CLICKHOUSE: CI must run it, not skip it.
# So does TestTwoShardCluster (two servers as a two-shard cluster, started
# by scripts/clickhouse-test-cluster.sh): in CI it fails instead of skipping.
if [ "${CI:-}" = true ]; then
  scripts/clickhouse-test-server.sh install
  export SEZIM_TEST_CLUSTER_REQUIRED=1
fi

# Chromium and playwright-core for the browser tests (Go tests drive them
# too); promtool (Debian's prometheus package) checks the alert rules, and
# nginx -t the cluster profile's load balancer.
if [ ! -x /usr/bin/chromium ] || ! command -v promtool >/dev/null || ! command -v nginx >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium prometheus nginx
fi
if [ ! -d e2e/node_modules ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix e2e --no-audit --no-fund
fi

