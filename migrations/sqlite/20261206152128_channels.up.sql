-- add column "channel" to table: "usage_events"
ALTER TABLE `usage_events` ADD COLUMN `channel` text NULL;
-- create "channels" table
CREATE TABLE `channels` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `type` text NOT NULL DEFAULT ('OPENAI'), `base_url` text NOT NULL, `api_key_ciphertext` blob NULL, `api_key_mask` text NULL, `api_version` text NULL, `models` json NULL, `model_map` json NULL, `priority` integer NOT NULL DEFAULT (0), `weight` integer NOT NULL DEFAULT (1), `enabled` bool NOT NULL DEFAULT (true), `rpm` integer NOT NULL DEFAULT (0), `tpm` integer NOT NULL DEFAULT (0), `workspace_id` text NULL, PRIMARY KEY (`id`), CONSTRAINT `channels_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE CASCADE);
-- create index "channel_workspace_name" to table: "channels"
CREATE UNIQUE INDEX `channel_workspace_name` ON `channels` (`workspace_id`, `name`);
-- create index "channel_site_name" to table: "channels"
CREATE UNIQUE INDEX `channel_site_name` ON `channels` (`name`) WHERE workspace_id IS NULL;
-- create index "channel_updated_at" to table: "channels"
CREATE INDEX `channel_updated_at` ON `channels` (`updated_at`);
