-- reverse: create index "channel_updated_at" to table: "channels"
DROP INDEX `channel_updated_at`;
-- reverse: create index "channel_site_name" to table: "channels"
DROP INDEX `channel_site_name`;
-- reverse: create index "channel_workspace_name" to table: "channels"
DROP INDEX `channel_workspace_name`;
-- reverse: create "channels" table
DROP TABLE `channels`;
-- reverse: add column "channel" to table: "usage_events"
ALTER TABLE `usage_events` DROP COLUMN `channel`;
