-- create "api_keys" table
CREATE TABLE `api_keys` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `label` text NOT NULL, `secret_hash` text NOT NULL, `masked_key` text NOT NULL, `status` text NOT NULL DEFAULT ('ACTIVE'), `revoke_reason` text NULL, `revoked_at` datetime NULL, `revoked_by` text NULL, `expires_at` datetime NULL, `max_requests` integer NOT NULL DEFAULT (0), `request_count` integer NOT NULL DEFAULT (0), `cache_hits` integer NOT NULL DEFAULT (0), `allowed_models` json NULL, `ip_allowlist` json NULL, `rpm` integer NULL, `tpm` integer NULL, `spend_cap_cents` integer NULL, `cache_enabled` bool NOT NULL DEFAULT (false), `last_used_at` datetime NULL, `grace_until` datetime NULL, `leaked_at` datetime NULL, `leak_source` text NULL, `workspace_id` text NOT NULL, `created_by_id` text NULL, `rotated_from_id` text NULL, PRIMARY KEY (`id`), CONSTRAINT `api_keys_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `api_keys_users_created_by` FOREIGN KEY (`created_by_id`) REFERENCES `users` (`id`) ON DELETE SET NULL, CONSTRAINT `api_keys_api_keys_rotated_from` FOREIGN KEY (`rotated_from_id`) REFERENCES `api_keys` (`id`) ON DELETE SET NULL);
-- create index "api_keys_secret_hash_key" to table: "api_keys"
CREATE UNIQUE INDEX `api_keys_secret_hash_key` ON `api_keys` (`secret_hash`);
-- create index "api_keys_rotated_from_id_key" to table: "api_keys"
CREATE UNIQUE INDEX `api_keys_rotated_from_id_key` ON `api_keys` (`rotated_from_id`);
-- create index "apikey_workspace_id" to table: "api_keys"
CREATE INDEX `apikey_workspace_id` ON `api_keys` (`workspace_id`);
-- create index "apikey_workspace_id_created_at" to table: "api_keys"
CREATE INDEX `apikey_workspace_id_created_at` ON `api_keys` (`workspace_id`, `created_at`);
-- create index "apikey_updated_at" to table: "api_keys"
CREATE INDEX `apikey_updated_at` ON `api_keys` (`updated_at`);
-- create "audit_events" table
CREATE TABLE `audit_events` (`id` text NOT NULL, `actor_id` text NULL, `actor_email` text NULL, `action` text NOT NULL, `target_type` text NULL, `target_id` text NULL, `ip` text NULL, `details` json NULL, `created_at` datetime NOT NULL, `workspace_id` text NULL, PRIMARY KEY (`id`), CONSTRAINT `audit_events_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE SET NULL);
-- create index "auditevent_workspace_id_created_at" to table: "audit_events"
CREATE INDEX `auditevent_workspace_id_created_at` ON `audit_events` (`workspace_id`, `created_at`);
-- create index "auditevent_action" to table: "audit_events"
CREATE INDEX `auditevent_action` ON `audit_events` (`action`);
-- create "billing_accounts" table
CREATE TABLE `billing_accounts` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `stripe_customer_id` text NULL, `stripe_subscription_id` text NULL, `standing` text NOT NULL DEFAULT ('ACTIVE'), `past_due_since` datetime NULL, `standing_reason` text NULL, `suspend_at` datetime NULL, `standing_event_at` datetime NULL, `alert_webhook_url` text NULL, `last_alert_percent` integer NOT NULL DEFAULT (0), `last_alert_month` text NULL, `workspace_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `billing_accounts_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- create index "billingaccount_workspace_id" to table: "billing_accounts"
CREATE INDEX `billingaccount_workspace_id` ON `billing_accounts` (`workspace_id`);
-- create index "billingaccount_workspace_unique" to table: "billing_accounts"
CREATE UNIQUE INDEX `billingaccount_workspace_unique` ON `billing_accounts` (`workspace_id`);
-- create index "billingaccount_stripe_customer_id" to table: "billing_accounts"
CREATE UNIQUE INDEX `billingaccount_stripe_customer_id` ON `billing_accounts` (`stripe_customer_id`);
-- create "billing_periods" table
CREATE TABLE `billing_periods` (`id` text NOT NULL, `interval_start` datetime NOT NULL, `interval_end` datetime NOT NULL, `cost_micros` integer NOT NULL, `tokens` integer NOT NULL DEFAULT (0), `identifier` text NOT NULL, `sent_at` datetime NULL, `attempts` integer NOT NULL DEFAULT (0), `last_error` text NULL, `created_at` datetime NOT NULL, `workspace_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `billing_periods_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- create index "billing_periods_identifier_key" to table: "billing_periods"
CREATE UNIQUE INDEX `billing_periods_identifier_key` ON `billing_periods` (`identifier`);
-- create index "billingperiod_workspace_id" to table: "billing_periods"
CREATE INDEX `billingperiod_workspace_id` ON `billing_periods` (`workspace_id`);
-- create index "billingperiod_workspace_id_interval_start" to table: "billing_periods"
CREATE UNIQUE INDEX `billingperiod_workspace_id_interval_start` ON `billing_periods` (`workspace_id`, `interval_start`);
-- create index "billingperiod_sent_at" to table: "billing_periods"
CREATE INDEX `billingperiod_sent_at` ON `billing_periods` (`sent_at`);
-- create "latency_rollups" table
CREATE TABLE `latency_rollups` (`id` text NOT NULL, `hour` datetime NOT NULL, `bucket` integer NOT NULL, `count` integer NOT NULL DEFAULT (0), `workspace_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `latency_rollups_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- create index "latencyrollup_workspace_id" to table: "latency_rollups"
CREATE INDEX `latencyrollup_workspace_id` ON `latency_rollups` (`workspace_id`);
-- create index "latencyrollup_workspace_id_hour_bucket" to table: "latency_rollups"
CREATE UNIQUE INDEX `latencyrollup_workspace_id_hour_bucket` ON `latency_rollups` (`workspace_id`, `hour`, `bucket`);
-- create "memberships" table
CREATE TABLE `memberships` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `role` text NOT NULL, `workspace_id` text NOT NULL, `user_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `memberships_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION, CONSTRAINT `memberships_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
-- create index "membership_workspace_id" to table: "memberships"
CREATE INDEX `membership_workspace_id` ON `memberships` (`workspace_id`);
-- create index "membership_workspace_id_user_id" to table: "memberships"
CREATE UNIQUE INDEX `membership_workspace_id_user_id` ON `memberships` (`workspace_id`, `user_id`);
-- create index "membership_user_id" to table: "memberships"
CREATE INDEX `membership_user_id` ON `memberships` (`user_id`);
-- create "model_prices" table
CREATE TABLE `model_prices` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `model` text NOT NULL, `input_micros_per_mtok` integer NOT NULL, `cached_input_micros_per_mtok` integer NOT NULL, `output_micros_per_mtok` integer NOT NULL, PRIMARY KEY (`id`));
-- create index "model_prices_model_key" to table: "model_prices"
CREATE UNIQUE INDEX `model_prices_model_key` ON `model_prices` (`model`);
-- create "refresh_tokens" table
CREATE TABLE `refresh_tokens` (`id` text NOT NULL, `token_hash` text NOT NULL, `created_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `used_at` datetime NULL, `session_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `refresh_tokens_sessions_session` FOREIGN KEY (`session_id`) REFERENCES `sessions` (`id`) ON DELETE CASCADE);
-- create index "refresh_tokens_token_hash_key" to table: "refresh_tokens"
CREATE UNIQUE INDEX `refresh_tokens_token_hash_key` ON `refresh_tokens` (`token_hash`);
-- create index "refreshtoken_session_id" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_session_id` ON `refresh_tokens` (`session_id`);
-- create "sessions" table
CREATE TABLE `sessions` (`id` text NOT NULL, `email` text NULL, `method` text NULL, `ip` text NULL, `user_agent` text NULL, `created_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `revoked_at` datetime NULL, `user_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `sessions_users_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- create index "session_user_id_created_at" to table: "sessions"
CREATE INDEX `session_user_id_created_at` ON `sessions` (`user_id`, `created_at`);
-- create "signing_keys" table
CREATE TABLE `signing_keys` (`id` text NOT NULL, `kid` text NOT NULL, `private_jwk` blob NOT NULL, `created_at` datetime NOT NULL, `retired_at` datetime NULL, PRIMARY KEY (`id`));
-- create index "signing_keys_kid_key" to table: "signing_keys"
CREATE UNIQUE INDEX `signing_keys_kid_key` ON `signing_keys` (`kid`);
-- create "stripe_events" table
CREATE TABLE `stripe_events` (`id` text NOT NULL, `type` text NOT NULL, `received_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- create "upstreams" table
CREATE TABLE `upstreams` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `base_url` text NOT NULL, `api_key_ciphertext` blob NULL, `models` json NULL, `workspace_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `upstreams_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- create index "upstream_workspace_id" to table: "upstreams"
CREATE INDEX `upstream_workspace_id` ON `upstreams` (`workspace_id`);
-- create index "upstream_workspace_unique" to table: "upstreams"
CREATE UNIQUE INDEX `upstream_workspace_unique` ON `upstreams` (`workspace_id`);
-- create index "upstream_updated_at" to table: "upstreams"
CREATE INDEX `upstream_updated_at` ON `upstreams` (`updated_at`);
-- create "usage_events" table
CREATE TABLE `usage_events` (`id` text NOT NULL, `request_id` text NOT NULL, `api_key_id` text NOT NULL, `model` text NOT NULL, `endpoint` text NOT NULL, `stream` bool NOT NULL DEFAULT (false), `prompt_tokens` integer NOT NULL DEFAULT (0), `completion_tokens` integer NOT NULL DEFAULT (0), `cached_tokens` integer NOT NULL DEFAULT (0), `cost_micros` integer NOT NULL DEFAULT (0), `status` integer NOT NULL, `latency_ms` integer NOT NULL DEFAULT (0), `cache_hit` bool NOT NULL DEFAULT (false), `source` text NOT NULL, `estimate_reason` text NULL, `client_ip` text NULL, `occurred_at` datetime NOT NULL, `ingested_at` datetime NOT NULL, `billing_period_id` text NULL, `workspace_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `usage_events_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- create index "usage_events_request_id_key" to table: "usage_events"
CREATE UNIQUE INDEX `usage_events_request_id_key` ON `usage_events` (`request_id`);
-- create index "usageevent_workspace_id" to table: "usage_events"
CREATE INDEX `usageevent_workspace_id` ON `usage_events` (`workspace_id`);
-- create index "usageevent_occurred_at" to table: "usage_events"
CREATE INDEX `usageevent_occurred_at` ON `usage_events` (`occurred_at`);
-- create index "usageevent_workspace_id_occurred_at" to table: "usage_events"
CREATE INDEX `usageevent_workspace_id_occurred_at` ON `usage_events` (`workspace_id`, `occurred_at`);
-- create index "usageevent_api_key_id_occurred_at" to table: "usage_events"
CREATE INDEX `usageevent_api_key_id_occurred_at` ON `usage_events` (`api_key_id`, `occurred_at`);
-- create index "usageevent_billing_period_id_ingested_at" to table: "usage_events"
CREATE INDEX `usageevent_billing_period_id_ingested_at` ON `usage_events` (`billing_period_id`, `ingested_at`);
-- create "usage_rollups" table
CREATE TABLE `usage_rollups` (`id` text NOT NULL, `api_key_id` text NOT NULL, `model` text NOT NULL, `hour` datetime NOT NULL, `requests` integer NOT NULL DEFAULT (0), `errors` integer NOT NULL DEFAULT (0), `cache_hits` integer NOT NULL DEFAULT (0), `prompt_tokens` integer NOT NULL DEFAULT (0), `completion_tokens` integer NOT NULL DEFAULT (0), `cached_tokens` integer NOT NULL DEFAULT (0), `cost_micros` integer NOT NULL DEFAULT (0), `latency_ms_sum` integer NOT NULL DEFAULT (0), `workspace_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `usage_rollups_workspaces_workspace` FOREIGN KEY (`workspace_id`) REFERENCES `workspaces` (`id`) ON DELETE NO ACTION);
-- create index "usagerollup_workspace_id" to table: "usage_rollups"
CREATE INDEX `usagerollup_workspace_id` ON `usage_rollups` (`workspace_id`);
-- create index "usagerollup_workspace_id_hour_api_key_id_model" to table: "usage_rollups"
CREATE UNIQUE INDEX `usagerollup_workspace_id_hour_api_key_id_model` ON `usage_rollups` (`workspace_id`, `hour`, `api_key_id`, `model`);
-- create index "usagerollup_api_key_id_hour" to table: "usage_rollups"
CREATE INDEX `usagerollup_api_key_id_hour` ON `usage_rollups` (`api_key_id`, `hour`);
-- create "users" table
CREATE TABLE `users` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NOT NULL, `name` text NULL, `password_hash` text NULL, `oidc_issuer` text NULL, `oidc_subject` text NULL, `site_admin` bool NOT NULL DEFAULT (false), `disabled` bool NOT NULL DEFAULT (false), `last_sign_in_at` datetime NULL, PRIMARY KEY (`id`));
-- create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX `users_email_key` ON `users` (`email`);
-- create index "user_oidc_issuer_oidc_subject" to table: "users"
CREATE INDEX `user_oidc_issuer_oidc_subject` ON `users` (`oidc_issuer`, `oidc_subject`);
-- create "workspaces" table
CREATE TABLE `workspaces` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `status` text NOT NULL DEFAULT ('ACTIVE'), `suspended_reason` text NULL, `rpm` integer NOT NULL DEFAULT (0), `tpm` integer NOT NULL DEFAULT (0), `monthly_token_quota` integer NOT NULL DEFAULT (0), `spend_cap_cents` integer NULL, `max_keys` integer NOT NULL DEFAULT (100), PRIMARY KEY (`id`));
-- create index "workspaces_slug_key" to table: "workspaces"
CREATE UNIQUE INDEX `workspaces_slug_key` ON `workspaces` (`slug`);
