-- reverse: create index "usagerollup_workspace_id_hour_api_key_id_model_channel" to table: "usage_rollups"
DROP INDEX "usagerollup_workspace_id_hour_api_key_id_model_channel";
-- reverse: modify "usage_rollups" table
ALTER TABLE "usage_rollups" DROP COLUMN "channel";
-- reverse: drop index "usagerollup_workspace_id_hour_api_key_id_model" from table: "usage_rollups"
CREATE UNIQUE INDEX "usagerollup_workspace_id_hour_api_key_id_model" ON "usage_rollups" ("workspace_id", "hour", "api_key_id", "model");
