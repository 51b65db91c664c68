-- reverse: modify "usage_events" table
ALTER TABLE "usage_events" DROP COLUMN "error_code";
