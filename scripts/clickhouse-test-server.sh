#!/usr/bin/env bash
# Starts and stops a throwaway ClickHouse server for the store tests.
#
#   scripts/clickhouse-test-server.sh start DIR PORT [USERS_D]
#   scripts/clickhouse-test-server.sh stop DIR
#   scripts/clickhouse-test-server.sh install   # the Debian package, if missing
#
# USERS_D, a folder of users.d/*.xml files (e.g. deploy/clickhouse/users.d),
# is added to the stock users.xml, whose passwordless "default" user stays.
# SEZIM_CH_CONFIG_D, a folder of config.d/*.xml files, is added to the stock
# config.xml the same way (scripts/clickhouse-test-cluster.sh gives each of
# its servers the cluster's remote_servers so).
#
# The server runs as a plain background process (no service manager) with its
# own data folder, logs and ports, so it never collides with a default
# instance or with another test server. Then:
#
#   SEZIM_TEST_CLICKHOUSE=clickhouse://default:@127.0.0.1:PORT/ go test ./store/...
#
# Ports used: PORT (native), PORT-1000 (HTTP), PORT+9 (interserver HTTP).
set -euo pipefail

usage() {
	echo "usage: $0 start DIR PORT [USERS_D] | stop DIR | install" >&2
	exit 2
}

ensure_installed() {
	if command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null; then
		return
	fi
	echo "clickhouse-server not found; installing Debian's package" >&2
	local sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		clickhouse-server clickhouse-client
}

start() {
	local dir=$1 port=$2 usersd=${3:-}
	case $port in '' | *[!0-9]*) usage ;; esac
	ensure_installed
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	local pidfile=$dir/clickhouse.pid
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		echo "clickhouse already running in $dir (pid $(cat "$pidfile"))" >&2
		return 0
	fi
	mkdir -p "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
	local users=() config=/etc/clickhouse-server/config.xml
	if [ -n "$usersd" ] || [ -n "${SEZIM_CH_CONFIG_D:-}" ]; then
		# The server merges users.d/ and config.d/ found beside its
		# users.xml and config.xml.
		rm -rf "$dir/etc"
		mkdir -p "$dir/etc/users.d"
		cp /etc/clickhouse-server/users.xml "$dir/etc/users.xml"
		users=(--users_config="$dir/etc/users.xml")
	fi
	if [ -n "$usersd" ]; then
		cp "$usersd"/*.xml "$dir/etc/users.d/"
	fi
	if [ -n "${SEZIM_CH_CONFIG_D:-}" ]; then
		mkdir -p "$dir/etc/config.d"
		cp /etc/clickhouse-server/config.xml "$dir/etc/config.xml"
		cp "$SEZIM_CH_CONFIG_D"/*.xml "$dir/etc/config.d/"
		config=$dir/etc/config.xml
	fi
	# Every path and port the stock config points at is overridden, so the
	# instance neither reads /var/lib/clickhouse nor binds 8123/9000/9009.
	# 18.16 has no mysql_port/postgresql_port; https and the secure TCP port
	# are commented out in Debian's config.xml.
	clickhouse-server --config-file="$config" -- \
		--path="$dir/" \
		--tmp_path="$dir/tmp/" \
		--user_files_path="$dir/user_files/" \
		--format_schema_path="$dir/format_schemas/" \
		--logger.log="$dir/ch.log" \
		--logger.errorlog="$dir/ch.err" \
		--listen_host=127.0.0.1 \
		--tcp_port="$port" \
		--http_port="$((port - 1000))" \
		--interserver_http_port="$((port + 9))" \
		"${users[@]}" \
		>"$dir/stdout.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$pidfile"
	# Bounded wait: a server that does not answer in 60 s is broken, and
	# the log says why.
	local i
	for i in $(seq 1 120); do
		if clickhouse-client --host 127.0.0.1 --port "$port" -q 'SELECT 1' >/dev/null 2>&1; then
			echo "clickhouse ready on 127.0.0.1:$port (pid $pid, data $dir)"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "clickhouse exited; see $dir/ch.err and $dir/stdout.log" >&2
			tail -n 20 "$dir/ch.err" "$dir/stdout.log" >&2 || true
			rm -f "$pidfile"
			return 1
		fi
		sleep 0.5
	done
	echo "clickhouse did not answer on port $port within 60 s; stopping it" >&2
	tail -n 20 "$dir/ch.err" >&2 || true
	stop "$dir"
	return 1
}

stop() {
	local dir=$1
	local pidfile=$dir/clickhouse.pid
	if [ ! -f "$pidfile" ]; then
		echo "no pid file in $dir; nothing to stop" >&2
		return 0
	fi
	local pid
	pid=$(cat "$pidfile")
	if kill "$pid" 2>/dev/null; then
		local i
		for i in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "clickhouse (pid $pid) ignored SIGTERM for 30 s; killing it" >&2
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$pidfile"
	echo "clickhouse stopped (data left in $dir)"
}

case ${1:-} in
start)
	[ $# -eq 3 ] || [ $# -eq 4 ] || usage
	start "$2" "$3" "${4:-}"
	;;
stop)
	[ $# -eq 2 ] || usage
	stop "$2"
	;;
install)
	[ $# -eq 1 ] || usage
	ensure_installed
	;;
*) usage ;;
esac
