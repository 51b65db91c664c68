-- modify "usage_events" table
ALTER TABLE "usage_events" ADD COLUMN "error_code" character varying NULL;
