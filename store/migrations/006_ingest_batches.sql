-- The session-log batch ledger (sessionlog.StoreLedger): which batches a
-- collector or `sezim import --direct` has processed, so that a resent batch
-- is answered from here and counted once. key is SHA-256(site, the sender's
-- Idempotency-Key or the batch's content hash); summary holds counts and
-- fixed reasons only. Nothing here identifies a visitor. Rows are kept for
-- 7 days: the ledger drops whole days (partitions) itself.
-- state: 1 claimed (processing), 2 done, 3 withdrawn (a losing claim cancelled).
-- Retention: 7 days (the ledger drops whole days)
CREATE TABLE IF NOT EXISTS {{.Stats}}.ingest_batches{{.OnCluster}} (
    day Date, -- day of the claim (the partition)
    site String, -- site id
    key String, -- SHA-256 of the site and the idempotency key or content
    token String, -- random token of the claim
    claimed_ns UInt64, -- claim time
    state UInt8, -- 1 claimed, 2 done, 3 withdrawn
    summary String -- counts of lines by outcome
) ENGINE = {{engine "MergeTree" "ingest_batches"}}
PARTITION BY day
ORDER BY (site, key);
