-- Dashboards sign-in sessions, shared by every dashboards node (see
-- dashboards/session.go), so that any node serves any signed-in user and a
-- restart signs no one out. token_hash is the SHA-256 of the cookie's
-- random 256-bit token, never the token; user is the staff account. A new
-- version of the row marks the time of last use (at most every few
-- minutes) or the end of the session (ended = 1); read FINAL. Partitions
-- are days of sign-in (YYYYMMDD): serve drops those older than any session
-- can live (12 hours, plus a day).
-- Retention: 12 hours at most; days of sign-in older than a day and a half are dropped by serve
-- Tier: staff
CREATE TABLE IF NOT EXISTS {{.Identified}}.staff_sessions{{.OnCluster}} (
    token_hash String, -- SHA-256 of the session cookie
    user String, -- staff account
    created DateTime('UTC'), -- sign-in time
    last_seen DateTime('UTC'), -- time of last use (minutes precision)
    ended UInt8, -- signed out
    version UInt64 -- newest version wins
) ENGINE = {{engine "ReplacingMergeTree" (printf "%s.staff_sessions" .Identified) "version"}}
PARTITION BY toYYYYMMDD(created)
ORDER BY token_hash;
