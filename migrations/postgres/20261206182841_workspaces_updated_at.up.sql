-- create index "workspace_updated_at" to table: "workspaces"
CREATE INDEX "workspace_updated_at" ON "workspaces" ("updated_at");
