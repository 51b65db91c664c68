-- reverse: drop index "usageevent_occurred_at" from table: "usage_events"
CREATE INDEX `usageevent_occurred_at` ON `usage_events` (`occurred_at`);
