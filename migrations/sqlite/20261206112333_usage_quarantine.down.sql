-- reverse: create index "usagequarantine_workspace_id_quarantined_at" to table: "usage_quarantine"
DROP INDEX `usagequarantine_workspace_id_quarantined_at`;
-- reverse: create "usage_quarantine" table
DROP TABLE `usage_quarantine`;
