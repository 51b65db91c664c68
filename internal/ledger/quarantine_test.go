package ledger_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

// quarantined is a usage_quarantine row as an operator reads it.
type quarantined struct {
	requestID, workspaceID, reason, record string
}

func (f *fixture) quarantined(t testing.TB) []quarantined {
	t.Helper()
	rows, err := f.s.DB.QueryContext(context.Background(),
		`SELECT request_id, workspace_id, reason, record FROM usage_quarantine ORDER BY request_id`)
	if err != nil {
		t.Fatalf("read usage_quarantine: %v", err)
	}
	defer rows.Close()
	var out []quarantined
	for rows.Next() {
		var q quarantined
		if err := rows.Scan(&q.requestID, &q.workspaceID, &q.reason, &q.record); err != nil {
			t.Fatal(err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// refuse makes the database itself refuse any usage event whose request id
// is id, as an unforeseen poison would: a trigger on SQLite, a CHECK
// constraint on PostgreSQL. Ship must not learn of it from Go validation.
func (f *fixture) refuse(t testing.TB, id string) {
	t.Helper()
	q := `CREATE TRIGGER refuse_poison BEFORE INSERT ON usage_events WHEN NEW.request_id = '` + id +
		`' BEGIN SELECT RAISE(ABORT, 'poisoned record'); END`
	if f.s.Dialect == "postgres" {
		q = `ALTER TABLE usage_events ADD CONSTRAINT refuse_poison CHECK (request_id <> '` + id + `')`
	}
	if _, err := f.s.DB.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("install the poison: %v", err)
	}
}

// TestShipQuarantinesPoison is the attack on the spool's shipper: one
// record in a batch of 100 that can never be stored (absurd or negative
// counts, a missing id, or one the database refuses) used to fail the
// whole batch forever or corrupt the totals. It must move aside, visibly,
// and the 99 others ship, once, even when the batch is shipped again.
func TestShipQuarantinesPoison(t *testing.T) {
	const n, bad = 100, 37
	poisons := []struct {
		name   string
		mod    func(*usage.Record)
		reason string // in the quarantine row
		db     bool   // the database refuses it, not validation
	}{
		{name: "prompt tokens 9e18", mod: func(r *usage.Record) { r.PromptTokens = 9e18 }, reason: "prompt_tokens"},
		{name: "completion tokens max int64", mod: func(r *usage.Record) { r.CompletionTokens = math.MaxInt64 }, reason: "completion_tokens"},
		{name: "cached tokens past the ceiling", mod: func(r *usage.Record) { r.CachedTokens = usage.MaxTokens + 1 }, reason: "cached_tokens"},
		{name: "negative prompt tokens", mod: func(r *usage.Record) { r.PromptTokens = -5 }, reason: "prompt_tokens"},
		{name: "cost max int64", mod: func(r *usage.Record) { r.CostMicros = math.MaxInt64 }, reason: "cost_micros"},
		{name: "negative cost", mod: func(r *usage.Record) { r.CostMicros = -1 }, reason: "cost_micros"},
		{name: "unknown source", mod: func(r *usage.Record) { r.Source = "guess" }, reason: "source"},
		{name: "refused by the database", reason: "insert failed", db: true},
	}
	for _, p := range poisons {
		t.Run(p.name, func(t *testing.T) {
			eachPath(t, func(t *testing.T, fx *fixture) {
				batch := make([]usage.Record, n)
				for i := range batch {
					batch[i] = rec(fmt.Sprintf("q-%03d", i), fx.wsA, fx.kA1, t0.Add(time.Duration(i)*time.Second))
				}
				poisonID := batch[bad].RequestID
				if p.mod != nil {
					p.mod(&batch[bad])
				}
				if p.db {
					fx.refuse(t, poisonID)
				}
				for range 2 { // the second time: a restart before the checkpoint
					if err := fx.l.Ship(context.Background(), batch); err != nil {
						t.Fatalf("Ship = %v; one poisoned record must not block its batch", err)
					}
				}
				if got := fx.events(t); got != n-1 {
					t.Fatalf("events = %d, want %d", got, n-1)
				}
				if k := fx.keyRow(t, fx.kA1); k.requests != n-1 {
					t.Fatalf("key requests = %d, want %d", k.requests, n-1)
				}
				sum, err := fx.l.Summary(context.Background(), ledger.Filter{WorkspaceID: fx.wsA, From: t0, To: t0.Add(time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				if want := (ledger.Summary{Requests: n - 1, PromptTokens: 10 * (n - 1), CompletionTokens: 5 * (n - 1),
					TotalTokens: 15 * (n - 1), CostMicros: 100 * (n - 1)}); sum != want {
					t.Fatalf("summary %s", diff(want, sum))
				}
				q := fx.quarantined(t)
				if len(q) != 1 {
					t.Fatalf("quarantined %d records, want 1: %+v", len(q), q)
				}
				if q[0].requestID != poisonID || q[0].workspaceID != fx.wsA || !strings.Contains(q[0].reason, p.reason) ||
					!strings.Contains(q[0].record, `"request_id":"`+poisonID+`"`) {
					t.Fatalf("quarantine row = %+v; want request %s of %s, a reason naming %q, and the whole record", q[0], poisonID, fx.wsA, p.reason)
				}
				if logs := fx.logs.String(); !strings.Contains(logs, "quarantine") || !strings.Contains(logs, poisonID) {
					t.Fatalf("no log line names the quarantined record:\n%s", logs)
				}
				if got := ledger.Quarantined(fx.l); got != 1 {
					t.Fatalf("quarantine counter = %v, want 1 (the second ship found it quarantined already)", got)
				}
			})
		})
	}
}

// TestShipQuarantinesMalformed: records without a request id, key or
// workspace were dropped with a log line; they are kept aside too, so no
// record the gateway wrote vanishes unseen.
func TestShipQuarantinesMalformed(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		fx.ship(t,
			rec("", fx.wsA, fx.kA1, t0),
			rec("no-key", fx.wsA, "", t0),
			rec(strings.Repeat("x", 200), fx.wsA, fx.kA1, t0),
			rec("good", fx.wsA, fx.kA1, t0),
		)
		if got := fx.events(t); got != 1 {
			t.Fatalf("events = %d, want 1", got)
		}
		if q := fx.quarantined(t); len(q) != 3 {
			t.Fatalf("quarantined %d, want 3: %+v", len(q), q)
		}
	})
}

// TestShipSanitizesText: a model name with a NUL byte or invalid UTF-8 (a
// hostile client's model, accepted by a lenient upstream) made PostgreSQL
// refuse the whole batch. The text is cleaned, the request billed.
func TestShipSanitizesText(t *testing.T) {
	eachPath(t, func(t *testing.T, fx *fixture) {
		fx.ship(t,
			rec("nul", fx.wsA, fx.kA1, t0, func(r *usage.Record) { r.Model = "gpt\x00-4o" }),
			rec("utf8", fx.wsA, fx.kA1, t0.Add(time.Second), func(r *usage.Record) { r.Model, r.ClientIP = "caf\xe9", "1.2.3.4\x00" }),
			rec("fine", fx.wsA, fx.kA1, t0.Add(2*time.Second)),
		)
		reqs, err := fx.l.RecentRequests(context.Background(), fx.kA1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(reqs) != 3 {
			t.Fatalf("stored %d of 3 requests", len(reqs))
		}
		for _, r := range reqs {
			if strings.ContainsRune(r.Model, 0) || !strings.HasPrefix(r.Model, "gpt") && !strings.HasPrefix(r.Model, "caf") {
				t.Fatalf("model stored as %q", r.Model)
			}
		}
	})
}
