-- modify "api_keys" table
ALTER TABLE "api_keys" DROP COLUMN "spend_cap_cents", ADD COLUMN "requests_reset_at" timestamptz NULL, ADD COLUMN "credit_quota_cents" bigint NULL, ADD COLUMN "credit_used_micros" bigint NOT NULL DEFAULT 0, ADD COLUMN "deleted_at" timestamptz NULL, ADD COLUMN "deleted_by" character varying NULL;
-- modify "workspaces" table
ALTER TABLE "workspaces" ADD COLUMN "active" boolean NOT NULL DEFAULT true;
