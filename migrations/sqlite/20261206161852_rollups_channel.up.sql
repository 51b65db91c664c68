-- disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- create "new_usage_rollups" table
CREATE TABLE `new_usage_rollups` (`id` text NOT NULL, `api_key_id` text NOT NULL, `model` text NOT NULL, `channel` text NOT NULL DEFAULT (''), `hour` datetime NOT NULL, `requests` integer NOT NULL DEFAULT (0), `errors` integer NOT NULL DEFAULT (0), `cache_hits` integer NOT NULL DEFAULT (0), `prompt_tokens` integer NOT NULL DEFAULT (0), `completion_tokens` integer NOT NULL DEFAULT (0), `cached_tokens` integer NOT NULL DEFAULT (0), `cost_micros` integer NOT NULL DEFAULT (0), `latency_ms_sum` integer NOT NULL DEFAULT (0), `workspace_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `usage_rollups_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- copy rows from old table "usage_rollups" to new temporary table "new_usage_rollups"
INSERT INTO `new_usage_rollups` (`id`, `api_key_id`, `model`, `hour`, `requests`, `errors`, `cache_hits`, `prompt_tokens`, `completion_tokens`, `cached_tokens`, `cost_micros`, `latency_ms_sum`, `workspace_id`) SELECT `id`, `api_key_id`, `model`, `hour`, `requests`, `errors`, `cache_hits`, `prompt_tokens`, `completion_tokens`, `cached_tokens`, `cost_micros`, `latency_ms_sum`, `workspace_id` FROM `usage_rollups`;
-- drop "usage_rollups" table after copying rows
DROP TABLE `usage_rollups`;
-- rename temporary table "new_usage_rollups" to "usage_rollups"
ALTER TABLE `new_usage_rollups` RENAME TO `usage_rollups`;
-- create index "usagerollup_workspace_id_hour_api_key_id_model_channel" to table: "usage_rollups"
CREATE UNIQUE INDEX `usagerollup_workspace_id_hour_api_key_id_model_channel` ON `usage_rollups` (`workspace_id`, `hour`, `api_key_id`, `model`, `channel`);
-- create index "usagerollup_api_key_id_hour" to table: "usage_rollups"
CREATE INDEX `usagerollup_api_key_id_hour` ON `usage_rollups` (`api_key_id`, `hour`);
-- enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
