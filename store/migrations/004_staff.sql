-- Staff accounts, API tokens and the audit log of staff sign-ins. They sit in
-- the identified database: the dashboards read sezim_stats for numbers and
-- reach these tables only through the dashboards/ auth code, and nothing
-- about staff ever enters sezim_stats.

-- One row per change of an account; the newest version wins (read FINAL).
-- password is a PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
-- role is viewer, privacy or admin; sites are the granted site ids, comma-separated (an
-- admin sees every site whatever the list says).
-- Retention: while the account exists (newest version read)
-- Tier: staff
CREATE TABLE IF NOT EXISTS {{.Identified}}.staff_users{{.OnCluster}} (
    name String, -- staff account name
    role String, -- viewer, privacy or admin
    sites String, -- granted site ids
    password String, -- argon2id hash (PHC string)
    disabled UInt8, -- account disabled
    updated_at DateTime('UTC'), -- time of the change
    version UInt64 -- newest version wins
) ENGINE = {{engine "ReplacingMergeTree" (printf "%s.staff_users" .Identified) "version"}}
ORDER BY name;

-- API tokens for the stats API. Only the SHA-256 of a token is kept (tokens
-- are 256 random bits, so a fast hash is enough); the token acts as its
-- user with at most its own role.
-- Retention: while the account exists (newest version read)
-- Tier: staff
CREATE TABLE IF NOT EXISTS {{.Identified}}.staff_tokens{{.OnCluster}} (
    id String, -- token id
    hash String, -- SHA-256 of the token
    user String, -- owning staff account
    role String, -- most the token may do
    label String, -- what the token is for
    created_at DateTime('UTC'), -- creation time
    revoked UInt8, -- token revoked
    version UInt64 -- newest version wins
) ENGINE = {{engine "ReplacingMergeTree" (printf "%s.staff_tokens" .Identified) "version"}}
ORDER BY id;

-- Append-only: every sign-in, sign-out, failed attempt and account change.
-- client is the staff member's network (IPv4 /24, IPv6 /48), never the
-- full address.
-- Retention: kept (append-only evidence of staff actions)
-- Tier: staff
CREATE TABLE IF NOT EXISTS {{.Identified}}.audit_log{{.OnCluster}} (
    ts DateTime('UTC'), -- time of the action
    actor String, -- staff account or cli:<os user>
    action String, -- what was done
    target String, -- what it was done to
    outcome String, -- ok or a fixed reason
    client String, -- staff network (IPv4 /24, IPv6 /48)
    detail String -- short fixed detail
) ENGINE = {{engine "MergeTree" (printf "%s.audit_log" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY ts;
