-- create "usage_quarantine" table
CREATE TABLE "usage_quarantine" ("id" character varying NOT NULL, "request_id" character varying NOT NULL DEFAULT '', "workspace_id" character varying NOT NULL DEFAULT '', "reason" character varying NOT NULL, "record" text NOT NULL, "quarantined_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
-- create index "usagequarantine_workspace_id_quarantined_at" to table: "usage_quarantine"
CREATE INDEX "usagequarantine_workspace_id_quarantined_at" ON "usage_quarantine" ("workspace_id", "quarantined_at");
