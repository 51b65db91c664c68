-- drop index "usagerollup_workspace_id_hour_api_key_id_model" from table: "usage_rollups"
DROP INDEX "usagerollup_workspace_id_hour_api_key_id_model";
-- modify "usage_rollups" table
ALTER TABLE "usage_rollups" ADD COLUMN "channel" character varying NOT NULL DEFAULT '';
-- create index "usagerollup_workspace_id_hour_api_key_id_model_channel" to table: "usage_rollups"
CREATE UNIQUE INDEX "usagerollup_workspace_id_hour_api_key_id_model_channel" ON "usage_rollups" ("workspace_id", "hour", "api_key_id", "model", "channel");
