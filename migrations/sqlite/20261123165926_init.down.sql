-- reverse: create index "workspaces_slug_key" to table: "workspaces"
DROP INDEX `workspaces_slug_key`;
-- reverse: create "workspaces" table
DROP TABLE `workspaces`;
-- reverse: create index "user_oidc_issuer_oidc_subject" to table: "users"
DROP INDEX `user_oidc_issuer_oidc_subject`;
-- reverse: create index "users_email_key" to table: "users"
DROP INDEX `users_email_key`;
-- reverse: create "users" table
DROP TABLE `users`;
-- reverse: create index "usagerollup_api_key_id_hour" to table: "usage_rollups"
DROP INDEX `usagerollup_api_key_id_hour`;
-- reverse: create index "usagerollup_workspace_id_hour_api_key_id_model" to table: "usage_rollups"
DROP INDEX `usagerollup_workspace_id_hour_api_key_id_model`;
-- reverse: create index "usagerollup_workspace_id" to table: "usage_rollups"
DROP INDEX `usagerollup_workspace_id`;
-- reverse: create "usage_rollups" table
DROP TABLE `usage_rollups`;
-- reverse: create index "usageevent_billing_period_id_ingested_at" to table: "usage_events"
DROP INDEX `usageevent_billing_period_id_ingested_at`;
-- reverse: create index "usageevent_api_key_id_occurred_at" to table: "usage_events"
DROP INDEX `usageevent_api_key_id_occurred_at`;
-- reverse: create index "usageevent_workspace_id_occurred_at" to table: "usage_events"
DROP INDEX `usageevent_workspace_id_occurred_at`;
-- reverse: create index "usageevent_occurred_at" to table: "usage_events"
DROP INDEX `usageevent_occurred_at`;
-- reverse: create index "usageevent_workspace_id" to table: "usage_events"
DROP INDEX `usageevent_workspace_id`;
-- reverse: create index "usage_events_request_id_key" to table: "usage_events"
DROP INDEX `usage_events_request_id_key`;
-- reverse: create "usage_events" table
DROP TABLE `usage_events`;
-- reverse: create index "upstream_updated_at" to table: "upstreams"
DROP INDEX `upstream_updated_at`;
-- reverse: create index "upstream_workspace_unique" to table: "upstreams"
DROP INDEX `upstream_workspace_unique`;
-- reverse: create index "upstream_workspace_id" to table: "upstreams"
DROP INDEX `upstream_workspace_id`;
-- reverse: create "upstreams" table
DROP TABLE `upstreams`;
-- reverse: create "stripe_events" table
DROP TABLE `stripe_events`;
-- reverse: create index "signing_keys_kid_key" to table: "signing_keys"
DROP INDEX `signing_keys_kid_key`;
-- reverse: create "signing_keys" table
DROP TABLE `signing_keys`;
-- reverse: create index "session_user_id_created_at" to table: "sessions"
DROP INDEX `session_user_id_created_at`;
-- reverse: create "sessions" table
DROP TABLE `sessions`;
-- reverse: create index "refreshtoken_session_id" to table: "refresh_tokens"
DROP INDEX `refreshtoken_session_id`;
-- reverse: create index "refresh_tokens_token_hash_key" to table: "refresh_tokens"
DROP INDEX `refresh_tokens_token_hash_key`;
-- reverse: create "refresh_tokens" table
DROP TABLE `refresh_tokens`;
-- reverse: create index "model_prices_model_key" to table: "model_prices"
DROP INDEX `model_prices_model_key`;
-- reverse: create "model_prices" table
DROP TABLE `model_prices`;
-- reverse: create index "membership_user_id" to table: "memberships"
DROP INDEX `membership_user_id`;
-- reverse: create index "membership_workspace_id_user_id" to table: "memberships"
DROP INDEX `membership_workspace_id_user_id`;
-- reverse: create index "membership_workspace_id" to table: "memberships"
DROP INDEX `membership_workspace_id`;
-- reverse: create "memberships" table
DROP TABLE `memberships`;
-- reverse: create index "latencyrollup_workspace_id_hour_bucket" to table: "latency_rollups"
DROP INDEX `latencyrollup_workspace_id_hour_bucket`;
-- reverse: create index "latencyrollup_workspace_id" to table: "latency_rollups"
DROP INDEX `latencyrollup_workspace_id`;
-- reverse: create "latency_rollups" table
DROP TABLE `latency_rollups`;
-- reverse: create index "billingperiod_sent_at" to table: "billing_periods"
DROP INDEX `billingperiod_sent_at`;
-- reverse: create index "billingperiod_workspace_id_interval_start" to table: "billing_periods"
DROP INDEX `billingperiod_workspace_id_interval_start`;
-- reverse: create index "billingperiod_workspace_id" to table: "billing_periods"
DROP INDEX `billingperiod_workspace_id`;
-- reverse: create index "billing_periods_identifier_key" to table: "billing_periods"
DROP INDEX `billing_periods_identifier_key`;
-- reverse: create "billing_periods" table
DROP TABLE `billing_periods`;
-- reverse: create index "billingaccount_stripe_customer_id" to table: "billing_accounts"
DROP INDEX `billingaccount_stripe_customer_id`;
-- reverse: create index "billingaccount_workspace_unique" to table: "billing_accounts"
DROP INDEX `billingaccount_workspace_unique`;
-- reverse: create index "billingaccount_workspace_id" to table: "billing_accounts"
DROP INDEX `billingaccount_workspace_id`;
-- reverse: create "billing_accounts" table
DROP TABLE `billing_accounts`;
-- reverse: create index "auditevent_action" to table: "audit_events"
DROP INDEX `auditevent_action`;
-- reverse: create index "auditevent_workspace_id_created_at" to table: "audit_events"
DROP INDEX `auditevent_workspace_id_created_at`;
-- reverse: create "audit_events" table
DROP TABLE `audit_events`;
-- reverse: create index "apikey_updated_at" to table: "api_keys"
DROP INDEX `apikey_updated_at`;
-- reverse: create index "apikey_workspace_id_created_at" to table: "api_keys"
DROP INDEX `apikey_workspace_id_created_at`;
-- reverse: create index "apikey_workspace_id" to table: "api_keys"
DROP INDEX `apikey_workspace_id`;
-- reverse: create index "api_keys_rotated_from_id_key" to table: "api_keys"
DROP INDEX `api_keys_rotated_from_id_key`;
-- reverse: create index "api_keys_secret_hash_key" to table: "api_keys"
DROP INDEX `api_keys_secret_hash_key`;
-- reverse: create "api_keys" table
DROP TABLE `api_keys`;
