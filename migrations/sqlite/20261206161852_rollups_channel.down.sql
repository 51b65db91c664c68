-- reverse: create index "usagerollup_api_key_id_hour" to table: "usage_rollups"
DROP INDEX `usagerollup_api_key_id_hour`;
-- reverse: create index "usagerollup_workspace_id_hour_api_key_id_model_channel" to table: "usage_rollups"
DROP INDEX `usagerollup_workspace_id_hour_api_key_id_model_channel`;
-- reverse: create "new_usage_rollups" table
DROP TABLE `new_usage_rollups`;
