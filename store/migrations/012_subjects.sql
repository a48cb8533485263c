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
CREATE TABLE IF NOT EXISTS {{.Identified}}.subject_requests{{.OnCluster}} (
    id String,
    ts DateTime('UTC'),
    actor String,
    kind String,
    ref_kind String,
    ref String,
    site String,
    reason String,
    outcome String,
    rows UInt64,
    detail String
) ENGINE = {{engine "MergeTree" (printf "%s.subject_requests" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY ts;

-- Blocks: one row per change; the newest version of a (ref_kind, value,
-- site) says whether it is blocked. value is the visitor or user id
-- itself, since ingest must recognise it; site "" blocks on every site.
CREATE TABLE IF NOT EXISTS {{.Identified}}.subject_blocks{{.OnCluster}} (
    ref_kind String,
    value String,
    site String,
    blocked UInt8,
    ts DateTime('UTC'),
    version UInt64
) ENGINE = {{engine "ReplacingMergeTree" (printf "%s.subject_blocks" .Identified) "version"}}
ORDER BY (ref_kind, value, site);

-- Receipt to visitor: the consent log proves a decision but holds no
-- visitor id; this row, written when a decision sets the sezim_vid cookie,
-- lets a receipt quoted in a request reach the visitor's events. It is
-- kept as long as the identified events and erased with them.
CREATE TABLE IF NOT EXISTS {{.Identified}}.consent_visitors{{.OnCluster}} (
    site String,
    receipt String,
    visitor_id String,
    ts DateTime('UTC')
) ENGINE = {{engine "MergeTree" (printf "%s.consent_visitors" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY (receipt, visitor_id);
