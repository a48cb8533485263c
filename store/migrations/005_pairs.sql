-- Pair aggregates: agg_daily's numbers over the visits that have one filter
-- value (fdim = fvalue), so that a filter cuts every other breakdown. Plain
-- counts only, written by the rollup for the top values of each filter
-- dimension per salt day, cells below the site's k folded into value ''
-- (see pipeline/rollup/pairs.go for what each number means and why).
-- The sorting key starts with the filter so that a filtered breakdown is
-- one range of the primary key; ReplacingMergeTree read FINAL, like
-- agg_daily.
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_daily_pairs{{.OnCluster}} (
    site String,
    day Date,
    fdim String,
    fvalue String,
    dim String,
    value String,
    salt_day Date,
    visitors UInt64,
    visits UInt64,
    pageviews UInt64,
    bounces UInt64,
    duration UInt64,
    events UInt64,
    version UInt64
) ENGINE = {{engine "ReplacingMergeTree" "agg_daily_pairs" "version"}}
PARTITION BY toYYYYMM(day)
ORDER BY (site, fdim, fvalue, dim, day, value, salt_day);
