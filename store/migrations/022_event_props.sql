-- Custom event properties (sezim('signup', {plan: 'a'})): only the keys a
-- site lists under `properties`, each value scrubbed like every free-form
-- field (no e-mail, phone, token), cut to 100 characters and capped in
-- distinct values per key and day ("(other)" beyond the cap), so that a
-- property names a choice, never a person. Parallel arrays: 18.16 has no
-- Map. Rows written before this migration have none.
-- On a cluster the node's part (events_local) changes first, then the
-- Distributed table, whose columns are its own.
-- 18.16 has no ADD COLUMN IF NOT EXISTS: hasColumn keeps this idempotent.
{{if .Cluster}}
-- prop_keys: the event's property keys, from the site's list
{{if not (hasColumn (printf "%s.events_local" .Stats) "prop_keys")}}
ALTER TABLE {{.Stats}}.events_local{{.OnCluster}} ADD COLUMN prop_keys Array(String);
{{end}}
-- prop_values: the event's property values, scrubbed and bounded, in prop_keys order
{{if not (hasColumn (printf "%s.events_local" .Stats) "prop_values")}}
ALTER TABLE {{.Stats}}.events_local{{.OnCluster}} ADD COLUMN prop_values Array(String);
{{end}}
{{end}}
-- prop_keys: the event's property keys, from the site's list
{{if not (hasColumn (printf "%s.events" .Stats) "prop_keys")}}
ALTER TABLE {{.Stats}}.events{{.OnCluster}} ADD COLUMN prop_keys Array(String);
{{end}}
-- prop_values: the event's property values, scrubbed and bounded, in prop_keys order
{{if not (hasColumn (printf "%s.events" .Stats) "prop_values")}}
ALTER TABLE {{.Stats}}.events{{.OnCluster}} ADD COLUMN prop_values Array(String);
{{end}}
