-- Written by hand: what each existing key has spent, the floor of its
-- credit quota (api_keys.credit_used_micros). From here on the ledger adds
-- to it as it stores usage (internal/ledger.Ship). The hourly rollups hold
-- every hour's cost for good (retention prunes raw events only).
UPDATE api_keys SET credit_used_micros = (SELECT COALESCE(SUM(usage_rollups.cost_micros), 0) FROM usage_rollups WHERE usage_rollups.api_key_id = api_keys.id);
