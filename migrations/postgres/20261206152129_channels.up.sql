-- modify "usage_events" table
ALTER TABLE "usage_events" ADD COLUMN "channel" character varying NULL;
-- create "channels" table
CREATE TABLE "channels" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "type" character varying NOT NULL DEFAULT 'OPENAI', "base_url" character varying NOT NULL, "api_key_ciphertext" bytea NULL, "api_key_mask" character varying NULL, "api_version" character varying NULL, "models" jsonb NULL, "model_map" jsonb NULL, "priority" bigint NOT NULL DEFAULT 0, "weight" bigint NOT NULL DEFAULT 1, "enabled" boolean NOT NULL DEFAULT true, "rpm" bigint NOT NULL DEFAULT 0, "tpm" bigint NOT NULL DEFAULT 0, "workspace_id" character varying NULL, PRIMARY KEY ("id"), CONSTRAINT "channels_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- create index "channel_site_name" to table: "channels"
CREATE UNIQUE INDEX "channel_site_name" ON "channels" ("name") WHERE (workspace_id IS NULL);
-- create index "channel_updated_at" to table: "channels"
CREATE INDEX "channel_updated_at" ON "channels" ("updated_at");
-- create index "channel_workspace_name" to table: "channels"
CREATE UNIQUE INDEX "channel_workspace_name" ON "channels" ("workspace_id", "name");
