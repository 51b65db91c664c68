-- reverse: create index "invitation_workspace_id_email" to table: "invitations"
DROP INDEX `invitation_workspace_id_email`;
-- reverse: create index "invitation_workspace_id_id" to table: "invitations"
DROP INDEX `invitation_workspace_id_id`;
-- reverse: create index "invitations_token_hash_key" to table: "invitations"
DROP INDEX `invitations_token_hash_key`;
-- reverse: create "invitations" table
DROP TABLE `invitations`;
-- reverse: create index "emailtoken_user_id_purpose_created_at" to table: "email_tokens"
DROP INDEX `emailtoken_user_id_purpose_created_at`;
-- reverse: create index "email_tokens_token_hash_key" to table: "email_tokens"
DROP INDEX `email_tokens_token_hash_key`;
-- reverse: create "email_tokens" table
DROP TABLE `email_tokens`;
-- reverse: add column "email_verified_at" to table: "users"
ALTER TABLE `users` DROP COLUMN `email_verified_at`;
