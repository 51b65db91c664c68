// Package storetest gives tests real databases: a fresh SQLite file, and a
// fresh PostgreSQL database cloned from one migrated template per test
// package (STYLE rule 15). Call Main from TestMain so the package's
// databases are dropped at the end.
//
// With OAIS_TEST_PGBOUNCER=1 (make test-pgbouncer) Main starts a private
// PgBouncer in transaction pooling mode in front of the server, and every
// PostgreSQL store and URL it hands out goes through it: the databases are
// still created, migrated and dropped directly on the server (the pooler
// would keep the template busy), the tests' own queries go through the
// bouncer.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/oais/oais/internal/pgbouncertest"
	"github.com/oais/oais/internal/store"
)

// DefaultPostgres is the server tests use unless OAIS_TEST_DATABASE_URL says otherwise.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresServer returns the PostgreSQL server URL for tests.
func PostgresServer() string {
	if v := os.Getenv("OAIS_TEST_DATABASE_URL"); v != "" {
		return v
	}
	return DefaultPostgres
}

var (
	mu        sync.Mutex
	template  string // this package's migrated template database
	created   []string
	setupErr  error
	setupOnce sync.Once
)

// PgBouncerEnv names the variable that routes the tests' PostgreSQL
// connections through a private PgBouncer (transaction pooling).
const PgBouncerEnv = "OAIS_TEST_PGBOUNCER"

// bouncer is the package's PgBouncer when PgBouncerEnv is set.
var bouncer *pgbouncertest.Server

// Main runs the package's tests and then drops every database they made.
func Main(m *testing.M) {
	if os.Getenv(PgBouncerEnv) == "1" {
		b, err := pgbouncertest.Start(PostgresServer())
		if err != nil {
			fmt.Fprintf(os.Stderr, "storetest: %s=1: %v\n", PgBouncerEnv, err)
			os.Exit(1)
		}
		bouncer = b
	}
	code := m.Run()
	cleanup()
	if bouncer != nil {
		bouncer.Close()
	}
	os.Exit(code)
}

// ThroughPgBouncer reports whether the package's PostgreSQL connections go
// through PgBouncer (PgBouncerEnv).
func ThroughPgBouncer() bool { return bouncer != nil }

// PooledURL returns the URL of s's PostgreSQL database through PgBouncer in
// transaction pooling mode, with the query mode a pooler needs: the
// package's bouncer under PgBouncerEnv, else a private one started for the
// test (which is skipped, naming the command, when pgbouncer is not
// installed).
func PooledURL(t testing.TB, s *store.Store) string {
	t.Helper()
	if bouncer != nil {
		return s.URL.String()
	}
	b, err := pgbouncertest.Start(PostgresServer())
	if err != nil {
		t.Skipf("PgBouncer: %v", err)
	}
	t.Cleanup(b.Close)
	return withPoolerMode(b.URL(s.URL.String()))
}

// withPoolerMode adds the query mode docs/architecture.md prescribes behind
// a transaction pooler to a PostgreSQL URL.
func withPoolerMode(raw string) string {
	u, _ := url.Parse(raw)
	q := u.Query()
	q.Set("default_query_exec_mode", "cache_describe")
	u.RawQuery = q.Encode()
	return u.String()
}

// clientURL is the URL tests connect to database name at: through the
// bouncer when there is one, with the query mode docs/architecture.md
// prescribes behind a transaction pooler, else directly.
func clientURL(name string) string {
	u := withDB(PostgresServer(), name)
	if bouncer == nil {
		return u
	}
	return withPoolerMode(bouncer.URL(u))
}

// DirectURL is the URL of s's database on the server itself, never through
// the package's bouncer: what OAIS_DATABASE_LISTEN_URL holds.
func DirectURL(s *store.Store) string {
	return withDB(PostgresServer(), strings.TrimPrefix(s.URL.Path, "/"))
}

func admin(ctx context.Context) (*sql.DB, error) {
	db, err := sql.Open("pgx", PostgresServer())
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("PostgreSQL at %s is not reachable (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): %w", redacted(PostgresServer()), err)
	}
	return db, nil
}

func redacted(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "OAIS_TEST_DATABASE_URL"
	}
	return u.Redacted()
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func withDB(server, name string) string {
	u, _ := url.Parse(server)
	u.Path = "/" + name
	return u.String()
}

func setupTemplate() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := admin(ctx)
	if err != nil {
		setupErr = err
		return
	}
	defer a.Close()
	name := randomName("oais_test_tpl_")
	if _, err := a.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		setupErr = err
		return
	}
	created = append(created, name)
	s, err := store.Open(ctx, withDB(PostgresServer(), name))
	if err != nil {
		setupErr = err
		return
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		setupErr = fmt.Errorf("migrate template: %w", err)
		return
	}
	st, err := s.MigrationStatus(ctx)
	if err != nil || len(st.Pending) > 0 {
		setupErr = fmt.Errorf("migrations still pending after migrate up: %v %v", st.Pending, err)
		return
	}
	template = name
}

// Postgres returns a migrated store on a fresh PostgreSQL database, dropped
// when the package's tests end.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	mu.Lock()
	setupOnce.Do(setupTemplate)
	tpl, err := template, setupErr
	mu.Unlock()
	if err != nil {
		t.Fatalf("postgres test database: %v", err)
	}
	ctx := context.Background()
	a, err := admin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	name := randomName("oais_test_")
	if _, err := a.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tpl)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	mu.Lock()
	created = append(created, name)
	mu.Unlock()
	s, err := store.Open(ctx, clientURL(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresURL returns the URL of a fresh, migrated PostgreSQL database, for
// tests that start the real binaries.
func PostgresURL(t testing.TB) string {
	t.Helper()
	s := Postgres(t)
	return s.URL.String()
}

// SQLite returns a migrated store on a fresh SQLite file.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return s
}

// SQLiteURL returns the URL of a new (empty) SQLite database file.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "oais.db")
}

// Each runs f once on SQLite and once on PostgreSQL, as subtests.
func Each(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, Postgres(t)) })
}

func cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if len(created) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := admin(ctx)
	if err != nil {
		return
	}
	defer a.Close()
	for i := len(created) - 1; i >= 0; i-- {
		if _, err := a.ExecContext(ctx, "DROP DATABASE IF EXISTS "+created[i]+" WITH (FORCE)"); err != nil && !strings.Contains(err.Error(), "does not exist") {
			fmt.Fprintf(os.Stderr, "storetest: drop %s: %v\n", created[i], err)
		}
	}
}
