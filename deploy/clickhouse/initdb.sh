#!/bin/bash
# Creates Sezim's ClickHouse users (roles.sql) at the first start of the
# official ClickHouse image, which runs /docker-entrypoint-initdb.d/*.sh
# with the administrator in CLICKHOUSE_USER and CLICKHOUSE_PASSWORD. Each
# password comes from the environment; a missing one stops the start.
set -euo pipefail
dir=$(dirname "${BASH_SOURCE[0]}")
sql=$(cat "${SEZIM_ROLES_SQL:-$dir/roles.sql}")
for role in ADMIN COLLECTOR DASHBOARDS PRIVACY; do
	var=SEZIM_CH_${role}_PASSWORD
	pw=${!var:?set $var}
	# A quote or backslash in a password would end the SQL string early.
	# (Quoted replacements: bash 5.2 gives & and \ a meaning in bare ones.)
	pw=${pw//'\'/'\\'}
	pw=${pw//"'"/"\\'"}
	sql=${sql//"@${role}_PASSWORD@"/"$pw"}
done
clickhouse-client --host 127.0.0.1 --user "${CLICKHOUSE_USER:-default}" --password "${CLICKHOUSE_PASSWORD:-}" --multiquery <<<"$sql"
