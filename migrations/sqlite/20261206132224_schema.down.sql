-- reverse: create index "workspaces_slug_key" to table: "workspaces"
DROP INDEX `workspaces_slug_key`;
-- reverse: create "new_workspaces" table
DROP TABLE `new_workspaces`;
