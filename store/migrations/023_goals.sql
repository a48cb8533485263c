-- Goals made in the dashboards by an admin (the site file's goals live in
-- the file). They are configuration, not data about visitors: a name and
-- what reaches it. The rollup reads them on every run; a newer version of
-- a (site, name) row replaces the older, deleted = 1 removes the goal.
-- Retention: kept until the goal is removed (configuration, no visitor data)
CREATE TABLE IF NOT EXISTS {{.Stats}}.goals{{.OnCluster}} (
    site String, -- site id
    name String, -- goal name shown in the dashboards
    event String, -- custom event name that reaches the goal, or ''
    page String, -- page path pattern (* any characters) that reaches it, or ''
    deleted UInt8, -- the goal was removed
    version UInt64 -- newest version wins
) ENGINE = {{engine "ReplacingMergeTree" "goals" "version"}}
ORDER BY (site, name);
