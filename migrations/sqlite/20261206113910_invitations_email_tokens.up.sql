-- add column "email_verified_at" to table: "users"
ALTER TABLE `users` ADD COLUMN `email_verified_at` datetime NULL;
-- create "email_tokens" table
CREATE TABLE `email_tokens` (`id` text NOT NULL, `purpose` text NOT NULL, `email` text NOT NULL, `token_hash` text NOT NULL, `created_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `used_at` datetime NULL, `user_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `email_tokens_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- create index "email_tokens_token_hash_key" to table: "email_tokens"
CREATE UNIQUE INDEX `email_tokens_token_hash_key` ON `email_tokens` (`token_hash`);
-- create index "emailtoken_user_id_purpose_created_at" to table: "email_tokens"
CREATE INDEX `emailtoken_user_id_purpose_created_at` ON `email_tokens` (`user_id`, `purpose`, `created_at`);
-- create "invitations" table
CREATE TABLE `invitations` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NOT NULL, `role` text NOT NULL, `token_hash` text NOT NULL, `inviter_id` text NULL, `expires_at` datetime NOT NULL, `sent_at` datetime NOT NULL, `accepted_at` datetime NULL, `accepted_by_id` text NULL, `revoked_at` datetime NULL, `workspace_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `invitations_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- create index "invitations_token_hash_key" to table: "invitations"
CREATE UNIQUE INDEX `invitations_token_hash_key` ON `invitations` (`token_hash`);
-- create index "invitation_workspace_id_id" to table: "invitations"
CREATE INDEX `invitation_workspace_id_id` ON `invitations` (`workspace_id`, `id`);
-- create index "invitation_workspace_id_email" to table: "invitations"
CREATE INDEX `invitation_workspace_id_email` ON `invitations` (`workspace_id`, `email`);
