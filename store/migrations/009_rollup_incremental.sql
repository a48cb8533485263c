-- Incremental rollups (pipeline/rollup/incremental.go).
--
-- inserted: when the row was written, stamped by the writer (the WAL
-- shipper, the direct import). A rollup run covers the events inserted
-- before its cut and, on the next run, reads only the visitors with events
-- inserted since. It is a write time, not an event time: a late event (an
-- import, a replay after an outage) is new to the rollup whatever its ts.
-- Rows written before this migration read 1970-01-01: older than every cut,
-- so only a full recomputation counts them, and the first run after the
-- upgrade is one.
-- 18.16 has no ADD COLUMN IF NOT EXISTS: hasColumn keeps this idempotent.
{{if not (hasColumn (printf "%s.events" .Stats) "inserted")}}
ALTER TABLE {{.Stats}}.events{{.OnCluster}} ADD COLUMN inserted DateTime('UTC') DEFAULT toDateTime(0);
{{end}}

-- What the aggregates of one site and salt day include: the events
-- inserted before cut, `events` of them, written by the run whose rows
-- carry `version`. The next run continues from here only when the count
-- still holds (nothing arrived below the cut since) and the version is its
-- own (no other process rewrote the day in between); otherwise it
-- recomputes the whole day. Nothing here is about a visitor.
-- Retention: kept (a row per site and salt day, no visitor data)
CREATE TABLE IF NOT EXISTS {{.Stats}}.rollup_state{{.OnCluster}} (
    site String, -- site id
    salt_day Date, -- the salt day rolled up
    cut DateTime('UTC'), -- events inserted before this are counted
    events UInt64, -- how many events that is
    version UInt64 -- the run that wrote it
) ENGINE = {{engine "ReplacingMergeTree" "rollup_state" "version"}}
ORDER BY (site, salt_day);
