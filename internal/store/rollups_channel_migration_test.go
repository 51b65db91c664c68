package store_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	migratesqlite "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/migrations"
)

// TestRollupsChannelMigration: the migration that adds channel to
// usage_rollups (and to its unique key) runs on a database that already
// holds rollups, as every upgraded deployment does: no row is lost, the
// totals are unchanged, and every old row gets channel ”. SQLite rebuilds
// the table to do it, so this is where a dropped column or row would show.
func TestRollupsChannelMigration(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		url := storetest.SQLiteURL(t)
		_, dsn, _, _, err := store.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		checkRollupsChannelMigration(t, "sqlite", dsn, "sqlite")
	})
	t.Run("postgres", func(t *testing.T) {
		s := storetest.Postgres(t) // migrated: step back first
		checkRollupsChannelMigration(t, "pgx", storetest.DirectURL(s), "postgres")
	})
}

func checkRollupsChannelMigration(t *testing.T, driver, dsn, dir string) {
	ctx := context.Background()
	before := versionBefore(t, dir, "_rollups_channel.up.sql")
	m := migrator(t, driver, dsn, dir)
	if err := m.Migrate(before); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("migrate to %d: %v", before, err)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// SQLite's migration copies the rows with foreign keys enforced (its
	// PRAGMA foreign_keys = off is a no-op inside golang-migrate's
	// transaction), so the rollups' workspaces must exist there, as they do
	// in production. PostgreSQL only adds a column: its rollups need none.
	if dir == "sqlite" {
		for _, ws := range []string{"ws_a", "ws_b"} {
			insertWorkspace(ctx, t, conn, ws)
		}
	} else if _, err = conn.ExecContext(ctx, "SET session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	hour := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	q := "INSERT INTO usage_rollups (id, workspace_id, hour, api_key_id, model, requests, errors, cache_hits, " +
		"prompt_tokens, completion_tokens, cached_tokens, cost_micros, latency_ms_sum) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
	if dir == "postgres" {
		for i := 13; i >= 1; i-- {
			q = strings.Replace(q, "?", "$"+strconv.Itoa(14-i), 1)
		}
	}
	for i, r := range []struct {
		id, ws, key, model string
		h                  int
	}{
		{"ur_1", "ws_a", "k_1", "gpt-4o", 0}, {"ur_2", "ws_a", "k_1", "o3", 0},
		{"ur_3", "ws_a", "k_2", "gpt-4o", 1}, {"ur_4", "ws_b", "k_3", "gpt-4o", 0},
	} {
		n := int64(i + 1)
		if _, err := conn.ExecContext(ctx, q, r.id, r.ws, hour.Add(time.Duration(r.h)*time.Hour), r.key, r.model,
			n, n*2, n*3, n*100, n*200, n*4, n*1000, n*50); err != nil {
			t.Fatalf("insert old rollup: %v", err)
		}
	}
	totals := func() string {
		var s string
		err := conn.QueryRowContext(ctx, `SELECT CAST(COUNT(*) AS TEXT) || ' ' || CAST(SUM(requests) AS TEXT) || ' ' ||
			CAST(SUM(errors) AS TEXT) || ' ' || CAST(SUM(cache_hits) AS TEXT) || ' ' || CAST(SUM(prompt_tokens) AS TEXT) || ' ' ||
			CAST(SUM(completion_tokens) AS TEXT) || ' ' || CAST(SUM(cached_tokens) AS TEXT) || ' ' ||
			CAST(SUM(cost_micros) AS TEXT) || ' ' || CAST(SUM(latency_ms_sum) AS TEXT) FROM usage_rollups`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	old := totals()
	if err := m.Up(); err != nil {
		t.Fatalf("migrate up over old rollups: %v", err)
	}
	if got := totals(); got != old {
		t.Fatalf("totals after the migration = %s, want %s", got, old)
	}
	var nonEmpty int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM usage_rollups WHERE channel <> ''").Scan(&nonEmpty); err != nil {
		t.Fatal(err)
	}
	if nonEmpty != 0 {
		t.Fatalf("%d old rollups got a channel, want ''", nonEmpty)
	}
	// The old key plus a channel is a new row, not a conflict.
	ins := "INSERT INTO usage_rollups (id, workspace_id, hour, api_key_id, model, channel) VALUES ('ur_5', 'ws_a', ?, 'k_1', 'gpt-4o', 'azure-east')"
	if dir == "postgres" {
		ins = strings.Replace(ins, "?", "$1", 1)
	}
	if _, err := conn.ExecContext(ctx, ins, hour); err != nil {
		t.Fatalf("insert a channel's row beside an old one: %v", err)
	}
}

// insertWorkspace inserts a workspace id into SQLite's workspaces table of
// whatever version, filling each required column without a default.
func insertWorkspace(ctx context.Context, t *testing.T, conn *sql.Conn, id string) {
	rows, err := conn.QueryContext(ctx, "SELECT name, type FROM pragma_table_info('workspaces') WHERE \"notnull\" AND dflt_value IS NULL AND name <> 'id'")
	if err != nil {
		t.Fatal(err)
	}
	cols, marks, args := []string{"id"}, []string{"?"}, []any{id}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		var v any = id + "-" + name
		switch strings.ToLower(typ) {
		case "integer", "bool", "real", "numeric":
			v = 0
		case "datetime":
			v = time.Now().UTC()
		}
		cols, marks, args = append(cols, "`"+name+"`"), append(marks, "?"), append(args, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if _, err := conn.ExecContext(ctx, "INSERT INTO workspaces ("+strings.Join(cols, ", ")+") VALUES ("+strings.Join(marks, ", ")+")", args...); err != nil {
		t.Fatalf("insert workspace: %v", err)
	}
}

// versionBefore is the version of the migration before the one whose up
// file ends in suffix, in dir of migrations.FS.
func versionBefore(t *testing.T, dir, suffix string) uint {
	names, err := fs.Glob(migrations.FS, dir+"/*.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	var prev uint
	for _, n := range names { // sorted: versions are timestamps of one width
		v, err := strconv.ParseUint(strings.SplitN(strings.TrimPrefix(n, dir+"/"), "_", 2)[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(n, suffix) {
			if prev == 0 {
				t.Fatalf("no migration before %s", n)
			}
			return uint(prev)
		}
		prev = uint(v)
	}
	t.Fatalf("no migration %s*%s", dir, suffix)
	return 0
}

func migrator(t *testing.T, driver, dsn, dir string) *migrate.Migrate {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var drv database.Driver
	if dir == "postgres" {
		drv, err = migratepgx.WithInstance(db, &migratepgx.Config{})
	} else {
		drv, err = migratesqlite.WithInstance(db, &migratesqlite.Config{})
	}
	if err != nil {
		t.Fatal(err)
	}
	src, err := iofs.New(migrations.FS, dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewWithInstance("iofs", src, dir, drv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
