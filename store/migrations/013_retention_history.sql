-- Retention history: one row per destruction the retention job made (a
-- partition dropped, rows deleted past their period), with the rule that
-- applied and the process that did it, so the console can show what was
-- destroyed and when. Counts and names only: nothing of what was destroyed.
CREATE TABLE IF NOT EXISTS {{.Identified}}.retention_history{{.OnCluster}} (
    ts DateTime('UTC'),
    db String,
    tbl String,
    site String,
    rows UInt64,
    rule String,
    cutoff String,
    process String
) ENGINE = {{engine "MergeTree" (printf "%s.retention_history" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY ts;
