-- reverse: create index "billingperiod_event_at_interval_end" to table: "billing_periods"
DROP INDEX `billingperiod_event_at_interval_end`;
-- reverse: create index "billingperiod_sent_at" to table: "billing_periods"
DROP INDEX `billingperiod_sent_at`;
-- reverse: create index "billingperiod_workspace_id_interval_start" to table: "billing_periods"
DROP INDEX `billingperiod_workspace_id_interval_start`;
-- reverse: create index "billingperiod_workspace_id_id" to table: "billing_periods"
DROP INDEX `billingperiod_workspace_id_id`;
-- reverse: create index "billing_periods_identifier_key" to table: "billing_periods"
DROP INDEX `billing_periods_identifier_key`;
-- reverse: create "new_billing_periods" table
DROP TABLE `new_billing_periods`;
