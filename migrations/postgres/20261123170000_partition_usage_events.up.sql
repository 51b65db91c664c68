-- Hand-written (ent cannot express it; migrations.PartitionedTables keeps
-- `make generate` from undoing it): usage_events becomes a table partitioned
-- by month of occurred_at, so that retention drops whole months and each
-- month's indexes stay the size of a month.
--
-- PostgreSQL requires the partition key in every unique index, so the primary
-- key becomes (id, occurred_at) and request ids are unique per
-- (request_id, occurred_at). A record keeps its occurred_at through every retry
-- (the gateway's spool stores it), so a replayed record still conflicts and is
-- skipped: shipping stays idempotent.
ALTER TABLE "usage_events" RENAME TO "usage_events_unpartitioned";
ALTER TABLE "usage_events_unpartitioned" RENAME CONSTRAINT "usage_events_pkey" TO "usage_events_unpartitioned_pkey";
ALTER TABLE "usage_events_unpartitioned" RENAME CONSTRAINT "usage_events_workspaces_workspace" TO "usage_events_unpartitioned_workspace";
ALTER INDEX "usage_events_request_id_key" RENAME TO "usage_events_unpartitioned_request_id_key";
ALTER INDEX "usageevent_api_key_id_occurred_at" RENAME TO "usage_events_unpartitioned_api_key_id_occurred_at";
ALTER INDEX "usageevent_billing_period_id_ingested_at" RENAME TO "usage_events_unpartitioned_billing_period_id_ingested_at";
ALTER INDEX "usageevent_occurred_at" RENAME TO "usage_events_unpartitioned_occurred_at";
ALTER INDEX "usageevent_workspace_id" RENAME TO "usage_events_unpartitioned_workspace_id";
ALTER INDEX "usageevent_workspace_id_occurred_at" RENAME TO "usage_events_unpartitioned_workspace_id_occurred_at";

CREATE TABLE "usage_events" ("id" character varying NOT NULL, "request_id" character varying NOT NULL, "api_key_id" character varying NOT NULL, "model" character varying NOT NULL, "endpoint" character varying NOT NULL, "stream" boolean NOT NULL DEFAULT false, "prompt_tokens" bigint NOT NULL DEFAULT 0, "completion_tokens" bigint NOT NULL DEFAULT 0, "cached_tokens" bigint NOT NULL DEFAULT 0, "cost_micros" bigint NOT NULL DEFAULT 0, "status" bigint NOT NULL, "latency_ms" bigint NOT NULL DEFAULT 0, "cache_hit" boolean NOT NULL DEFAULT false, "source" character varying NOT NULL, "estimate_reason" character varying NULL, "client_ip" character varying NULL, "occurred_at" timestamptz NOT NULL, "ingested_at" timestamptz NOT NULL, "billing_period_id" character varying NULL, "workspace_id" character varying NOT NULL, PRIMARY KEY ("id", "occurred_at"), CONSTRAINT "usage_events_workspaces_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION) PARTITION BY RANGE ("occurred_at");
CREATE UNIQUE INDEX "usage_events_request_id_key" ON "usage_events" ("request_id", "occurred_at");
CREATE INDEX "usageevent_api_key_id_occurred_at" ON "usage_events" ("api_key_id", "occurred_at");
CREATE INDEX "usageevent_billing_period_id_ingested_at" ON "usage_events" ("billing_period_id", "ingested_at");
CREATE INDEX "usageevent_occurred_at" ON "usage_events" ("occurred_at");
CREATE INDEX "usageevent_workspace_id" ON "usage_events" ("workspace_id");
CREATE INDEX "usageevent_workspace_id_occurred_at" ON "usage_events" ("workspace_id", "occurred_at");

-- Rows of a month without its partition land here, so an insert never fails;
-- oais_usage_partition moves them into the month's partition when it makes it.
CREATE TABLE "usage_events_default" PARTITION OF "usage_events" DEFAULT;

-- oais_usage_partition makes the partition of the UTC month that holds at
-- (usage_events_pYYYYMM) unless it exists, moving that month's rows out of the
-- default partition first, and returns its name. The control plane calls it
-- for this month and the next ones every hour (internal/usageparts).
CREATE FUNCTION oais_usage_partition(at timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
	lo timestamptz := m AT TIME ZONE 'UTC';
	hi timestamptz := (m + interval '1 month') AT TIME ZONE 'UTC';
	part text := 'usage_events_p' || to_char(m, 'YYYYMM');
BEGIN
	-- One maker at a time: two control planes must not race on one month.
	PERFORM pg_advisory_xact_lock(hashtext('oais_usage_partition'));
	IF to_regclass(quote_ident(part)) IS NOT NULL THEN
		RETURN part;
	END IF;
	EXECUTE format('CREATE TABLE %I (LIKE usage_events INCLUDING DEFAULTS)', part);
	EXECUTE format('WITH moved AS (DELETE FROM usage_events_default WHERE occurred_at >= %L AND occurred_at < %L RETURNING *) INSERT INTO %I SELECT * FROM moved', lo, hi, part);
	EXECUTE format('ALTER TABLE usage_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
	RETURN part;
END $$;

-- Partitions for every month already holding events, this month and the next two.
SELECT oais_usage_partition(m) FROM (
	SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m FROM "usage_events_unpartitioned"
	UNION SELECT now() UNION SELECT now() + interval '1 month' UNION SELECT now() + interval '2 months'
) months;

INSERT INTO "usage_events" SELECT * FROM "usage_events_unpartitioned";
DROP TABLE "usage_events_unpartitioned";
