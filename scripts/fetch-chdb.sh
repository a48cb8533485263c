#!/usr/bin/env bash
# Fetches libchdb.so (the embedded ClickHouse engine) from the npm registry
# into .cache/chdb/, once. Usage: scripts/fetch-chdb.sh [DIR]
set -euo pipefail
version="26.7.3-stable.1"
dir="${1:-.cache/chdb}"
lib="$dir/libchdb.so"
if [ -s "$lib" ]; then
  echo "libchdb: $lib is present"
  exit 0
fi
command -v npm >/dev/null || { echo "libchdb: npm is needed to fetch @chdb/lib-linux-x64-gnu" >&2; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "libchdb: fetching @chdb/lib-linux-x64-gnu@$version (about 180 MB) ..."
(cd "$tmp" && npm pack --silent "@chdb/lib-linux-x64-gnu@$version" >/dev/null)
tar -xzf "$tmp"/chdb-lib-linux-x64-gnu-*.tgz -C "$tmp" package/libchdb.so
mv "$tmp/package/libchdb.so" "$lib.part"
mv "$lib.part" "$lib"
echo "libchdb: installed $lib"
