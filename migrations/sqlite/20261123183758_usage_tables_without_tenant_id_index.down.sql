-- reverse: drop index "usagerollup_workspace_id_id" from table: "usage_rollups"
CREATE INDEX `usagerollup_workspace_id_id` ON `usage_rollups` (`workspace_id`, `id`);
-- reverse: drop index "usageevent_workspace_id_id" from table: "usage_events"
CREATE INDEX `usageevent_workspace_id_id` ON `usage_events` (`workspace_id`, `id`);
-- reverse: drop index "latencyrollup_workspace_id_id" from table: "latency_rollups"
CREATE INDEX `latencyrollup_workspace_id_id` ON `latency_rollups` (`workspace_id`, `id`);
