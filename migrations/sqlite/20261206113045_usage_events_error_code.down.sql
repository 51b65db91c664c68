-- reverse: add column "error_code" to table: "usage_events"
ALTER TABLE `usage_events` DROP COLUMN `error_code`;
