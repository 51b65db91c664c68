-- modify "billing_periods" table
ALTER TABLE "billing_periods" ADD COLUMN "generation" bigint NOT NULL DEFAULT 0, ADD COLUMN "attempted_at" timestamptz NULL, ADD COLUMN "event_at" timestamptz NULL, ADD COLUMN "review_reason" character varying NOT NULL DEFAULT '';
-- create index "billingperiod_event_at_interval_end" to table: "billing_periods"
CREATE INDEX "billingperiod_event_at_interval_end" ON "billing_periods" ("event_at", "interval_end");
