-- Data-subject requests (privacy/subject): the record of every request,
-- the blocks in force, and the link from a consent receipt to the visitor
-- id its decision set. All in the identified database: the dashboards
-- never read them, and nothing about staff enters sezim_stats.

-- Append-only: one row per request (export, block, unblock, erase), with
-- who asked, the legal reason given, the outcome and the rows it reached.
-- ref is a fingerprint of the subject reference (ref_kind:value, SHA-256,
-- 16 hex digits), not the visitor or user id itself, so the record of an
-- erasure does not keep what was erased; a later request for the same
-- subject has the same fingerprint.
-- Retention: subject_requests_days of the global retention config (retention job)
CREATE TABLE IF NOT EXISTS {{.Identified}}.subject_requests{{.OnCluster}} (
    id String, -- request id
    ts DateTime('UTC'), -- time of the request
    actor String, -- staff account or cli user who asked
    kind String, -- export, block, unblock or erase
    ref_kind String, -- receipt, visitor or user
    ref String, -- fingerprint of the subject reference (not the id)
    site String, -- site of the request
    reason String, -- legal reason given
    outcome String, -- ok, or why it failed
    rows UInt64, -- rows reached
    detail String -- what was done, in counts
) ENGINE = {{engine "MergeTree" (printf "%s.subject_requests" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY ts;

-- Blocks: one row per change; the newest version of a (ref_kind, value,
-- site) says whether it is blocked. value is the visitor or user id
-- itself, since ingest must recognise it; site "" blocks on every site.
-- Retention: while the block is in force (an unblock writes a newer version)
CREATE TABLE IF NOT EXISTS {{.Identified}}.subject_blocks{{.OnCluster}} (
    ref_kind String, -- visitor or user
    value String, -- the blocked visitor or user id
    site String, -- site, or empty for all
    blocked UInt8, -- block in force
    ts DateTime('UTC'), -- time of the change
    version UInt64 -- newest version wins
) ENGINE = {{engine "ReplacingMergeTree" (printf "%s.subject_blocks" .Identified) "version"}}
ORDER BY (ref_kind, value, site);

-- Receipt to visitor: the consent log proves a decision but holds no
-- visitor id; this row, written when a decision sets the sezim_vid cookie,
-- lets a receipt quoted in a request reach the visitor's events. It is
-- kept as long as the identified events and erased with them.
-- Retention: identified_days of the site config (retention job); erased with the subject
CREATE TABLE IF NOT EXISTS {{.Identified}}.consent_visitors{{.OnCluster}} (
    site String, -- site of the decision
    receipt String, -- consent receipt id
    visitor_id String, -- sezim_vid cookie the decision set
    ts DateTime('UTC') -- time of the decision
) ENGINE = {{engine "MergeTree" (printf "%s.consent_visitors" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY (receipt, visitor_id);
