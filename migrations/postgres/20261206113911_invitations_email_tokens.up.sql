-- modify "users" table
ALTER TABLE "users" ADD COLUMN "email_verified_at" timestamptz NULL;
-- create "email_tokens" table
CREATE TABLE "email_tokens" ("id" character varying NOT NULL, "purpose" character varying NOT NULL, "email" character varying NOT NULL, "token_hash" character varying NOT NULL, "created_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "used_at" timestamptz NULL, "user_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "email_tokens_users_user" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- create index "email_tokens_token_hash_key" to table: "email_tokens"
CREATE UNIQUE INDEX "email_tokens_token_hash_key" ON "email_tokens" ("token_hash");
-- create index "emailtoken_user_id_purpose_created_at" to table: "email_tokens"
CREATE INDEX "emailtoken_user_id_purpose_created_at" ON "email_tokens" ("user_id", "purpose", "created_at");
-- create "invitations" table
CREATE TABLE "invitations" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "email" character varying NOT NULL, "role" character varying NOT NULL, "token_hash" character varying NOT NULL, "inviter_id" character varying NULL, "expires_at" timestamptz NOT NULL, "sent_at" timestamptz NOT NULL, "accepted_at" timestamptz NULL, "accepted_by_id" character varying NULL, "revoked_at" timestamptz NULL, "workspace_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "invitations_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- create index "invitation_workspace_id_email" to table: "invitations"
CREATE INDEX "invitation_workspace_id_email" ON "invitations" ("workspace_id", "email");
-- create index "invitation_workspace_id_id" to table: "invitations"
CREATE INDEX "invitation_workspace_id_id" ON "invitations" ("workspace_id", "id");
-- create index "invitations_token_hash_key" to table: "invitations"
CREATE UNIQUE INDEX "invitations_token_hash_key" ON "invitations" ("token_hash");
