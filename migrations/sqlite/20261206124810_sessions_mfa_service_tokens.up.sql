-- disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- add column "last_used_at" to table: "sessions"
ALTER TABLE `sessions` ADD COLUMN `last_used_at` datetime NULL;
-- add column "totp_secret" to table: "users"
ALTER TABLE `users` ADD COLUMN `totp_secret` blob NULL;
-- add column "totp_enabled_at" to table: "users"
ALTER TABLE `users` ADD COLUMN `totp_enabled_at` datetime NULL;
-- add column "totp_last_step" to table: "users"
ALTER TABLE `users` ADD COLUMN `totp_last_step` integer NULL;
-- create "new_workspaces" table
CREATE TABLE `new_workspaces` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `status` text NOT NULL DEFAULT ('ACTIVE'), `suspended_reason` text NULL, `rpm` integer NOT NULL DEFAULT (0), `tpm` integer NOT NULL DEFAULT (0), `monthly_token_quota` integer NOT NULL DEFAULT (0), `spend_cap_cents` integer NULL, `max_keys` integer NOT NULL DEFAULT (100), `require_mfa` bool NOT NULL DEFAULT (false), `api_key_count` integer NOT NULL DEFAULT (0), PRIMARY KEY (`id`));
-- copy rows from old table "workspaces" to new temporary table "new_workspaces"
INSERT INTO `new_workspaces` (`id`, `created_at`, `updated_at`, `name`, `slug`, `status`, `suspended_reason`, `rpm`, `tpm`, `monthly_token_quota`, `spend_cap_cents`, `max_keys`, `api_key_count`) SELECT `id`, `created_at`, `updated_at`, `name`, `slug`, `status`, `suspended_reason`, `rpm`, `tpm`, `monthly_token_quota`, `spend_cap_cents`, `max_keys`, `api_key_count` FROM `workspaces`;
-- drop "workspaces" table after copying rows
DROP TABLE `workspaces`;
-- rename temporary table "new_workspaces" to "workspaces"
ALTER TABLE `new_workspaces` RENAME TO `workspaces`;
-- create index "workspaces_slug_key" to table: "workspaces"
CREATE UNIQUE INDEX `workspaces_slug_key` ON `workspaces` (`slug`);
-- create "recovery_codes" table
CREATE TABLE `recovery_codes` (`id` text NOT NULL, `code_hash` text NOT NULL, `created_at` datetime NOT NULL, `used_at` datetime NULL, `user_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `recovery_codes_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- create index "recovery_codes_code_hash_key" to table: "recovery_codes"
CREATE UNIQUE INDEX `recovery_codes_code_hash_key` ON `recovery_codes` (`code_hash`);
-- create index "recoverycode_user_id" to table: "recovery_codes"
CREATE INDEX `recoverycode_user_id` ON `recovery_codes` (`user_id`);
-- create "service_tokens" table
CREATE TABLE `service_tokens` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `role` text NOT NULL, `token_hash` text NOT NULL, `created_by_id` text NOT NULL, `expires_at` datetime NULL, `last_used_at` datetime NULL, `revoked_at` datetime NULL, `workspace_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `service_tokens_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- create index "service_tokens_token_hash_key" to table: "service_tokens"
CREATE UNIQUE INDEX `service_tokens_token_hash_key` ON `service_tokens` (`token_hash`);
-- create index "servicetoken_workspace_id_id" to table: "service_tokens"
CREATE INDEX `servicetoken_workspace_id_id` ON `service_tokens` (`workspace_id`, `id`);
-- create index "servicetoken_created_by_id" to table: "service_tokens"
CREATE INDEX `servicetoken_created_by_id` ON `service_tokens` (`created_by_id`);
-- enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
