-- How many attempts one audit row stands for. Every row is one action (1),
-- except the row that sums the sign-in attempts a rate limit refused from
-- one client network in one window: a stranger's flood is one row with its
-- count, not one row per request.
-- 18.16 has no ADD COLUMN IF NOT EXISTS: hasColumn keeps this idempotent.
-- attempts: how many attempts the row stands for (1, or a refused flood summed)
{{if not (hasColumn (printf "%s.audit_log" .Identified) "attempts")}}
ALTER TABLE {{.Identified}}.audit_log{{.OnCluster}} ADD COLUMN attempts UInt32 DEFAULT 1;
{{end}}
