-- Sharding on a cluster (--cluster NAME; nothing happens on a single node).
-- Each sharded table (store.ShardedTables) is renamed to TABLE_local, the
-- node's own part, and TABLE becomes a Distributed table over the parts of
-- every shard, so writers and readers keep using TABLE. events is sharded
-- by cityHash64(site, visitor): visitor is the daily hash, so one visitor's
-- events of a day land on one shard and a visit never spans shards. Each
-- shard's rollup (serve --store-shard) reads its events_local and writes
-- its own numbers into the aggregates' local parts; those Distributed
-- tables have no sharding key, so a write through them fails instead of
-- scattering one shard's rows over the others, and a read adds the shards
-- up, which is exact because no visitor is counted on two shards.
-- A later migration that changes a sharded table changes TABLE_local and
-- then TABLE (a Distributed table's columns are its own).
-- Rendered before earlier migrations run on a fresh store: the rename is
-- skipped only when the local part already exists (a rerun).
{{if .Cluster}}{{$s := .}}{{range sharded}}
{{if not (hasColumn (printf "%s.%s_local" $s.Stats .) "site")}}
RENAME TABLE {{$s.Stats}}.{{.}} TO {{$s.Stats}}.{{.}}_local{{$s.OnCluster}};
{{end}}
CREATE TABLE IF NOT EXISTS {{$s.Stats}}.{{.}}{{$s.OnCluster}} AS {{$s.Stats}}.{{.}}_local
ENGINE = Distributed({{$s.Cluster}}, {{$s.Stats}}, {{.}}_local{{if eq . "events"}}, cityHash64(site, visitor){{end}});
{{end}}{{end}}
