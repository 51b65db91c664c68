package store

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/oais/oais/ent"
)

// Errors of the store, the only database errors the rest of the code sees.
var (
	ErrNotFound    = errors.New("store: not found")
	ErrConflict    = errors.New("store: conflicts with an existing record")
	ErrConstraint  = errors.New("store: violates a constraint")
	ErrUnavailable = errors.New("store: database unavailable")
	// ErrInvalidData is a value the database cannot hold: a number out of
	// its column's range, text with a NUL byte or invalid UTF-8, a time
	// out of range. Retrying the same value fails the same way.
	ErrInvalidData = errors.New("store: value the database cannot hold")
	// ErrStatementCache is a prepared statement missing or already there
	// on the server connection a query ran on: a transaction pooler
	// (PgBouncer, pool_mode = transaction) handed the client another
	// server connection than the one pgx prepared on. The database URL
	// needs default_query_exec_mode=cache_describe (docs/architecture.md,
	// "Scaling out").
	ErrStatementCache = errors.New("store: prepared statements differ between server connections (PgBouncer in transaction mode? add default_query_exec_mode=cache_describe to the database URL)")
)

// SQLite extended result codes (sqlite3.h).
const (
	sqliteConstraintUnique     = 2067
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintForeignKey = 787
	sqliteConstraintNotNull    = 1299
	sqliteConstraintCheck      = 275
	sqliteBusy                 = 5
	sqliteLocked               = 6
	sqliteTooBig               = 18
	sqliteConstraint           = 19 // primary code of every constraint (and RAISE(ABORT) in a trigger)
	sqliteMismatch             = 20
	sqliteRange                = 25
)

// Classify maps a driver or ent error to one of the store's errors, wrapping
// the original so logs keep the detail. Errors it does not know pass through.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrConstraint),
		errors.Is(err, ErrUnavailable), errors.Is(err, ErrInvalidData), errors.Is(err, ErrStatementCache):
		return err
	case ent.IsNotFound(err):
		return wrap(ErrNotFound, err)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505":
			return wrap(ErrConflict, err)
		case "23503", "23502", "23514":
			return wrap(ErrConstraint, err)
		case "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006", "08001", "08004":
			return wrap(ErrUnavailable, err)
		case "42P05", "26000": // duplicate_prepared_statement, invalid_sql_statement_name
			return wrap(ErrStatementCache, err)
		}
		switch pg.Code[:2] {
		case "22": // data exception
			return wrap(ErrInvalidData, err)
		case "23": // any other integrity constraint
			return wrap(ErrConstraint, err)
		}
		return err
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() {
		case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
			return wrap(ErrConflict, err)
		case sqliteConstraintForeignKey, sqliteConstraintNotNull, sqliteConstraintCheck:
			return wrap(ErrConstraint, err)
		case sqliteBusy, sqliteLocked:
			return wrap(ErrUnavailable, err)
		}
		switch lite.Code() & 0xff {
		case sqliteConstraint:
			return wrap(ErrConstraint, err)
		case sqliteTooBig, sqliteMismatch, sqliteRange:
			return wrap(ErrInvalidData, err)
		}
		return err
	}
	if ent.IsConstraintError(err) {
		return wrap(ErrConflict, err)
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded) {
		return wrap(ErrUnavailable, err)
	}
	return err
}

type classified struct {
	kind, err error
}

func (c classified) Error() string   { return c.kind.Error() + ": " + c.err.Error() }
func (c classified) Unwrap() []error { return []error{c.kind, c.err} }

func wrap(kind, err error) error { return classified{kind: kind, err: err} }

// missingTable reports whether err says a table does not exist: SQLSTATE
// 42P01 on PostgreSQL, "no such table" on SQLite.
func missingTable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "42P01"
	}
	var lite *sqlite.Error
	return errors.As(err, &lite) && strings.Contains(lite.Error(), "no such table")
}
