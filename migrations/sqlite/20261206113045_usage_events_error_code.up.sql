-- add column "error_code" to table: "usage_events"
ALTER TABLE `usage_events` ADD COLUMN `error_code` text NULL;
