-- The stats database: what the dashboards read. Nothing here identifies a
-- person once a day's salt is destroyed (see pipeline/rollup for why the
-- aggregates are plain numbers and not sketches).
CREATE DATABASE IF NOT EXISTS {{.Stats}}{{.OnCluster}};

CREATE DATABASE IF NOT EXISTS {{.Identified}}{{.OnCluster}};

-- Anonymous events, one row each, kept only while the salt that produced
-- `visitor` exists: the retention job drops partition salt_day once the salt
-- is destroyed (48 hours after it was made). No IP, no user agent, no query
-- string, no click id.
-- Retention: 48 hours from the start of its salt day: the retention job drops partition salt_day with the salt
CREATE TABLE IF NOT EXISTS {{.Stats}}.events{{.OnCluster}} (
    salt_day Date, -- UTC day whose salt made visitor (the partition dropped with it)
    site String, -- site id from the site config
    ts DateTime('UTC'), -- event time
    visitor UInt64, -- daily visitor hash: SipHash(salt of the day, site, truncated IP, user agent)
    kind UInt8, -- pageview or custom event
    name String, -- custom event name, scrubbed
    path String, -- page path without query string, scrubbed
    ref_host String, -- referrer host
    channel String, -- referrer channel (search, social, ...)
    utm_source String, -- UTM source, scrubbed
    utm_medium String, -- UTM medium, scrubbed
    utm_campaign String, -- UTM campaign, scrubbed
    utm_content String, -- UTM content, scrubbed
    utm_term String, -- UTM term, scrubbed
    country String, -- country from the geo lookup
    region String, -- region from the geo lookup (optional)
    browser String, -- browser family
    browser_version UInt16, -- browser major version
    os String, -- OS family
    device String, -- device class
    screen String, -- screen class
    language String -- browser language
) ENGINE = {{engine "MergeTree" "events"}}
PARTITION BY salt_day
ORDER BY (site, visitor, ts);

-- Hourly aggregates. `hour` is the start of the hour in the site's time zone,
-- stored as its UTC instant. dim = '' and value = '' is the site total.
-- One row per (salt_day) so that a recomputation of one salt day replaces
-- only its own rows; queries add the salt days up.
-- Retention: agg_hourly_days of the site config (retention job)
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_hourly{{.OnCluster}} (
    site String, -- site id from the site config
    hour DateTime('UTC'), -- start of the hour in the site time zone
    dim String, -- the breakdown dimension (page, country, ...); empty for the site total
    value String, -- the dimension value, scrubbed at ingest; empty for the total
    salt_day Date, -- the salt day the numbers were counted under
    visitors UInt64, -- count of visitors (plain number)
    visits UInt64, -- count of visits
    pageviews UInt64, -- count of pageviews
    bounces UInt64, -- count of single-page visits
    duration UInt64, -- total visit seconds
    events UInt64, -- count of custom events
    version UInt64 -- the rollup run that wrote the row (newest wins)
) ENGINE = {{engine "ReplacingMergeTree" "agg_hourly" "version"}}
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, dim, value, salt_day);

-- Daily aggregates; `day` is the calendar day in the site's time zone.
-- Retention: agg_daily_days of the site config (retention job)
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_daily{{.OnCluster}} (
    site String, -- site id from the site config
    day Date, -- calendar day in the site time zone
    dim String, -- the breakdown dimension (page, country, ...); empty for the site total
    value String, -- the dimension value, scrubbed at ingest; empty for the total
    salt_day Date, -- the salt day the numbers were counted under
    visitors UInt64, -- count of visitors (plain number)
    visits UInt64, -- count of visits
    pageviews UInt64, -- count of pageviews
    bounces UInt64, -- count of single-page visits
    duration UInt64, -- total visit seconds
    events UInt64, -- count of custom events
    version UInt64 -- the rollup run that wrote the row (newest wins)
) ENGINE = {{engine "ReplacingMergeTree" "agg_daily" "version"}}
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, dim, value, salt_day);
