-- reverse: create index "group_updated_at" to table: "groups"
DROP INDEX `group_updated_at`;
-- reverse: create index "groups_name_key" to table: "groups"
DROP INDEX `groups_name_key`;
-- reverse: create "groups" table
DROP TABLE `groups`;
-- reverse: create index "gateways_name_key" to table: "gateways"
DROP INDEX `gateways_name_key`;
-- reverse: create "gateways" table
DROP TABLE `gateways`;
-- reverse: create index "workspaces_slug_key" to table: "workspaces"
DROP INDEX `workspaces_slug_key`;
-- reverse: create "new_workspaces" table
DROP TABLE `new_workspaces`;
-- reverse: create index "apikey_updated_at" to table: "api_keys"
DROP INDEX `apikey_updated_at`;
-- reverse: create index "apikey_workspace_id_created_at" to table: "api_keys"
DROP INDEX `apikey_workspace_id_created_at`;
-- reverse: create index "apikey_workspace_id_id" to table: "api_keys"
DROP INDEX `apikey_workspace_id_id`;
-- reverse: create index "api_keys_rotated_from_id_key" to table: "api_keys"
DROP INDEX `api_keys_rotated_from_id_key`;
-- reverse: create index "api_keys_secret_hash_key" to table: "api_keys"
DROP INDEX `api_keys_secret_hash_key`;
-- reverse: create "new_api_keys" table
DROP TABLE `new_api_keys`;
