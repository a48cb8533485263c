-- The staff tables move to a database of their own. The dashboards must
-- read and write them to sign staff in and to audit what staff do, and
-- ClickHouse 18.16's users.xml can grant only whole databases: while they
-- lived in the identified database, the dashboards' ClickHouse user could
-- also read the consented events and the consent log there. With them
-- here, that user is given the stats and staff databases and nothing else
-- (deploy/clickhouse/users.d/sezim.xml).
-- RENAME TABLE keeps every row (across databases on 18.16's Ordinary
-- engine and on the Atomic one of current versions). Rendered before
-- earlier migrations run on a fresh store, so a table is moved unless it
-- is already here (a rerun after a crash halfway).
CREATE DATABASE IF NOT EXISTS {{.Staff}}{{.OnCluster}};

{{if not (hasColumn (printf "%s.staff_users" .Staff) "name")}}
RENAME TABLE {{.Identified}}.staff_users TO {{.Staff}}.staff_users{{.OnCluster}};
{{end}}
{{if not (hasColumn (printf "%s.staff_tokens" .Staff) "id")}}
RENAME TABLE {{.Identified}}.staff_tokens TO {{.Staff}}.staff_tokens{{.OnCluster}};
{{end}}
{{if not (hasColumn (printf "%s.staff_sessions" .Staff) "token_hash")}}
RENAME TABLE {{.Identified}}.staff_sessions TO {{.Staff}}.staff_sessions{{.OnCluster}};
{{end}}
{{if not (hasColumn (printf "%s.audit_log" .Staff) "ts")}}
RENAME TABLE {{.Identified}}.audit_log TO {{.Staff}}.audit_log{{.OnCluster}};
{{end}}
