-- Published hourly cells of final days (pipeline/rollup/published.go):
-- the hourly chart of a protective-mode site reads each final day's hours
-- already published, from rows ordered by dimension and value, instead of
-- publishing them again from agg_hourly, whose rows are ordered by hour:
-- there a month's chart of the site's total reads every dimension's rows of
-- those hours FINAL (at 10 M events over 90 days agg_hourly holds 4.3 M
-- rows, so a third of them for 30 days). Each day's
-- rows belong to its day block of agg_published_blocks (level 0, same gen).
-- Numbers per dimension and value only, already perturbed: nothing here is
-- about a visitor.
-- Retention: as agg_hourly (agg_hourly_days; the rollup's Retention
-- deletes both)
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_hourly_published{{.OnCluster}} (
    site String, -- site id
    day Date, -- the site-local day the hour is in (its day block)
    gen UInt64, -- the build that wrote the row; agg_published_blocks names the current one
    hour DateTime('UTC'), -- start of the hour in the site time zone, as in agg_hourly
    dim String, -- dimension ('' for the site's totals)
    value String, -- dimension value
    visitors UInt64, -- published visitors
    visits UInt64, -- published visits
    pageviews UInt64, -- published pageviews
    bounces UInt64, -- published bounces
    duration UInt64, -- published seconds of visits
    events UInt64 -- published custom events
) ENGINE = {{engine "MergeTree" "agg_hourly_published"}}
PARTITION BY toYYYYMM(day)
ORDER BY (site, dim, value, day, gen, hour);

-- Day blocks built before this table existed have no hourly rows: each is
-- recorded stale once, and the next build (the retention job's Publish)
-- writes it again with its hours. Until then those days are published at
-- read time, as before.
INSERT INTO {{.Stats}}.agg_published_blocks (site, level, day, gen, valid, version)
SELECT site, level, day, gen, 0, version + 1 FROM {{.Stats}}.agg_published_blocks FINAL WHERE valid = 1;
