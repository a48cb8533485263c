#!/usr/bin/env bash
# Runs the browser tests: installs what is missing (the npm packages from the
# lockfile, Debian's Chromium), then every e2e/*.test.mjs with Node's runner.
# Without SEZIM_COLLECTOR_URL and SEZIM_SITE_PAGE_URL the tests run against
# e2e/recorder.mjs; see e2e/lib.mjs for pointing them at a real collector.
set -euo pipefail
cd "$(dirname "$0")/.."

# playwright-core never downloads a browser, but a stray "playwright" package
# would try: this machine can't fetch browsers, and we use Debian's.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if ! command -v node >/dev/null; then
	echo "e2e: node (>= 20) is required" >&2
	exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi
# Also when a package was added to the lockfile since the last install.
if [ ! -d e2e/node_modules ] || ! npm ls --prefix e2e --all >/dev/null 2>&1; then
	npm ci --prefix e2e --no-audit --no-fund
fi

# A shell glob rather than a directory: how "node --test DIR" searches
# changed between Node versions. --test-force-exit: a file whose tests have
# all ended exits even if a handle (a browser, a child process) was left
# open by a failed test, instead of holding the runner until it is killed;
# and the whole run is bounded, so a hang fails here with its output.
exec timeout --kill-after=30s "${SEZIM_E2E_TIMEOUT:-40m}" node --test --test-force-exit e2e/*.test.mjs
