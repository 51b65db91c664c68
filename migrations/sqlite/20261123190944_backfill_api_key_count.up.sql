-- Written by hand: the key count of the workspaces that existed before
-- api_key_count did. From here on the APIKey create hook keeps it
-- (ent/schema/apikey.go).
UPDATE workspaces SET api_key_count = (SELECT count(*) FROM api_keys WHERE api_keys.workspace_id = workspaces.id);
