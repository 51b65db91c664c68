-- reverse: modify "workspaces" table
ALTER TABLE "workspaces" DROP COLUMN "api_key_count";
