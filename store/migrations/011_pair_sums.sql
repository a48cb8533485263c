-- agg_pairs replaces agg_daily_pairs: the same cells (see 005_pairs.sql and
-- pipeline/rollup/pairs.go), stored as sums of changes instead of versions
-- of a row. An incremental rollup run adds what its new events change to a
-- cell without reading the cell first: reading millions of pair rows FINAL
-- to rewrite them was most of an incremental run. SummingMergeTree adds a
-- cell's rows up when it merges parts (and drops cells that add up to 0);
-- a read adds them up itself, so no read needs FINAL. A run that takes
-- numbers away (the day's last run, which folds small cells) writes
-- negative rows, hence signed columns, and then merges the month so that
-- a folded cell is gone from disk, not only from the sums.
-- Rendered before 005 has run on a fresh store: the conversion runs when
-- agg_pairs is missing, or when agg_daily_pairs is still there (a
-- conversion that stopped halfway starts again from the old table).
{{if or (not (hasColumn (printf "%s.agg_pairs" .Stats) "fdim")) (hasColumn (printf "%s.agg_daily_pairs" .Stats) "fdim")}}
DROP TABLE IF EXISTS {{.Stats}}.agg_pairs{{.OnCluster}};
-- Retention: agg_daily_days of the site config (retention job)
CREATE TABLE {{.Stats}}.agg_pairs{{.OnCluster}} (
    site String, -- site id from the site config
    day Date, -- calendar day in the site time zone
    fdim String, -- the filter dimension
    fvalue String, -- the filter value (a top value of the day)
    dim String, -- the breakdown dimension (page, country, ...); empty for the site total
    value String, -- the breakdown value; empty for the remainder of cells below k
    salt_day Date, -- the salt day the numbers were counted under
    visitors Int64, -- count of visitors (plain number)
    visits Int64, -- count of visits
    pageviews Int64, -- count of pageviews
    bounces Int64, -- count of single-page visits
    duration Int64, -- total visit seconds
    events Int64 -- count of custom events
) ENGINE = {{engine "SummingMergeTree" "agg_pairs"}}
PARTITION BY toYYYYMM(day)
ORDER BY (site, fdim, fvalue, dim, day, value, salt_day);
INSERT INTO {{.Stats}}.agg_pairs (site, day, fdim, fvalue, dim, value, salt_day, visitors, visits, pageviews, bounces, duration, events)
SELECT site, day, fdim, fvalue, dim, value, salt_day, toInt64(visitors), toInt64(visits), toInt64(pageviews), toInt64(bounces), toInt64(duration), toInt64(events)
FROM {{.Stats}}.agg_daily_pairs FINAL
WHERE (visitors + visits + pageviews + events) > 0;
DROP TABLE {{.Stats}}.agg_daily_pairs{{.OnCluster}};
{{end}}
