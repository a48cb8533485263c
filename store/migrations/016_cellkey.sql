-- Cell keys for disclosure control (pipeline/rollup/perturb.go): ckey is
-- the sum of the record keys of the visitors a cell counts, each a number
-- in [0, 2^32) derived from the salted visitor hash. It adds up like
-- visitors, so the incremental rollup writes it by the same stored +
-- after − before rule; the dashboards publish a cell's numbers perturbed
-- by a lookup of (count, ckey mod 2^32). A key is not a visitor: once the
-- salt day's events are dropped nothing links it back to one. Rows written
-- before this migration read 0 until their salt day is recomputed.
-- 18.16 has no ADD COLUMN IF NOT EXISTS: hasColumn keeps this idempotent.
-- ckey: sum of the cell's visitors' record keys (fixes its published noise)
{{if not (hasColumn (printf "%s.agg_hourly" .Stats) "ckey")}}
ALTER TABLE {{.Stats}}.agg_hourly{{.OnCluster}} ADD COLUMN ckey UInt64 DEFAULT 0;
{{end}}
-- ckey: sum of the cell's visitors' record keys (fixes its published noise)
{{if not (hasColumn (printf "%s.agg_daily" .Stats) "ckey")}}
ALTER TABLE {{.Stats}}.agg_daily{{.OnCluster}} ADD COLUMN ckey UInt64 DEFAULT 0;
{{end}}
-- ckey: sum of the cell's visitors' record keys (fixes its published noise)
{{if not (hasColumn (printf "%s.agg_pairs" .Stats) "ckey")}}
ALTER TABLE {{.Stats}}.agg_pairs{{.OnCluster}} ADD COLUMN ckey Int64 DEFAULT 0;
{{end}}
