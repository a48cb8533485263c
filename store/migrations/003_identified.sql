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
-- Retention: consent_log_days of the site config
CREATE TABLE IF NOT EXISTS {{.Identified}}.consent_log{{.OnCluster}} (
    chain String, -- the collector instance chain id
    seq UInt64, -- position in the chain, from 1
    receipt String, -- the receipt id given to the visitor
    site String, -- site id
    ts DateTime('UTC'), -- server time of the decision
    action String, -- shown, accept_all, reject_all, custom or withdraw
    policy_version String, -- policy version decided on
    policy_hash String, -- SHA-256 of the policy text
    text_hash String, -- SHA-256 of the banner text shown
    lang String, -- banner language
    purposes_granted String, -- purposes granted
    purposes_denied String, -- purposes offered and denied
    services String, -- granted third-party services and their countries
    gpc UInt8, -- Sec-GPC header present
    dnt UInt8, -- DNT header present
    ip String, -- truncated IP (IPv4 /24, IPv6 /48) as proof of origin
    browser String, -- browser family
    prev_hash String, -- row_hash of the previous row
    row_hash String -- hash of the row content (tamper evidence)
) ENGINE = {{engine "MergeTree" (printf "%s.consent_log" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY (chain, seq);

-- Consented events: one row per event whose visitor's valid consent cookie
-- grants statistics, besides the anonymous aggregates. visitor_id is the
-- sezim_vid cookie; user_id is kept only when the site passed one and the
-- visitor granted the identified purpose.
-- Retention: identified_days of the site config
CREATE TABLE IF NOT EXISTS {{.Identified}}.events{{.OnCluster}} (
    site String, -- site id
    ts DateTime('UTC'), -- event time
    visitor_id String, -- pseudonymous visitor id (sezim_vid cookie)
    user_id String, -- account id, only with the identified purpose granted
    ip String, -- truncated IP (IPv4 /24, IPv6 /48)
    kind UInt8, -- pageview or custom event
    name String, -- custom event name, scrubbed
    path String, -- page path without query string, scrubbed
    ref_host String, -- referrer host
    browser String, -- browser family
    os String, -- OS family
    device String, -- device class
    country String -- country from the geo lookup
) ENGINE = {{engine "MergeTree" (printf "%s.events" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY (site, visitor_id, ts);
