-- modify "workspaces" table
-- Written by hand: Atlas rebuilt the table (create new_workspaces, copy,
-- drop workspaces), whose DROP fails on any database with rows referring to
-- a workspace: golang-migrate runs a migration in a transaction, where
-- PRAGMA foreign_keys = off does nothing. SQLite adds a NOT NULL column
-- with a default in place.
ALTER TABLE `workspaces` ADD COLUMN `api_key_count` integer NOT NULL DEFAULT (0);
