-- reverse: create index "usagerollup_workspace_id_id" to table: "usage_rollups"
DROP INDEX "usagerollup_workspace_id_id";
-- reverse: drop index "usagerollup_workspace_id" from table: "usage_rollups"
CREATE INDEX "usagerollup_workspace_id" ON "usage_rollups" ("workspace_id");
-- reverse: create index "usageevent_workspace_id_id" to table: "usage_events"
DROP INDEX "usageevent_workspace_id_id";
-- reverse: drop index "usageevent_workspace_id" from table: "usage_events"
CREATE INDEX "usageevent_workspace_id" ON "usage_events" ("workspace_id");
-- reverse: create index "upstream_workspace_id_id" to table: "upstreams"
DROP INDEX "upstream_workspace_id_id";
-- reverse: drop index "upstream_workspace_id" from table: "upstreams"
CREATE INDEX "upstream_workspace_id" ON "upstreams" ("workspace_id");
-- reverse: create index "membership_workspace_id_id" to table: "memberships"
DROP INDEX "membership_workspace_id_id";
-- reverse: drop index "membership_workspace_id" from table: "memberships"
CREATE INDEX "membership_workspace_id" ON "memberships" ("workspace_id");
-- reverse: create index "latencyrollup_workspace_id_id" to table: "latency_rollups"
DROP INDEX "latencyrollup_workspace_id_id";
-- reverse: drop index "latencyrollup_workspace_id" from table: "latency_rollups"
CREATE INDEX "latencyrollup_workspace_id" ON "latency_rollups" ("workspace_id");
-- reverse: create index "billingperiod_workspace_id_id" to table: "billing_periods"
DROP INDEX "billingperiod_workspace_id_id";
-- reverse: drop index "billingperiod_workspace_id" from table: "billing_periods"
CREATE INDEX "billingperiod_workspace_id" ON "billing_periods" ("workspace_id");
-- reverse: create index "billingaccount_workspace_id_id" to table: "billing_accounts"
DROP INDEX "billingaccount_workspace_id_id";
-- reverse: drop index "billingaccount_workspace_id" from table: "billing_accounts"
CREATE INDEX "billingaccount_workspace_id" ON "billing_accounts" ("workspace_id");
-- reverse: create index "apikey_workspace_id_id" to table: "api_keys"
DROP INDEX "apikey_workspace_id_id";
-- reverse: drop index "apikey_workspace_id" from table: "api_keys"
CREATE INDEX "apikey_workspace_id" ON "api_keys" ("workspace_id");
