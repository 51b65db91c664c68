-- reverse: modify "workspaces" table
ALTER TABLE "workspaces" DROP CONSTRAINT "workspaces_groups_group", DROP COLUMN "group_id";
-- reverse: modify "api_keys" table
ALTER TABLE "api_keys" DROP CONSTRAINT "api_keys_groups_group", DROP COLUMN "group_id", DROP COLUMN "gateway_name";
-- reverse: create index "groups_name_key" to table: "groups"
DROP INDEX "groups_name_key";
-- reverse: create index "group_updated_at" to table: "groups"
DROP INDEX "group_updated_at";
-- reverse: create "groups" table
DROP TABLE "groups";
-- reverse: create index "gateways_name_key" to table: "gateways"
DROP INDEX "gateways_name_key";
-- reverse: create "gateways" table
DROP TABLE "gateways";
