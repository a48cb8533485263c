-- batch_id on the consented per-event rows: consented events reach the
-- identified table through the write-ahead log, like the anonymous ones,
-- and each row carries the batch id of the insert it came from (the same
-- id as its event in the stats database: random hex, a date and a
-- counter, nothing about a visitor), so a replayed segment inserts only
-- what is missing. Rows written before this migration have "".
-- 18.16 has no ADD COLUMN IF NOT EXISTS: hasColumn keeps this idempotent.
-- batch_id: the WAL insert the row came from, so a replay inserts only what is missing
{{if not (hasColumn (printf "%s.events" .Identified) "batch_id")}}
ALTER TABLE {{.Identified}}.events{{.OnCluster}} ADD COLUMN batch_id String;
{{end}}
