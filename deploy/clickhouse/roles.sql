-- Sezim's ClickHouse users, for servers with SQL users and GRANT (20.x and
-- later, compose runs it through initdb.sh). Run it as an administrator
-- after replacing each @…_PASSWORD@ (initdb.sh does that from the
-- environment). Grants name tables that migrations create later: ClickHouse
-- keeps a grant whether or not its table exists yet.
--
-- The same split as users.d/sezim.xml (for 18.16), made per table and per
-- column, which 18.16 cannot do:
--   sezim_admin       migrations, rollup, retention, compaction (owner)
--   sezim_collector   inserts what it collects, reads back only batch ids,
--                     the session-log batch ledger and the consent chain's head
--   sezim_dashboards  reads sezim_stats, writes its goals table, reads and
--                     writes the staff tables of sezim_staff, refused on all
--                     of sezim_identified
--   sezim_privacy     reads everything, erases in sezim_identified

CREATE USER IF NOT EXISTS sezim_admin IDENTIFIED WITH sha256_password BY '@ADMIN_PASSWORD@';
GRANT ALL ON sezim_stats.* TO sezim_admin;
GRANT ALL ON sezim_identified.* TO sezim_admin;
GRANT ALL ON sezim_staff.* TO sezim_admin;
-- The migration table, scratch tables and partitions are found through these.
GRANT SELECT ON system.tables TO sezim_admin;
GRANT SELECT ON system.columns TO sezim_admin;
GRANT SELECT ON system.parts TO sezim_admin;

CREATE USER IF NOT EXISTS sezim_collector IDENTIFIED WITH sha256_password BY '@COLLECTOR_PASSWORD@';
-- The write-ahead log's shipper (pipeline/wal) and, on a replay, which of
-- a segment's batches are already in: batch_id and the partition key only.
GRANT INSERT ON sezim_stats.events TO sezim_collector;
GRANT SELECT(batch_id, salt_day) ON sezim_stats.events TO sezim_collector;
-- With --cluster, events is a Distributed table over events_local on each
-- shard, and the shards check the sender's rights on the local table too.
GRANT INSERT ON sezim_stats.events_local TO sezim_collector;
GRANT SELECT(batch_id, salt_day) ON sezim_stats.events_local TO sezim_collector;
GRANT INSERT ON sezim_identified.events TO sezim_collector;
GRANT SELECT(batch_id, ts) ON sezim_identified.events TO sezim_collector;
-- The session-log batch ledger (sessionlog): its own bookkeeping, nothing
-- about visitors. Its old days are dropped by sezim_admin.
GRANT INSERT, SELECT ON sezim_stats.ingest_batches TO sezim_collector;
-- The consent log's journal shipper, and the chain's head at start.
GRANT INSERT ON sezim_identified.consent_log TO sezim_collector;
GRANT SELECT(chain, seq, row_hash) ON sezim_identified.consent_log TO sezim_collector;

CREATE USER IF NOT EXISTS sezim_dashboards IDENTIFIED WITH sha256_password BY '@DASHBOARDS_PASSWORD@';
GRANT SELECT ON sezim_stats.* TO sezim_dashboards;
-- The goals an admin makes in the dashboards (configuration, no visitor data).
GRANT INSERT ON sezim_stats.goals TO sezim_dashboards;
GRANT SELECT, INSERT ON sezim_staff.staff_users TO sezim_dashboards;
GRANT SELECT, INSERT ON sezim_staff.staff_tokens TO sezim_dashboards;
GRANT SELECT, INSERT ON sezim_staff.audit_log TO sezim_dashboards;
GRANT SELECT, INSERT ON sezim_staff.staff_sessions TO sezim_dashboards;
GRANT SELECT, INSERT ON sezim_staff.share_links TO sezim_dashboards;

CREATE USER IF NOT EXISTS sezim_privacy IDENTIFIED WITH sha256_password BY '@PRIVACY_PASSWORD@';
GRANT SELECT ON sezim_stats.* TO sezim_privacy;
GRANT SELECT, INSERT, ALTER DELETE ON sezim_identified.* TO sezim_privacy;
-- The console's audit log view (and its export), and the audit rows of
-- the requests it answers.
GRANT SELECT, INSERT ON sezim_staff.audit_log TO sezim_privacy;
GRANT SELECT ON system.tables TO sezim_privacy;
GRANT SELECT ON system.columns TO sezim_privacy;
