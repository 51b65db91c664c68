-- create "users" table
CREATE TABLE "users" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "email" character varying NOT NULL, "name" character varying NULL, "password_hash" character varying NULL, "oidc_issuer" character varying NULL, "oidc_subject" character varying NULL, "site_admin" boolean NOT NULL DEFAULT false, "disabled" boolean NOT NULL DEFAULT false, "last_sign_in_at" timestamptz NULL, PRIMARY KEY ("id"));
-- create index "user_oidc_issuer_oidc_subject" to table: "users"
CREATE INDEX "user_oidc_issuer_oidc_subject" ON "users" ("oidc_issuer", "oidc_subject");
-- create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX "users_email_key" ON "users" ("email");
-- create "model_prices" table
CREATE TABLE "model_prices" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "model" character varying NOT NULL, "input_micros_per_mtok" bigint NOT NULL, "cached_input_micros_per_mtok" bigint NOT NULL, "output_micros_per_mtok" bigint NOT NULL, PRIMARY KEY ("id"));
-- create index "model_prices_model_key" to table: "model_prices"
CREATE UNIQUE INDEX "model_prices_model_key" ON "model_prices" ("model");
-- create "signing_keys" table
CREATE TABLE "signing_keys" ("id" character varying NOT NULL, "kid" character varying NOT NULL, "private_jwk" bytea NOT NULL, "created_at" timestamptz NOT NULL, "retired_at" timestamptz NULL, PRIMARY KEY ("id"));
-- create index "signing_keys_kid_key" to table: "signing_keys"
CREATE UNIQUE INDEX "signing_keys_kid_key" ON "signing_keys" ("kid");
-- create "stripe_events" table
CREATE TABLE "stripe_events" ("id" character varying NOT NULL, "type" character varying NOT NULL, "received_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
-- create "workspaces" table
CREATE TABLE "workspaces" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "slug" character varying NOT NULL, "status" character varying NOT NULL DEFAULT 'ACTIVE', "suspended_reason" character varying NULL, "rpm" bigint NOT NULL DEFAULT 0, "tpm" bigint NOT NULL DEFAULT 0, "monthly_token_quota" bigint NOT NULL DEFAULT 0, "spend_cap_cents" bigint NULL, "max_keys" bigint NOT NULL DEFAULT 100, PRIMARY KEY ("id"));
-- create index "workspaces_slug_key" to table: "workspaces"
CREATE UNIQUE INDEX "workspaces_slug_key" ON "workspaces" ("slug");
-- create "api_keys" table
CREATE TABLE "api_keys" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "label" character varying NOT NULL, "secret_hash" character varying NOT NULL, "masked_key" character varying NOT NULL, "status" character varying NOT NULL DEFAULT 'ACTIVE', "revoke_reason" character varying NULL, "revoked_at" timestamptz NULL, "revoked_by" character varying NULL, "expires_at" timestamptz NULL, "max_requests" bigint NOT NULL DEFAULT 0, "request_count" bigint NOT NULL DEFAULT 0, "cache_hits" bigint NOT NULL DEFAULT 0, "allowed_models" jsonb NULL, "ip_allowlist" jsonb NULL, "rpm" bigint NULL, "tpm" bigint NULL, "spend_cap_cents" bigint NULL, "cache_enabled" boolean NOT NULL DEFAULT false, "last_used_at" timestamptz NULL, "grace_until" timestamptz NULL, "leaked_at" timestamptz NULL, "leak_source" character varying NULL, "workspace_id" character varying NOT NULL, "created_by_id" character varying NULL, "rotated_from_id" character varying NULL, PRIMARY KEY ("id"), CONSTRAINT "api_keys_api_keys_rotated_from" FOREIGN KEY ("rotated_from_id") REFERENCES "api_keys" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "api_keys_users_created_by" FOREIGN KEY ("created_by_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "api_keys_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- create index "api_keys_rotated_from_id_key" to table: "api_keys"
CREATE UNIQUE INDEX "api_keys_rotated_from_id_key" ON "api_keys" ("rotated_from_id");
-- create index "api_keys_secret_hash_key" to table: "api_keys"
CREATE UNIQUE INDEX "api_keys_secret_hash_key" ON "api_keys" ("secret_hash");
-- create index "apikey_updated_at" to table: "api_keys"
CREATE INDEX "apikey_updated_at" ON "api_keys" ("updated_at");
-- create index "apikey_workspace_id" to table: "api_keys"
CREATE INDEX "apikey_workspace_id" ON "api_keys" ("workspace_id");
-- create index "apikey_workspace_id_created_at" to table: "api_keys"
CREATE INDEX "apikey_workspace_id_created_at" ON "api_keys" ("workspace_id", "created_at");
-- create "audit_events" table
CREATE TABLE "audit_events" ("id" character varying NOT NULL, "actor_id" character varying NULL, "actor_email" character varying NULL, "action" character varying NOT NULL, "target_type" character varying NULL, "target_id" character varying NULL, "ip" character varying NULL, "details" jsonb NULL, "created_at" timestamptz NOT NULL, "workspace_id" character varying NULL, PRIMARY KEY ("id"), CONSTRAINT "audit_events_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE SET NULL);
-- create index "auditevent_action" to table: "audit_events"
CREATE INDEX "auditevent_action" ON "audit_events" ("action");
-- create index "auditevent_workspace_id_created_at" to table: "audit_events"
CREATE INDEX "auditevent_workspace_id_created_at" ON "audit_events" ("workspace_id", "created_at");
-- create "billing_accounts" table
CREATE TABLE "billing_accounts" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "stripe_customer_id" character varying NULL, "stripe_subscription_id" character varying NULL, "standing" character varying NOT NULL DEFAULT 'ACTIVE', "past_due_since" timestamptz NULL, "standing_reason" character varying NULL, "suspend_at" timestamptz NULL, "standing_event_at" timestamptz NULL, "alert_webhook_url" character varying NULL, "last_alert_percent" bigint NOT NULL DEFAULT 0, "last_alert_month" character varying NULL, "workspace_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "billing_accounts_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- create index "billingaccount_stripe_customer_id" to table: "billing_accounts"
CREATE UNIQUE INDEX "billingaccount_stripe_customer_id" ON "billing_accounts" ("stripe_customer_id");
-- create index "billingaccount_workspace_id" to table: "billing_accounts"
CREATE INDEX "billingaccount_workspace_id" ON "billing_accounts" ("workspace_id");
-- create index "billingaccount_workspace_unique" to table: "billing_accounts"
CREATE UNIQUE INDEX "billingaccount_workspace_unique" ON "billing_accounts" ("workspace_id");
-- create "billing_periods" table
CREATE TABLE "billing_periods" ("id" character varying NOT NULL, "interval_start" timestamptz NOT NULL, "interval_end" timestamptz NOT NULL, "cost_micros" bigint NOT NULL, "tokens" bigint NOT NULL DEFAULT 0, "identifier" character varying NOT NULL, "sent_at" timestamptz NULL, "attempts" bigint NOT NULL DEFAULT 0, "last_error" character varying NULL, "created_at" timestamptz NOT NULL, "workspace_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "billing_periods_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- create index "billing_periods_identifier_key" to table: "billing_periods"
CREATE UNIQUE INDEX "billing_periods_identifier_key" ON "billing_periods" ("identifier");
-- create index "billingperiod_sent_at" to table: "billing_periods"
CREATE INDEX "billingperiod_sent_at" ON "billing_periods" ("sent_at");
-- create index "billingperiod_workspace_id" to table: "billing_periods"
CREATE INDEX "billingperiod_workspace_id" ON "billing_periods" ("workspace_id");
-- create index "billingperiod_workspace_id_interval_start" to table: "billing_periods"
CREATE UNIQUE INDEX "billingperiod_workspace_id_interval_start" ON "billing_periods" ("workspace_id", "interval_start");
-- create "latency_rollups" table
CREATE TABLE "latency_rollups" ("id" character varying NOT NULL, "hour" timestamptz NOT NULL, "bucket" bigint NOT NULL, "count" bigint NOT NULL DEFAULT 0, "workspace_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "latency_rollups_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- create index "latencyrollup_workspace_id" to table: "latency_rollups"
CREATE INDEX "latencyrollup_workspace_id" ON "latency_rollups" ("workspace_id");
-- create index "latencyrollup_workspace_id_hour_bucket" to table: "latency_rollups"
CREATE UNIQUE INDEX "latencyrollup_workspace_id_hour_bucket" ON "latency_rollups" ("workspace_id", "hour", "bucket");
-- create "memberships" table
CREATE TABLE "memberships" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "role" character varying NOT NULL, "workspace_id" character varying NOT NULL, "user_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "memberships_users_user" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "memberships_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- create index "membership_user_id" to table: "memberships"
CREATE INDEX "membership_user_id" ON "memberships" ("user_id");
-- create index "membership_workspace_id" to table: "memberships"
CREATE INDEX "membership_workspace_id" ON "memberships" ("workspace_id");
-- create index "membership_workspace_id_user_id" to table: "memberships"
CREATE UNIQUE INDEX "membership_workspace_id_user_id" ON "memberships" ("workspace_id", "user_id");
-- create "sessions" table
CREATE TABLE "sessions" ("id" character varying NOT NULL, "email" character varying NULL, "method" character varying NULL, "ip" character varying NULL, "user_agent" character varying NULL, "created_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "revoked_at" timestamptz NULL, "user_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "sessions_users_user" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- create index "session_user_id_created_at" to table: "sessions"
CREATE INDEX "session_user_id_created_at" ON "sessions" ("user_id", "created_at");
-- create "refresh_tokens" table
CREATE TABLE "refresh_tokens" ("id" character varying NOT NULL, "token_hash" character varying NOT NULL, "created_at" timestamptz NOT NULL, "expires_at" timestamptz NOT NULL, "used_at" timestamptz NULL, "session_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "refresh_tokens_sessions_session" FOREIGN KEY ("session_id") REFERENCES "sessions" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- create index "refresh_tokens_token_hash_key" to table: "refresh_tokens"
CREATE UNIQUE INDEX "refresh_tokens_token_hash_key" ON "refresh_tokens" ("token_hash");
-- create index "refreshtoken_session_id" to table: "refresh_tokens"
CREATE INDEX "refreshtoken_session_id" ON "refresh_tokens" ("session_id");
-- create "upstreams" table
CREATE TABLE "upstreams" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "base_url" character varying NOT NULL, "api_key_ciphertext" bytea NULL, "models" jsonb NULL, "workspace_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "upstreams_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- create index "upstream_updated_at" to table: "upstreams"
CREATE INDEX "upstream_updated_at" ON "upstreams" ("updated_at");
-- create index "upstream_workspace_id" to table: "upstreams"
CREATE INDEX "upstream_workspace_id" ON "upstreams" ("workspace_id");
-- create index "upstream_workspace_unique" to table: "upstreams"
CREATE UNIQUE INDEX "upstream_workspace_unique" ON "upstreams" ("workspace_id");
-- create "usage_events" table
CREATE TABLE "usage_events" ("id" character varying NOT NULL, "request_id" character varying NOT NULL, "api_key_id" character varying NOT NULL, "model" character varying NOT NULL, "endpoint" character varying NOT NULL, "stream" boolean NOT NULL DEFAULT false, "prompt_tokens" bigint NOT NULL DEFAULT 0, "completion_tokens" bigint NOT NULL DEFAULT 0, "cached_tokens" bigint NOT NULL DEFAULT 0, "cost_micros" bigint NOT NULL DEFAULT 0, "status" bigint NOT NULL, "latency_ms" bigint NOT NULL DEFAULT 0, "cache_hit" boolean NOT NULL DEFAULT false, "source" character varying NOT NULL, "estimate_reason" character varying NULL, "client_ip" character varying NULL, "occurred_at" timestamptz NOT NULL, "ingested_at" timestamptz NOT NULL, "billing_period_id" character varying NULL, "workspace_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "usage_events_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- create index "usage_events_request_id_key" to table: "usage_events"
CREATE UNIQUE INDEX "usage_events_request_id_key" ON "usage_events" ("request_id");
-- create index "usageevent_api_key_id_occurred_at" to table: "usage_events"
CREATE INDEX "usageevent_api_key_id_occurred_at" ON "usage_events" ("api_key_id", "occurred_at");
-- create index "usageevent_billing_period_id_ingested_at" to table: "usage_events"
CREATE INDEX "usageevent_billing_period_id_ingested_at" ON "usage_events" ("billing_period_id", "ingested_at");
-- create index "usageevent_occurred_at" to table: "usage_events"
CREATE INDEX "usageevent_occurred_at" ON "usage_events" ("occurred_at");
-- create index "usageevent_workspace_id" to table: "usage_events"
CREATE INDEX "usageevent_workspace_id" ON "usage_events" ("workspace_id");
-- create index "usageevent_workspace_id_occurred_at" to table: "usage_events"
CREATE INDEX "usageevent_workspace_id_occurred_at" ON "usage_events" ("workspace_id", "occurred_at");
-- create "usage_rollups" table
CREATE TABLE "usage_rollups" ("id" character varying NOT NULL, "api_key_id" character varying NOT NULL, "model" character varying NOT NULL, "hour" timestamptz NOT NULL, "requests" bigint NOT NULL DEFAULT 0, "errors" bigint NOT NULL DEFAULT 0, "cache_hits" bigint NOT NULL DEFAULT 0, "prompt_tokens" bigint NOT NULL DEFAULT 0, "completion_tokens" bigint NOT NULL DEFAULT 0, "cached_tokens" bigint NOT NULL DEFAULT 0, "cost_micros" bigint NOT NULL DEFAULT 0, "latency_ms_sum" bigint NOT NULL DEFAULT 0, "workspace_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "usage_rollups_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- create index "usagerollup_api_key_id_hour" to table: "usage_rollups"
CREATE INDEX "usagerollup_api_key_id_hour" ON "usage_rollups" ("api_key_id", "hour");
-- create index "usagerollup_workspace_id" to table: "usage_rollups"
CREATE INDEX "usagerollup_workspace_id" ON "usage_rollups" ("workspace_id");
-- create index "usagerollup_workspace_id_hour_api_key_id_model" to table: "usage_rollups"
CREATE UNIQUE INDEX "usagerollup_workspace_id_hour_api_key_id_model" ON "usage_rollups" ("workspace_id", "hour", "api_key_id", "model");
