package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	migratesqlite "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/oais/oais/migrations"
)

// MigrationStatus is where a database stands against the embedded migrations.
type MigrationStatus struct {
	Current uint   // 0: none applied
	Dirty   bool   // a migration failed half-way; fix by hand, then `migrate force`
	Latest  uint   // the newest embedded migration
	Pending []uint // embedded migrations not yet applied, oldest first
}

// migrator opens golang-migrate on a connection pool of its own: its
// drivers close the pool they are given, and the pgx one pins a connection.
// Close the result.
func (s *Store) migrator() (*migrate.Migrate, error) {
	db, err := sql.Open(s.driver, s.dsn)
	if err != nil {
		return nil, err
	}
	sub := "sqlite"
	var drv database.Driver
	if s.Dialect == dialect.Postgres {
		sub = "postgres"
		drv, err = migratepgx.WithInstance(db, &migratepgx.Config{})
	} else {
		drv, err = migratesqlite.WithInstance(db, &migratesqlite.Config{})
	}
	if err != nil {
		db.Close()
		return nil, Classify(err)
	}
	src, err := iofs.New(migrations.FS, sub)
	if err != nil {
		return nil, err
	}
	return migrate.NewWithInstance("iofs", src, s.Dialect, drv)
}

// Migrate applies every pending migration and returns how many it applied.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	before, err := s.MigrationStatus(ctx)
	if err != nil {
		return 0, err
	}
	if before.Dirty {
		return 0, fmt.Errorf("the database is marked dirty at migration %d: a migration failed half-way; repair it by hand", before.Current)
	}
	if len(before.Pending) == 0 {
		return 0, nil
	}
	m, err := s.migrator()
	if err != nil {
		return 0, err
	}
	defer m.Close()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return 0, fmt.Errorf("apply migrations: %w", Classify(err))
	}
	return len(before.Pending), nil
}

// MigrateVia applies every pending migration like Migrate, but through
// sessionURL when it is set: a direct connection to the same database.
// golang-migrate holds a session-level advisory lock while it migrates, and
// a transaction pooler (PgBouncer, pool_mode = transaction) may run its
// unlock on another server connection than its lock, leaving the lock
// behind. With nothing pending it opens nothing.
func (s *Store) MigrateVia(ctx context.Context, sessionURL string) (int, error) {
	if sessionURL == "" {
		return s.Migrate(ctx)
	}
	st, err := s.MigrationStatus(ctx)
	if err != nil || len(st.Pending) == 0 && !st.Dirty {
		return 0, err
	}
	direct, err := Open(ctx, sessionURL)
	if err != nil {
		return 0, err
	}
	defer direct.Close()
	return direct.Migrate(ctx)
}

// CheckSessionURL checks OAIS_DATABASE_LISTEN_URL against the database
// URL: a postgres:// URL, and only beside a PostgreSQL database.
func CheckSessionURL(databaseURL, sessionURL string) error {
	if sessionURL == "" {
		return nil
	}
	_, _, dia, _, err := ParseURL(sessionURL)
	switch {
	case err != nil:
		return err
	case dia != dialect.Postgres:
		return errors.New("must be a postgres:// URL: a direct connection to the database of OAIS_DATABASE_URL")
	}
	if _, _, dia, _, err := ParseURL(databaseURL); err == nil && dia != dialect.Postgres {
		return errors.New("is for PostgreSQL only; OAIS_DATABASE_URL is not postgres://")
	}
	return nil
}

// migrationsTable is golang-migrate's version table (both drivers'
// default): one row, the version applied and whether it failed half-way.
const migrationsTable = "schema_migrations"

// MigrationStatus reports the applied and pending migrations. It reads
// the version table with one query and takes no lock: golang-migrate's
// status took PostgreSQL's session-level migration lock and released it in
// a later statement, which a transaction pooler (PgBouncer) may send to
// another server connection; the lock then stayed behind and the next
// check blocked on it for good (TestMigrationStatusThroughTransactionPooler).
func (s *Store) MigrationStatus(ctx context.Context) (MigrationStatus, error) {
	var st MigrationStatus
	all, err := embeddedVersions(s.Dialect)
	if err != nil {
		return st, err
	}
	var v int64
	err = s.DB.QueryRowContext(ctx, "SELECT version, dirty FROM "+migrationsTable+" LIMIT 1").Scan(&v, &st.Dirty)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err != nil && missingTable(err):
		v = 0 // nothing applied yet
	case err != nil:
		return st, Classify(err)
	}
	st.Current = uint(max(v, 0))
	for _, e := range all {
		if e > st.Current {
			st.Pending = append(st.Pending, e)
		}
		st.Latest = e
	}
	return st, nil
}

func embeddedVersions(dia string) ([]uint, error) {
	sub := "sqlite"
	if dia == dialect.Postgres {
		sub = "postgres"
	}
	entries, err := fs.ReadDir(migrations.FS, sub)
	if err != nil {
		return nil, err
	}
	var out []uint
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".up.sql") {
			continue
		}
		n, err := strconv.ParseUint(name[:strings.IndexByte(name, '_')], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad version: %w", name, err)
		}
		out = append(out, uint(n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
