-- Published sums of final days (pipeline/rollup/published.go): in a site's
-- protective mode every answer is a sum of published day cells, and once
-- a day can no longer change (its salt days are all finished) its
-- published cells never change either. They are written once, for the day
-- (level 0) and summed over aligned blocks of 2^level days, so that a
-- breakdown over 90 days adds up a dozen blocks instead of publishing
-- every day's cells again. Numbers per dimension and value only, already
-- perturbed: nothing here is about a visitor.
-- Retention: as agg_daily (agg_daily_days; the rollup's Retention deletes
-- both and marks the blocks it cuts for rebuilding)
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_published{{.OnCluster}} (
    site String, -- site id
    level UInt8, -- the block holds 2^level days
    day Date, -- its first site-local day (days since 1970 a multiple of 2^level)
    gen UInt64, -- the build that wrote the row; agg_published_blocks names the current one
    dim String, -- dimension ('' for the site's totals)
    value String, -- dimension value ('' in whole rows)
    whole UInt8, -- 1: the sum of the dimension's whole-breakdown cells, 0: of one value's cells, 2: the value's days without pair rows
    visitors UInt64, -- published visitors, summed over the block's days (whole = 2: days on which the value had published numbers but no pair rows)
    visits UInt64, -- published visits
    pageviews UInt64, -- published pageviews
    bounces UInt64, -- published bounces
    duration UInt64, -- published seconds of visits
    events UInt64 -- published custom events
) ENGINE = {{engine "MergeTree" "agg_published"}}
PARTITION BY toYYYYMM(day)
ORDER BY (site, dim, level, day, gen, whole, value);

-- The same for agg_pairs' cells (filtered breakdowns): a value whose
-- day cell is published with no visitor is folded into the remainder ''
-- before the sum, as the dashboards fold it when they publish at read time.
-- Retention: as agg_daily (agg_daily_days)
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_pairs_published{{.OnCluster}} (
    site String, -- site id
    level UInt8, -- the block holds 2^level days
    day Date, -- its first site-local day
    gen UInt64, -- the build that wrote the row
    fdim String, -- the filter dimension
    fvalue String, -- the filter value
    dim String, -- the breakdown dimension
    value String, -- the breakdown value ('' in whole rows and for the remainder)
    whole UInt8, -- 1: the sum of the breakdown's whole cells, 0: of one value's cells
    visitors UInt64, -- published visitors, summed over the block's days
    visits UInt64, -- published visits
    pageviews UInt64, -- published pageviews
    bounces UInt64, -- published bounces
    duration UInt64, -- published seconds of visits
    events UInt64 -- published custom events
) ENGINE = {{engine "MergeTree" "agg_pairs_published"}}
PARTITION BY toYYYYMM(day)
ORDER BY (site, fdim, fvalue, dim, level, day, gen, whole, value);

-- Which block of agg_published (and agg_pairs_published) is current: valid = 1 with the gen of its
-- rows, valid = 0 once a late write or retention changed one of its days.
-- Retention: as agg_daily (days only, no numbers)
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_published_blocks{{.OnCluster}} (
    site String, -- site id
    level UInt8, -- the block holds 2^level days
    day Date, -- its first day
    gen UInt64, -- the build whose rows are current
    valid UInt8, -- 1 current, 0 to be rebuilt
    version UInt64 -- newest wins
) ENGINE = {{engine "ReplacingMergeTree" "agg_published_blocks" "version"}}
ORDER BY (site, level, day);
