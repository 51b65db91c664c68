-- reverse: create index "billingperiod_event_at_interval_end" to table: "billing_periods"
DROP INDEX "billingperiod_event_at_interval_end";
-- reverse: modify "billing_periods" table
ALTER TABLE "billing_periods" DROP COLUMN "review_reason", DROP COLUMN "event_at", DROP COLUMN "attempted_at", DROP COLUMN "generation";
