// Command gen writes a new versioned migration for each dialect when
// ent/schema and the migrations in this folder disagree. It replays the
// existing migrations on a scratch database (in-memory SQLite; a temporary
// PostgreSQL database on OAIS_TEST_DATABASE_URL's server) and lets Atlas,
// through ent, diff the result against the schema. With no change it writes
// nothing, so `go generate ./...` on a clean tree is a no-op.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/oais/oais/ent/migrate"
	"github.com/oais/oais/migrations"
)

func main() {
	name := flag.String("name", "schema", "name of the new migration")
	dir := flag.String("dir", ".", "the migrations folder (holds sqlite/ and postgres/)")
	pg := flag.String("postgres", envOr("OAIS_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "a PostgreSQL server to make a scratch database on")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := diffSQLite(ctx, filepath.Join(*dir, "sqlite"), *name); err != nil {
		log.Fatalf("sqlite migrations: %v", err)
	}
	if err := diffPostgres(ctx, *pg, filepath.Join(*dir, "postgres"), *name); err != nil {
		log.Fatalf("postgres migrations: %v", err)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func diff(ctx context.Context, db *sql.DB, d, path, name string) error {
	dir, err := atlas.NewLocalDir(path)
	if err != nil {
		return err
	}
	gm, err := newGolangMigrateDir(dir)
	if err != nil {
		return err
	}
	// Hand-written migrations (see postgres/*_partition_usage_events.up.sql)
	// join the checksum file here, so that Atlas replays them too.
	sum, err := gm.Checksum()
	if err != nil {
		return err
	}
	if err := atlas.WriteSumFile(gm, sum); err != nil {
		return err
	}
	return migrate.NewSchema(entsql.OpenDB(d, db)).NamedDiff(ctx, name,
		schema.WithDir(gm),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(d),
		schema.WithFormatter(sqltoolFormatter()),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
		migrations.HidePartitioning(),
	)
}

func diffSQLite(ctx context.Context, path, name string) error {
	db, err := sql.Open("sqlite", "file:migrategen?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection keeps the in-memory database alive
	return diff(ctx, db, dialect.SQLite, path, name)
}

func diffPostgres(ctx context.Context, server, path, name string) error {
	admin, err := sql.Open("pgx", server)
	if err != nil {
		return err
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	scratch := "oais_migrategen_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+scratch); err != nil {
		return fmt.Errorf("create scratch database on %s (set OAIS_TEST_DATABASE_URL): %w", redact(server), err)
	}
	defer admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+scratch+" WITH (FORCE)")
	u, err := url.Parse(server)
	if err != nil {
		return err
	}
	u.Path = "/" + scratch
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	return diff(ctx, db, dialect.Postgres, path, name)
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the database URL"
	}
	return u.Redacted()
}
