-- create "gateways" table
CREATE TABLE "gateways" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "last_seen_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
-- create index "gateways_name_key" to table: "gateways"
CREATE UNIQUE INDEX "gateways_name_key" ON "gateways" ("name");
-- create "groups" table
CREATE TABLE "groups" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "price_multiplier_bps" bigint NOT NULL DEFAULT 10000, "rpm" bigint NOT NULL DEFAULT 0, "tpm" bigint NOT NULL DEFAULT 0, PRIMARY KEY ("id"));
-- create index "group_updated_at" to table: "groups"
CREATE INDEX "group_updated_at" ON "groups" ("updated_at");
-- create index "groups_name_key" to table: "groups"
CREATE UNIQUE INDEX "groups_name_key" ON "groups" ("name");
-- modify "api_keys" table
ALTER TABLE "api_keys" ADD COLUMN "gateway_name" character varying NULL, ADD COLUMN "group_id" character varying NULL, ADD CONSTRAINT "api_keys_groups_group" FOREIGN KEY ("group_id") REFERENCES "groups" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- modify "workspaces" table
ALTER TABLE "workspaces" ADD COLUMN "group_id" character varying NULL, ADD CONSTRAINT "workspaces_groups_group" FOREIGN KEY ("group_id") REFERENCES "groups" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
