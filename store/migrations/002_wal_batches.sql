-- batch_id names the insert a row came from: <WAL instance>-<segment
-- nonce>-<salt day>-<chunk>, random hex, a date and a counter, nothing about
-- a visitor. The shipper (pipeline/wal) looks it up when it replays a
-- segment after a crash, so a replay never inserts an event twice.
-- 18.16 has no ADD COLUMN IF NOT EXISTS: hasColumn keeps this idempotent.
-- batch_id: the WAL insert the row came from (instance, nonce, day, chunk), so a replay inserts nothing twice
{{if not (hasColumn "events" "batch_id")}}
ALTER TABLE {{.Stats}}.events{{.OnCluster}} ADD COLUMN batch_id String;
{{end}}
