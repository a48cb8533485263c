#!/usr/bin/env bash
# Starts and stops two throwaway ClickHouse servers as the two shards of a
# cluster named sezim_test (no replicas, so no Keeper), for the cluster test
# (cmd/sezim TestTwoShardCluster).
#
#   scripts/clickhouse-test-cluster.sh start DIR PORT1 PORT2
#   scripts/clickhouse-test-cluster.sh stop DIR
#
# Each server gets its own data folder (DIR/shard1, DIR/shard2) and ports
# (see clickhouse-test-server.sh). Then:
#
#   SEZIM_TEST_CLUSTER=sezim_test \
#   SEZIM_TEST_CLUSTER_SHARDS=clickhouse://default:@127.0.0.1:PORT1/,clickhouse://default:@127.0.0.1:PORT2/ \
#   go test -run TestTwoShardCluster ./cmd/sezim/
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() {
	echo "usage: $0 start DIR PORT1 PORT2 | stop DIR" >&2
	exit 2
}

case ${1:-} in
start)
	[ $# -eq 4 ] || usage
	dir=$2 p1=$3 p2=$4
	mkdir -p "$dir/config.d"
	cat >"$dir/config.d/sezim_cluster.xml" <<XML
<yandex>
    <remote_servers>
        <sezim_test>
            <shard><replica><host>127.0.0.1</host><port>$p1</port></replica></shard>
            <shard><replica><host>127.0.0.1</host><port>$p2</port></replica></shard>
        </sezim_test>
    </remote_servers>
</yandex>
XML
	SEZIM_CH_CONFIG_D="$dir/config.d" "$here/clickhouse-test-server.sh" start "$dir/shard1" "$p1"
	if ! SEZIM_CH_CONFIG_D="$dir/config.d" "$here/clickhouse-test-server.sh" start "$dir/shard2" "$p2"; then
		"$here/clickhouse-test-server.sh" stop "$dir/shard1"
		exit 1
	fi
	;;
stop)
	[ $# -eq 2 ] || usage
	"$here/clickhouse-test-server.sh" stop "$2/shard1"
	"$here/clickhouse-test-server.sh" stop "$2/shard2"
	;;
*) usage ;;
esac
