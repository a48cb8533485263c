-- The stats database: what the dashboards read. Nothing here identifies a
-- person once a day's salt is destroyed (see pipeline/rollup for why the
-- aggregates are plain numbers and not sketches).
CREATE DATABASE IF NOT EXISTS {{.Stats}}{{.OnCluster}};

CREATE DATABASE IF NOT EXISTS {{.Identified}}{{.OnCluster}};

-- Anonymous events, one row each, kept only while the salt that produced
-- `visitor` exists: the retention job drops partition salt_day once the salt
-- is destroyed (48 hours after it was made). No IP, no user agent, no query
-- string, no click id.
CREATE TABLE IF NOT EXISTS {{.Stats}}.events{{.OnCluster}} (
    salt_day Date,
    site String,
    ts DateTime('UTC'),
    visitor UInt64,
    kind UInt8,
    name String,
    path String,
    ref_host String,
    channel String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_content String,
    utm_term String,
    country String,
    region String,
    browser String,
    browser_version UInt16,
    os String,
    device String,
    screen String,
    language String
) ENGINE = {{engine "MergeTree" "events"}}
PARTITION BY salt_day
ORDER BY (site, visitor, ts);

-- Hourly aggregates. `hour` is the start of the hour in the site's time zone,
-- stored as its UTC instant. dim = '' and value = '' is the site total.
-- One row per (salt_day) so that a recomputation of one salt day replaces
-- only its own rows; queries add the salt days up.
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_hourly{{.OnCluster}} (
    site String,
    hour DateTime('UTC'),
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
) ENGINE = {{engine "ReplacingMergeTree" "agg_hourly" "version"}}
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, dim, value, salt_day);

-- Daily aggregates; `day` is the calendar day in the site's time zone.
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_daily{{.OnCluster}} (
    site String,
    day Date,
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
) ENGINE = {{engine "ReplacingMergeTree" "agg_daily" "version"}}
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, dim, value, salt_day);
