-- Shared links (dashboards/staff/share.go): one site's dashboard, read
-- only, for someone without an account, at /share/<token>. Only the
-- SHA-256 of the link's token is kept (256 random bits, so a fast hash is
-- enough, as for API tokens), and the optional password as an argon2id
-- hash. One row per change; the newest version wins (read FINAL): a
-- revocation is a newer row with revoked = 1.
-- Retention: while the link exists (newest version read)
-- Tier: staff
CREATE TABLE IF NOT EXISTS {{.Staff}}.share_links{{.OnCluster}} (
    id String, -- link id, shown to staff to list and revoke it
    token_hash String, -- SHA-256 of the link's token
    site String, -- the one site the link shows
    label String, -- what the link is for, as its maker wrote it
    created_by String, -- staff account that made it
    created DateTime('UTC'), -- creation time
    password String, -- argon2id hash (PHC string) of its password, or empty for none
    revoked UInt8, -- link revoked
    revoked_by String, -- staff account that revoked it
    version UInt64 -- newest version wins
) ENGINE = {{engine "ReplacingMergeTree" (printf "%s.share_links" .Staff) "version"}}
ORDER BY id;
