-- disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- create "new_workspaces" table
CREATE TABLE `new_workspaces` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `status` text NOT NULL DEFAULT ('ACTIVE'), `suspended_reason` text NULL, `active` bool NOT NULL DEFAULT (true), `rpm` integer NOT NULL DEFAULT (0), `tpm` integer NOT NULL DEFAULT (0), `monthly_token_quota` integer NOT NULL DEFAULT (0), `spend_cap_cents` integer NULL, `max_keys` integer NOT NULL DEFAULT (100), `require_mfa` bool NOT NULL DEFAULT (false), `api_key_count` integer NOT NULL DEFAULT (0), PRIMARY KEY (`id`));
-- copy rows from old table "workspaces" to new temporary table "new_workspaces"
INSERT INTO `new_workspaces` (`id`, `created_at`, `updated_at`, `name`, `slug`, `status`, `suspended_reason`, `rpm`, `tpm`, `monthly_token_quota`, `spend_cap_cents`, `max_keys`, `require_mfa`, `api_key_count`) SELECT `id`, `created_at`, `updated_at`, `name`, `slug`, `status`, `suspended_reason`, `rpm`, `tpm`, `monthly_token_quota`, `spend_cap_cents`, `max_keys`, `require_mfa`, `api_key_count` FROM `workspaces`;
-- drop "workspaces" table after copying rows
DROP TABLE `workspaces`;
-- rename temporary table "new_workspaces" to "workspaces"
ALTER TABLE `new_workspaces` RENAME TO `workspaces`;
-- create index "workspaces_slug_key" to table: "workspaces"
CREATE UNIQUE INDEX `workspaces_slug_key` ON `workspaces` (`slug`);
-- enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
