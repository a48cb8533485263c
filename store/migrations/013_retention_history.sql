-- Retention history: one row per destruction the retention job made (a
-- partition dropped, rows deleted past their period), with the rule that
-- applied and the process that did it, so the console can show what was
-- destroyed and when. Counts and names only: nothing of what was destroyed.
-- Retention: retention_history_days of the global retention config (retention job)
CREATE TABLE IF NOT EXISTS {{.Identified}}.retention_history{{.OnCluster}} (
    ts DateTime('UTC'), -- time of the destruction
    db String, -- database
    tbl String, -- table (empty: the run itself)
    site String, -- site, or empty
    rows UInt64, -- rows destroyed
    rule String, -- retention setting that applied
    cutoff String, -- rows before this time were destroyed
    process String -- process that destroyed them
) ENGINE = {{engine "MergeTree" (printf "%s.retention_history" .Identified)}}
PARTITION BY toYYYYMM(ts)
ORDER BY ts;
