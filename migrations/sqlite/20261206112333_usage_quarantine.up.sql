-- create "usage_quarantine" table
CREATE TABLE `usage_quarantine` (`id` text NOT NULL, `request_id` text NOT NULL DEFAULT (''), `workspace_id` text NOT NULL DEFAULT (''), `reason` text NOT NULL, `record` text NOT NULL, `quarantined_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- create index "usagequarantine_workspace_id_quarantined_at" to table: "usage_quarantine"
CREATE INDEX `usagequarantine_workspace_id_quarantined_at` ON `usage_quarantine` (`workspace_id`, `quarantined_at`);
