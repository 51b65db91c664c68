-- disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- create "gateways" table
CREATE TABLE `gateways` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `last_seen_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- create index "gateways_name_key" to table: "gateways"
CREATE UNIQUE INDEX `gateways_name_key` ON `gateways` (`name`);
-- create "groups" table
CREATE TABLE `groups` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `price_multiplier_bps` integer NOT NULL DEFAULT (10000), `rpm` integer NOT NULL DEFAULT (0), `tpm` integer NOT NULL DEFAULT (0), PRIMARY KEY (`id`));
-- create index "groups_name_key" to table: "groups"
CREATE UNIQUE INDEX `groups_name_key` ON `groups` (`name`);
-- create index "group_updated_at" to table: "groups"
CREATE INDEX `group_updated_at` ON `groups` (`updated_at`);
-- create "new_api_keys" table
CREATE TABLE `new_api_keys` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `label` text NOT NULL, `secret_hash` text NOT NULL, `masked_key` text NOT NULL, `status` text NOT NULL DEFAULT ('ACTIVE'), `revoke_reason` text NULL, `revoked_at` datetime NULL, `revoked_by` text NULL, `expires_at` datetime NULL, `max_requests` integer NOT NULL DEFAULT (0), `request_count` integer NOT NULL DEFAULT (0), `cache_hits` integer NOT NULL DEFAULT (0), `requests_reset_at` datetime NULL, `allowed_models` json NULL, `ip_allowlist` json NULL, `rpm` integer NULL, `tpm` integer NULL, `credit_quota_cents` integer NULL, `credit_used_micros` integer NOT NULL DEFAULT (0), `cache_enabled` bool NOT NULL DEFAULT (false), `last_used_at` datetime NULL, `grace_until` datetime NULL, `leaked_at` datetime NULL, `leak_source` text NULL, `deleted_at` datetime NULL, `gateway_name` text NULL, `deleted_by` text NULL, `workspace_id` text NOT NULL, `created_by_id` text NULL, `rotated_from_id` text NULL, `group_id` text NULL, PRIMARY KEY (`id`), CONSTRAINT `api_keys_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `api_keys_users_created_by` FOREIGN KEY (`created_by_id`) REFERENCES `users` (`id`) ON DELETE SET NULL, CONSTRAINT `api_keys_api_keys_rotated_from` FOREIGN KEY (`rotated_from_id`) REFERENCES `api_keys` (`id`) ON DELETE SET NULL, CONSTRAINT `api_keys_groups_group` FOREIGN KEY (`group_id`) REFERENCES `groups` (`id`) ON DELETE SET NULL);
-- copy rows from old table "api_keys" to new temporary table "new_api_keys"
INSERT INTO `new_api_keys` (`id`, `created_at`, `updated_at`, `label`, `secret_hash`, `masked_key`, `status`, `revoke_reason`, `revoked_at`, `revoked_by`, `expires_at`, `max_requests`, `request_count`, `cache_hits`, `requests_reset_at`, `allowed_models`, `ip_allowlist`, `rpm`, `tpm`, `credit_quota_cents`, `credit_used_micros`, `cache_enabled`, `last_used_at`, `grace_until`, `leaked_at`, `leak_source`, `deleted_at`, `deleted_by`, `workspace_id`, `created_by_id`, `rotated_from_id`) SELECT `id`, `created_at`, `updated_at`, `label`, `secret_hash`, `masked_key`, `status`, `revoke_reason`, `revoked_at`, `revoked_by`, `expires_at`, `max_requests`, `request_count`, `cache_hits`, `requests_reset_at`, `allowed_models`, `ip_allowlist`, `rpm`, `tpm`, `credit_quota_cents`, `credit_used_micros`, `cache_enabled`, `last_used_at`, `grace_until`, `leaked_at`, `leak_source`, `deleted_at`, `deleted_by`, `workspace_id`, `created_by_id`, `rotated_from_id` FROM `api_keys`;
-- drop "api_keys" table after copying rows
DROP TABLE `api_keys`;
-- rename temporary table "new_api_keys" to "api_keys"
ALTER TABLE `new_api_keys` RENAME TO `api_keys`;
-- create index "api_keys_secret_hash_key" to table: "api_keys"
CREATE UNIQUE INDEX `api_keys_secret_hash_key` ON `api_keys` (`secret_hash`);
-- create index "api_keys_rotated_from_id_key" to table: "api_keys"
CREATE UNIQUE INDEX `api_keys_rotated_from_id_key` ON `api_keys` (`rotated_from_id`);
-- create index "apikey_workspace_id_id" to table: "api_keys"
CREATE INDEX `apikey_workspace_id_id` ON `api_keys` (`workspace_id`, `id`);
-- create index "apikey_workspace_id_created_at" to table: "api_keys"
CREATE INDEX `apikey_workspace_id_created_at` ON `api_keys` (`workspace_id`, `created_at`);
-- create index "apikey_updated_at" to table: "api_keys"
CREATE INDEX `apikey_updated_at` ON `api_keys` (`updated_at`);
-- create "new_workspaces" table
CREATE TABLE `new_workspaces` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `status` text NOT NULL DEFAULT ('ACTIVE'), `suspended_reason` text NULL, `active` bool NOT NULL DEFAULT (true), `rpm` integer NOT NULL DEFAULT (0), `tpm` integer NOT NULL DEFAULT (0), `monthly_token_quota` integer NOT NULL DEFAULT (0), `spend_cap_cents` integer NULL, `max_keys` integer NOT NULL DEFAULT (100), `require_mfa` bool NOT NULL DEFAULT (false), `api_key_count` integer NOT NULL DEFAULT (0), `group_id` text NULL, PRIMARY KEY (`id`), CONSTRAINT `workspaces_groups_group` FOREIGN KEY (`group_id`) REFERENCES `groups` (`id`) ON DELETE SET NULL);
-- copy rows from old table "workspaces" to new temporary table "new_workspaces"
INSERT INTO `new_workspaces` (`id`, `created_at`, `updated_at`, `name`, `slug`, `status`, `suspended_reason`, `active`, `rpm`, `tpm`, `monthly_token_quota`, `spend_cap_cents`, `max_keys`, `require_mfa`, `api_key_count`) SELECT `id`, `created_at`, `updated_at`, `name`, `slug`, `status`, `suspended_reason`, `active`, `rpm`, `tpm`, `monthly_token_quota`, `spend_cap_cents`, `max_keys`, `require_mfa`, `api_key_count` FROM `workspaces`;
-- drop "workspaces" table after copying rows
DROP TABLE `workspaces`;
-- rename temporary table "new_workspaces" to "workspaces"
ALTER TABLE `new_workspaces` RENAME TO `workspaces`;
-- create index "workspaces_slug_key" to table: "workspaces"
CREATE UNIQUE INDEX `workspaces_slug_key` ON `workspaces` (`slug`);
-- enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
