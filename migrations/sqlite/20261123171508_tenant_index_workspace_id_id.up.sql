-- drop index "apikey_workspace_id" from table: "api_keys"
DROP INDEX `apikey_workspace_id`;
-- create index "apikey_workspace_id_id" to table: "api_keys"
CREATE INDEX `apikey_workspace_id_id` ON `api_keys` (`workspace_id`, `id`);
-- drop index "billingaccount_workspace_id" from table: "billing_accounts"
DROP INDEX `billingaccount_workspace_id`;
-- create index "billingaccount_workspace_id_id" to table: "billing_accounts"
CREATE INDEX `billingaccount_workspace_id_id` ON `billing_accounts` (`workspace_id`, `id`);
-- drop index "billingperiod_workspace_id" from table: "billing_periods"
DROP INDEX `billingperiod_workspace_id`;
-- create index "billingperiod_workspace_id_id" to table: "billing_periods"
CREATE INDEX `billingperiod_workspace_id_id` ON `billing_periods` (`workspace_id`, `id`);
-- drop index "latencyrollup_workspace_id" from table: "latency_rollups"
DROP INDEX `latencyrollup_workspace_id`;
-- create index "latencyrollup_workspace_id_id" to table: "latency_rollups"
CREATE INDEX `latencyrollup_workspace_id_id` ON `latency_rollups` (`workspace_id`, `id`);
-- drop index "membership_workspace_id" from table: "memberships"
DROP INDEX `membership_workspace_id`;
-- create index "membership_workspace_id_id" to table: "memberships"
CREATE INDEX `membership_workspace_id_id` ON `memberships` (`workspace_id`, `id`);
-- drop index "upstream_workspace_id" from table: "upstreams"
DROP INDEX `upstream_workspace_id`;
-- create index "upstream_workspace_id_id" to table: "upstreams"
CREATE INDEX `upstream_workspace_id_id` ON `upstreams` (`workspace_id`, `id`);
-- drop index "usageevent_workspace_id" from table: "usage_events"
DROP INDEX `usageevent_workspace_id`;
-- create index "usageevent_workspace_id_id" to table: "usage_events"
CREATE INDEX `usageevent_workspace_id_id` ON `usage_events` (`workspace_id`, `id`);
-- drop index "usagerollup_workspace_id" from table: "usage_rollups"
DROP INDEX `usagerollup_workspace_id`;
-- create index "usagerollup_workspace_id_id" to table: "usage_rollups"
CREATE INDEX `usagerollup_workspace_id_id` ON `usage_rollups` (`workspace_id`, `id`);
