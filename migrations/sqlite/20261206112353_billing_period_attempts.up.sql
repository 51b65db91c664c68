-- disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- create "new_billing_periods" table
CREATE TABLE `new_billing_periods` (`id` text NOT NULL, `interval_start` datetime NOT NULL, `interval_end` datetime NOT NULL, `cost_micros` integer NOT NULL, `tokens` integer NOT NULL DEFAULT (0), `identifier` text NOT NULL, `generation` integer NOT NULL DEFAULT (0), `attempted_at` datetime NULL, `event_at` datetime NULL, `sent_at` datetime NULL, `review_reason` text NOT NULL DEFAULT (''), `attempts` integer NOT NULL DEFAULT (0), `last_error` text NULL, `created_at` datetime NOT NULL, `workspace_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `billing_periods_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- copy rows from old table "billing_periods" to new temporary table "new_billing_periods"
INSERT INTO `new_billing_periods` (`id`, `interval_start`, `interval_end`, `cost_micros`, `tokens`, `identifier`, `sent_at`, `attempts`, `last_error`, `created_at`, `workspace_id`) SELECT `id`, `interval_start`, `interval_end`, `cost_micros`, `tokens`, `identifier`, `sent_at`, `attempts`, `last_error`, `created_at`, `workspace_id` FROM `billing_periods`;
-- drop "billing_periods" table after copying rows
DROP TABLE `billing_periods`;
-- rename temporary table "new_billing_periods" to "billing_periods"
ALTER TABLE `new_billing_periods` RENAME TO `billing_periods`;
-- create index "billing_periods_identifier_key" to table: "billing_periods"
CREATE UNIQUE INDEX `billing_periods_identifier_key` ON `billing_periods` (`identifier`);
-- create index "billingperiod_workspace_id_id" to table: "billing_periods"
CREATE INDEX `billingperiod_workspace_id_id` ON `billing_periods` (`workspace_id`, `id`);
-- create index "billingperiod_workspace_id_interval_start" to table: "billing_periods"
CREATE UNIQUE INDEX `billingperiod_workspace_id_interval_start` ON `billing_periods` (`workspace_id`, `interval_start`);
-- create index "billingperiod_sent_at" to table: "billing_periods"
CREATE INDEX `billingperiod_sent_at` ON `billing_periods` (`sent_at`);
-- create index "billingperiod_event_at_interval_end" to table: "billing_periods"
CREATE INDEX `billingperiod_event_at_interval_end` ON `billing_periods` (`event_at`, `interval_end`);
-- enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
