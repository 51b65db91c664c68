// Package store opens the database that both binaries share — embedded
// SQLite by default, PostgreSQL through pgx when OAIS_DATABASE_URL says so —
// applies its migrations, and classifies its errors so nothing above it
// sees a driver type (STYLE rule 12).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver (no cgo)

	"github.com/oais/oais/ent"
	_ "github.com/oais/oais/ent/runtime" // privacy policies and hooks
)

// DefaultURL is the embedded database `make run` uses.
const DefaultURL = "sqlite://./data/oais.db"

// Store is an open database: the ent client and the raw pool underneath.
type Store struct {
	Ent     *ent.Client
	DB      *sql.DB
	Dialect string // dialect.SQLite or dialect.Postgres
	URL     *url.URL

	driver, dsn string
}

// ParseURL checks a database URL and returns the driver name, the DSN to
// open and the ent dialect. It does no I/O.
func ParseURL(raw string) (driver, dsn, dia string, u *url.URL, err error) {
	u, err = url.Parse(raw)
	if err != nil {
		return "", "", "", nil, fmt.Errorf("not a URL: %w", err)
	}
	switch u.Scheme {
	case "sqlite", "sqlite3":
		path := strings.TrimPrefix(raw, u.Scheme+"://")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if path == "" {
			return "", "", "", nil, errors.New("sqlite URL needs a path, e.g. sqlite://./data/oais.db")
		}
		// WAL lets the gateway read while the control plane writes; the busy
		// timeout turns a writer collision into a short wait, not an error;
		// IMMEDIATE transactions take the write lock up front so two
		// writers never deadlock upgrading a read lock.
		q := "_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		if path == ":memory:" {
			return "sqlite", "file::memory:?cache=shared&" + q, dialect.SQLite, u, nil
		}
		return "sqlite", "file:" + path + "?" + q, dialect.SQLite, u, nil
	case "postgres", "postgresql":
		if u.Host == "" {
			return "", "", "", nil, errors.New("postgres URL needs a host, e.g. postgres://user@127.0.0.1:5432/oais")
		}
		return "pgx", raw, dialect.Postgres, u, nil
	case "":
		return "", "", "", nil, errors.New("missing scheme: use sqlite://PATH or postgres://…")
	}
	return "", "", "", nil, fmt.Errorf("unsupported scheme %q: use sqlite://PATH or postgres://…", u.Scheme)
}

// SQLitePath returns the file of a sqlite:// URL (":memory:" for the
// in-memory database); ok is false for any other database.
func SQLitePath(raw string) (path string, ok bool) {
	_, dsn, dia, _, err := ParseURL(raw)
	if err != nil || dia != dialect.SQLite {
		return "", false
	}
	path = strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return path, true
}

// Open connects to the database at raw and checks that it answers.
func Open(ctx context.Context, raw string) (*Store, error) {
	driver, dsn, dia, u, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	if path, ok := SQLitePath(raw); ok {
		if path != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
				return nil, fmt.Errorf("create the database folder: %w", err)
			}
		}
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	if dia == dialect.Postgres {
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(10)
		db.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		db.SetMaxOpenConns(8)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot reach the database at %s: %w", u.Redacted(), Classify(err))
	}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dia, db)))
	return &Store{Ent: client, DB: db, Dialect: dia, URL: u, driver: driver, dsn: dsn}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.Ent.Close() }

// Redacted returns the database URL without its password, for logs.
func (s *Store) Redacted() string { return s.URL.Redacted() }

// SaturatingSum is the SQL of SUM(expr) as an int64 that can neither fail
// nor wrap: the sum is clamped to int64's range. PostgreSQL sums bigints
// exactly, as numeric, and the clamp comes before the cast to bigint,
// which fails past it. SQLite's SUM fails on overflow ("integer overflow"),
// so this sums with TOTAL, in floating point: exact up to 2^53 (9·10^15
// tokens, or $9 billion in micro-dollars) and within a part in 10^15
// beyond. Stored usage is bounded (usage.MaxTokens, usage.MaxCostMicros),
// so no realistic sum comes near either limit; this makes an unrealistic
// one harmless instead of stalling every tenant's totals or billing.
// docs/billing.md, "Bounds", says the same.
func (s *Store) SaturatingSum(expr string) string {
	if s.Dialect == dialect.Postgres {
		return "GREATEST(LEAST(COALESCE(SUM(" + expr + "), 0), 9223372036854775807), -9223372036854775808)::bigint"
	}
	return "CAST(MAX(MIN(TOTAL(" + expr + "), 9223372036854775807), -9223372036854775808) AS INTEGER)"
}
