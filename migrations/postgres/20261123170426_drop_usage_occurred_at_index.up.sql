-- drop index "usageevent_occurred_at" from table: "usage_events"
DROP INDEX "usageevent_occurred_at";
