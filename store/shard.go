package store

import (
	"context"
	"regexp"
	"slices"
	"strings"
)

// ShardedTables are the stats tables that a cluster splits across its
// shards (migration 019): each node holds its part as TABLE_local, and
// TABLE is a Distributed table over them. events is sharded by site and
// visitor hash, so one visitor's day lives on one shard; the aggregates
// are written by each shard's own rollup into its local table and read
// through the Distributed one, which adds the shards up. Every other table
// (the session-log ledger, rollup_state, staff, the identified database)
// is not sharded: rollup_state and agg_compacted belong to their node,
// the rest is reached on the node every collector names in --store.
var ShardedTables = append(slices.Clone(shardedBy019), "funnels")

// shardedBy019 are the tables migration 019 shards; a table created later
// is sharded by the migration that creates it (funnels: 020), so that 019
// never renames a table that does not exist yet.
var shardedBy019 = []string{"events", "agg_hourly", "agg_daily", "agg_pairs"}

// LocalSuffix names a sharded table's part on one node.
const LocalSuffix = "_local"

// shardLocal is a Store whose statements name the node's local parts of
// the sharded tables instead of their Distributed tables.
type shardLocal struct {
	Store
	re *regexp.Regexp
}

// ShardLocal returns s with every reference to a sharded stats table
// (DB.events, DB.agg_daily, …) turned into its local part (DB.events_local,
// …). It is how one shard's rollup and retention run unchanged against
// that shard's own rows: the rollup reads only this shard's visitors, who
// are whole here, and writes this shard's aggregates where the Distributed
// table finds them. s must be a connection to the shard's node itself.
// Compaction (rollup.Compact) lists the parts of the shared names in
// system.parts, where a shard's parts are under TABLE_local: on a shard it
// merges nothing, and the dashboards read every month FINAL, which is
// right on any layout.
func ShardLocal(s Store) Store {
	names := strings.Join(ShardedTables, "|")
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(s.DB().Stats) + `\.(` + names + `)\b`)
	return &shardLocal{Store: s, re: re}
}

func (l *shardLocal) local(q string) string {
	return l.re.ReplaceAllString(q, "${0}"+LocalSuffix)
}

// Exec implements Store.
func (l *shardLocal) Exec(ctx context.Context, query string) error {
	return l.Store.Exec(ctx, l.local(query))
}

// Query implements Store.
func (l *shardLocal) Query(ctx context.Context, query string, fn func(Row) error) error {
	return l.Store.Query(ctx, l.local(query), fn)
}

// Insert implements Store.
func (l *shardLocal) Insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	return l.Store.Insert(ctx, l.local(table), cols, rows)
}

// IsShardLocal reports whether s is a shard's local view (ShardLocal).
func IsShardLocal(s Store) bool {
	_, ok := s.(*shardLocal)
	return ok
}
