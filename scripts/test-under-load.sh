#!/usr/bin/env bash
# Runs the Go suite with the race detector several times in a row while
# another CPU-bound process keeps the cores busy: a test that depends on
# how fast the machine is, or a race that shows once in four runs, fails
# here before it fails CI at random.
#
#   scripts/test-under-load.sh            # 3 runs, 1 busy process
#   SEZIM_RUNS=5 SEZIM_LOAD_PROCS=2 scripts/test-under-load.sh [go test args, e.g. ./collector/...]
#
# It sets up what the tests need like scripts/test.sh (scripts/test-env.sh)
# and stops the busy processes and the test server when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${SEZIM_RUNS:-3}
procs=${SEZIM_LOAD_PROCS:-1}
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

. scripts/test-env.sh

# The busy processes: plain shell loops, each bounded to 2 hours and
# killed when this script exits.
for i in $(seq 1 "$procs"); do
  timeout 7200 sh -c 'while :; do :; done' &
  at_exit "kill $! 2>/dev/null"
done
echo "== $procs busy process(es) started on $(nproc) cores"

for run in $(seq 1 "$runs"); do
  echo "== run $run of $runs: go test -race -count=1 ${pkgs[*]}"
  began=$(date +%s)
  if ! go test -race -count=1 -timeout 45m "${pkgs[@]}"; then
    echo "== run $run of $runs FAILED under load"
    exit 1
  fi
  echo "== run $run of $runs passed in $(( $(date +%s) - began )) s"
done
echo "== $runs of $runs runs passed under load"
