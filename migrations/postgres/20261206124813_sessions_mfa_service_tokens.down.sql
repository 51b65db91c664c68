-- reverse: create index "servicetoken_workspace_id_id" to table: "service_tokens"
DROP INDEX "servicetoken_workspace_id_id";
-- reverse: create index "servicetoken_created_by_id" to table: "service_tokens"
DROP INDEX "servicetoken_created_by_id";
-- reverse: create index "service_tokens_token_hash_key" to table: "service_tokens"
DROP INDEX "service_tokens_token_hash_key";
-- reverse: create "service_tokens" table
DROP TABLE "service_tokens";
-- reverse: modify "workspaces" table
ALTER TABLE "workspaces" DROP COLUMN "require_mfa";
-- reverse: create index "recoverycode_user_id" to table: "recovery_codes"
DROP INDEX "recoverycode_user_id";
-- reverse: create index "recovery_codes_code_hash_key" to table: "recovery_codes"
DROP INDEX "recovery_codes_code_hash_key";
-- reverse: create "recovery_codes" table
DROP TABLE "recovery_codes";
-- reverse: modify "users" table
ALTER TABLE "users" DROP COLUMN "totp_last_step", DROP COLUMN "totp_enabled_at", DROP COLUMN "totp_secret";
-- reverse: modify "sessions" table
ALTER TABLE "sessions" DROP COLUMN "last_used_at";
