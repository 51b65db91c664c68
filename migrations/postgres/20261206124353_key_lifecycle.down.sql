-- reverse: modify "workspaces" table
ALTER TABLE "workspaces" DROP COLUMN "active";
-- reverse: modify "api_keys" table
ALTER TABLE "api_keys" DROP COLUMN "deleted_by", DROP COLUMN "deleted_at", DROP COLUMN "credit_used_micros", DROP COLUMN "credit_quota_cents", DROP COLUMN "requests_reset_at", ADD COLUMN "spend_cap_cents" bigint NULL;
