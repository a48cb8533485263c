-- Month partitions of the aggregate tables (agg_hourly, agg_daily,
-- agg_daily_pairs) that hold one row per key, so that the dashboards read
-- them without FINAL (pipeline/rollup/compact.go says when a month is
-- closed and who reopens it). month is the partition, toYYYYMM of the
-- table's time column; compacted = 0 is a month reopened by a late write.
-- Names and months only: nothing here is about a visitor.
-- Retention: kept (a row per table and month, no visitor data)
CREATE TABLE IF NOT EXISTS {{.Stats}}.agg_compacted{{.OnCluster}} (
    table_name String, -- aggregate table
    month UInt32, -- month partition (YYYYMM)
    compacted UInt8, -- 1 compacted, 0 reopened
    version UInt64 -- newest wins
) ENGINE = {{engine "ReplacingMergeTree" "agg_compacted" "version"}}
ORDER BY (table_name, month);
