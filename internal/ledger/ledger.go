// Package ledger stores the gateway's usage records in usage_events, keeps
// each API key's usage counters, and answers the analytics the dashboard,
// quotas and billing read from them.
//
// This is system code: it reads and writes with raw SQL on the store's pool,
// below ent's privacy rules, and checks no viewer. Callers check that the
// viewer may see the workspace (or the key's workspace) before calling it;
// the ledger only guarantees that a query never reaches beyond the
// workspace or key it names.
//
// Times are stored in UTC. On SQLite they are text in the driver's format,
// which compares correctly as text only because every time in the table is
// UTC; the ledger never writes any other.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/oais/oais/internal/store"
)

// Errors of the ledger's queries.
var (
	// ErrInvalidFilter reports a query whose arguments make no sense: no
	// workspace, an empty or inverted time range, an unknown granularity.
	ErrInvalidFilter = errors.New("ledger: invalid filter")
	// ErrTooManyBuckets reports a Series whose range holds more than
	// MaxBuckets buckets. It wraps ErrInvalidFilter.
	ErrTooManyBuckets = fmt.Errorf("%w: too many buckets; narrow the range or use a coarser granularity", ErrInvalidFilter)
)

// MaxBuckets is the most buckets Series returns, so that one query cannot
// build an unbounded zero-filled series (2,000 hours is 83 days).
const MaxBuckets = 2000

// MaxRecent is the most rows RecentRequests returns.
const MaxRecent = 500

// copyMinRecords is the smallest batch that Ship sends to PostgreSQL with
// COPY; below it a multi-row INSERT costs fewer round trips than staging.
// BenchmarkShip measures both.
const copyMinRecords = 200

// Ledger is the usage ledger on a store. It is safe for concurrent use.
type Ledger struct {
	s   *store.Store
	log *slog.Logger
	pg  bool
	// copyMin is copyMinRecords; tests and benchmarks change it to force
	// one path. Zero or less disables COPY.
	copyMin int
	// quarantineCount counts the records Ship moved aside (Collector).
	quarantineCount *prometheus.CounterVec
	// eventSummary and rollupSummary are the summary columns over
	// usage_events e and usage_rollups e, in this dialect.
	eventSummary, rollupSummary string
}

// Option configures New.
type Option func(*Ledger)

// WithLogger sets where Ship reports the records it quarantines or skips;
// the default is slog.Default().
func WithLogger(log *slog.Logger) Option {
	return func(l *Ledger) { l.log = log }
}

// New returns the ledger on s.
func New(s *store.Store, opts ...Option) *Ledger {
	l := &Ledger{s: s, log: slog.Default(), pg: s.Dialect == dialect.Postgres, copyMin: copyMinRecords,
		quarantineCount: newQuarantineCounter()}
	for _, o := range opts {
		o(l)
	}
	l.eventSummary, l.rollupSummary = l.summaryColumns()
	return l
}

// sum is SUM(expr) as an int64 that can neither fail nor wrap
// (store.Store.SaturatingSum).
func (l *Ledger) sum(expr string) string { return l.s.SaturatingSum(expr) }

// rebind turns the ? placeholders of q into PostgreSQL's $n when needed.
// The ledger's queries never hold a ? inside a literal.
func (l *Ledger) rebind(q string) string {
	if !l.pg {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// rowScanner is what both database/sql and pgx rows offer.
type rowScanner interface{ Scan(dest ...any) error }

// txn is one transaction, on database/sql or on a pgx connection, so that
// Ship's steps are written once for both.
type txn interface {
	exec(ctx context.Context, q string, args ...any) error
	query(ctx context.Context, q string, args []any, row func(rowScanner) error) error
}

// sqlTxn is a database/sql transaction.
type sqlTxn struct {
	tx *sql.Tx
	// conn is the connection tx runs on, so that insertRows can reach the
	// driver below database/sql.
	conn *sql.Conn
}

func (t sqlTxn) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, q, args...)
	return err
}

func (t sqlTxn) query(ctx context.Context, q string, args []any, row func(rowScanner) error) error {
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// queryDB runs a read-only query on the pool.
func (l *Ledger) queryDB(ctx context.Context, q string, args []any, row func(rowScanner) error) error {
	rows, err := l.s.DB.QueryContext(ctx, l.rebind(q), args...)
	if err != nil {
		return store.Classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return store.Classify(err)
		}
	}
	return store.Classify(rows.Err())
}
