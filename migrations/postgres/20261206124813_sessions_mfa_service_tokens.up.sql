-- modify "sessions" table
ALTER TABLE "sessions" ADD COLUMN "last_used_at" timestamptz NULL;
-- modify "users" table
ALTER TABLE "users" ADD COLUMN "totp_secret" bytea NULL, ADD COLUMN "totp_enabled_at" timestamptz NULL, ADD COLUMN "totp_last_step" bigint NULL;
-- create "recovery_codes" table
CREATE TABLE "recovery_codes" ("id" character varying NOT NULL, "code_hash" character varying NOT NULL, "created_at" timestamptz NOT NULL, "used_at" timestamptz NULL, "user_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "recovery_codes_users_user" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- create index "recovery_codes_code_hash_key" to table: "recovery_codes"
CREATE UNIQUE INDEX "recovery_codes_code_hash_key" ON "recovery_codes" ("code_hash");
-- create index "recoverycode_user_id" to table: "recovery_codes"
CREATE INDEX "recoverycode_user_id" ON "recovery_codes" ("user_id");
-- modify "workspaces" table
ALTER TABLE "workspaces" ADD COLUMN "require_mfa" boolean NOT NULL DEFAULT false;
-- create "service_tokens" table
CREATE TABLE "service_tokens" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "role" character varying NOT NULL, "token_hash" character varying NOT NULL, "created_by_id" character varying NOT NULL, "expires_at" timestamptz NULL, "last_used_at" timestamptz NULL, "revoked_at" timestamptz NULL, "workspace_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "service_tokens_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- create index "service_tokens_token_hash_key" to table: "service_tokens"
CREATE UNIQUE INDEX "service_tokens_token_hash_key" ON "service_tokens" ("token_hash");
-- create index "servicetoken_created_by_id" to table: "service_tokens"
CREATE INDEX "servicetoken_created_by_id" ON "service_tokens" ("created_by_id");
-- create index "servicetoken_workspace_id_id" to table: "service_tokens"
CREATE INDEX "servicetoken_workspace_id_id" ON "service_tokens" ("workspace_id", "id");
