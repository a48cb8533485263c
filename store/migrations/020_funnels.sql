-- On a cluster the table is made once: a rerun after the rename below
-- must not make a second one under the Distributed table's name.
{{if not (and .Cluster (hasColumn (printf "%s.funnels_local" .Stats) "site"))}}
-- Funnels (pipeline/rollup/funnels.go): per site-local day and funnel of
-- the site config, how many visits reached each step, that is went through
-- steps 1 to step in order within one visit (30-minute gaps end a visit),
-- counted on the day the visit started. Plain counts, one row per key and
-- salt day like agg_daily, rewritten by the same runs (ReplacingMergeTree
-- read FINAL, added up over salt days): no row per visitor or per visit.
-- Retention: agg_daily_days of the site config (retention job)
CREATE TABLE IF NOT EXISTS {{.Stats}}.funnels{{.OnCluster}} (
    site String, -- site id from the site config
    day Date, -- calendar day in the site time zone on which the visits started
    funnel String, -- the funnel's name from the site config
    step UInt8, -- the step's number, from 1
    salt_day Date, -- the salt day the numbers were counted under
    visitors UInt64, -- count of visitors with a visit that reached the step (plain number)
    visits UInt64, -- count of visits that reached the step
    ckey UInt64, -- sum of the counted visitors' record keys (fixes the cell's published noise)
    version UInt64 -- the rollup run that wrote the row (newest wins)
) ENGINE = {{engine "ReplacingMergeTree" "funnels" "version"}}
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, funnel, step, salt_day);
{{end}}
-- On a cluster the table is sharded like agg_daily (migration 019): each
-- shard's rollup writes its visitors' counts into funnels_local, and
-- funnels adds the shards up. ({{$.Stats}}: the schema inventory lists
-- the table once, from the CREATE above.)
{{if .Cluster}}
{{if not (hasColumn (printf "%s.funnels_local" .Stats) "site")}}
RENAME TABLE {{.Stats}}.funnels TO {{.Stats}}.funnels_local{{.OnCluster}};
{{end}}
CREATE TABLE IF NOT EXISTS {{$.Stats}}.funnels{{$.OnCluster}} AS {{$.Stats}}.funnels_local
ENGINE = Distributed({{.Cluster}}, {{.Stats}}, funnels_local);
{{end}}
