-- reverse: create index "workspace_updated_at" to table: "workspaces"
DROP INDEX "workspace_updated_at";
