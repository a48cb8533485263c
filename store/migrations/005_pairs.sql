-- Pair aggregates: agg_daily's numbers over the visits that have one filter
-- value (fdim = fvalue), so that a filter cuts every other breakdown. Plain
-- counts only, written by the rollup for the top values of each filter
-- dimension per salt day, cells below the site's k folded into value ''
-- (see pipeline/rollup/pairs.go for what each number means and why).
-- The sorting key starts with the filter so that a filtered breakdown is
-- one range of the primary key; ReplacingMergeTree read FINAL, like
-- agg_daily.
-- Retention: agg_daily_days of the site config (replaced by agg_pairs in 011)
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_daily_pairs{{.OnCluster}} (
    site String, -- site id from the site config
    day Date, -- calendar day in the site time zone
    fdim String, -- the filter dimension
    fvalue String, -- the filter value (a top value of the day)
    dim String, -- the breakdown dimension (page, country, ...); empty for the site total
    value String, -- the breakdown value; empty for the remainder of cells below k
    salt_day Date, -- the salt day the numbers were counted under
    visitors UInt64, -- count of visitors (plain number)
    visits UInt64, -- count of visits
    pageviews UInt64, -- count of pageviews
    bounces UInt64, -- count of single-page visits
    duration UInt64, -- total visit seconds
    events UInt64, -- count of custom events
    version UInt64 -- the rollup run that wrote the row (newest wins)
) ENGINE = {{engine "ReplacingMergeTree" "agg_daily_pairs" "version"}}
PARTITION BY toYYYYMM(day)
ORDER BY (site, fdim, fvalue, dim, day, value, salt_day);
