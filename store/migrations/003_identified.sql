-- The identified database's consent tables: the consent log (proof of every
-- decision) and the consented per-event rows. Dashboards never read them;
-- the privacy console and data-subject requests do. Lists are stored as
-- comma-separated strings (Insert takes scalars, and 18.16 and 26.x agree
-- on String).

-- Append-only: one row per decision (banner shown, accept all, reject all,
-- custom, withdraw). Each collector instance appends to its own hash chain
-- (chain, seq from 1, prev_hash = the previous row's row_hash, "" for
-- seq 1); row_hash is SHA-256 over a canonical encoding of every other
-- column (consent/consentlog), so an altered, removed or inserted row
-- breaks the chain. `services` holds "id:COUNTRY" pairs; ip is truncated
-- (IPv4 /24, IPv6 /48).
CREATE TABLE IF NOT EXISTS {{.Identified}}.consent_log{{.OnCluster}} (
    chain String,
    seq UInt64,
    receipt String,
    site String,
    ts DateTime('UTC'),
    action String,
    policy_version String,
    policy_hash String,
    text_hash String,
    lang String,
    purposes_granted String,
    purposes_denied String,
    services String,
    gpc UInt8,
    dnt UInt8,
    ip String,
    browser String,
    prev_hash String,
    row_hash String
) ENGINE = {{engine "MergeTree" (printf "%s.consent_log" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY (chain, seq);

-- Consented events: one row per event whose visitor's valid consent cookie
-- grants statistics, besides the anonymous aggregates. visitor_id is the
-- sezim_vid cookie; user_id is kept only when the site passed one and the
-- visitor granted the identified purpose.
CREATE TABLE IF NOT EXISTS {{.Identified}}.events{{.OnCluster}} (
    site String,
    ts DateTime('UTC'),
    visitor_id String,
    user_id String,
    ip String,
    kind UInt8,
    name String,
    path String,
    ref_host String,
    browser String,
    os String,
    device String,
    country String
) ENGINE = {{engine "MergeTree" (printf "%s.events" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY (site, visitor_id, ts);
