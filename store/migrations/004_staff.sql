-- Staff accounts, API tokens and the audit log of staff sign-ins. They sit in
-- the identified database: the dashboards read sezim_stats for numbers and
-- reach these tables only through the dashboards/ auth code, and nothing
-- about staff ever enters sezim_stats.

-- One row per change of an account; the newest version wins (read FINAL).
-- password is a PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
-- role is viewer, privacy or admin; sites are the granted site ids, comma-separated (an
-- admin sees every site whatever the list says).
CREATE TABLE IF NOT EXISTS {{.Identified}}.staff_users{{.OnCluster}} (
    name String,
    role String,
    sites String,
    password String,
    disabled UInt8,
    updated_at DateTime('UTC'),
    version UInt64
) ENGINE = {{engine "ReplacingMergeTree" (printf "%s.staff_users" .Identified) "version"}}
ORDER BY name;

-- API tokens for the stats API. Only the SHA-256 of a token is kept (tokens
-- are 256 random bits, so a fast hash is enough); the token acts as its
-- user with at most its own role.
CREATE TABLE IF NOT EXISTS {{.Identified}}.staff_tokens{{.OnCluster}} (
    id String,
    hash String,
    user String,
    role String,
    label String,
    created_at DateTime('UTC'),
    revoked UInt8,
    version UInt64
) ENGINE = {{engine "ReplacingMergeTree" (printf "%s.staff_tokens" .Identified) "version"}}
ORDER BY id;

-- Append-only: every sign-in, sign-out, failed attempt and account change.
-- client is the staff member's network (IPv4 /24, IPv6 /48), never the
-- full address.
CREATE TABLE IF NOT EXISTS {{.Identified}}.audit_log{{.OnCluster}} (
    ts DateTime('UTC'),
    actor String,
    action String,
    target String,
    outcome String,
    client String,
    detail String
) ENGINE = {{engine "MergeTree" (printf "%s.audit_log" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY ts;
