-- drop index "latencyrollup_workspace_id_id" from table: "latency_rollups"
DROP INDEX `latencyrollup_workspace_id_id`;
-- drop index "usageevent_workspace_id_id" from table: "usage_events"
DROP INDEX `usageevent_workspace_id_id`;
-- drop index "usagerollup_workspace_id_id" from table: "usage_rollups"
DROP INDEX `usagerollup_workspace_id_id`;
