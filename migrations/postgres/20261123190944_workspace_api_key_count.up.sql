-- modify "workspaces" table
ALTER TABLE "workspaces" ADD COLUMN "api_key_count" bigint NOT NULL DEFAULT 0;
