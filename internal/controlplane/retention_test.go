package controlplane_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/controlplane"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
	"github.com/oais/oais/internal/viewer"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestUsageRetention: with OAIS_USAGE_RETENTION_DAYS set, the running
// control plane prunes billed raw events older than the retention, keeps
// recent and unbilled ones, and has made this month's partitions.
func TestUsageRetention(t *testing.T) {
	cfg, err := controlplane.Load(config.Map(map[string]string{
		"OAIS_DATABASE_URL":             storetest.PostgresURL(t),
		"OAIS_CONTROLPLANE_ADDR":        "127.0.0.1:0",
		"OAIS_BOOTSTRAP_ADMIN_PASSWORD": "a long enough password",
		"OAIS_USAGE_RETENTION_DAYS":     "30",
		"OAIS_SECRETS_KEY":              "b2Fpcy1jb250cm9scGxhbmUtdGVzdC1zZWNyZXRzLTE=", // required on PostgreSQL
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := controlplane.Open(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sys := viewer.SystemContext(ctx)
	key, err := srv.Store.Ent.APIKey.Query().First(sys) // the quickstart key
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	rec := func(id string, at time.Time) usage.Record {
		return usage.Record{RequestID: id, WorkspaceID: key.WorkspaceID, KeyID: key.ID, Model: "m", Endpoint: "/v1/chat/completions",
			Status: 200, Source: usage.SourceUpstream, PromptTokens: 1, CostMicros: 1, Time: at}
	}
	l := ledger.New(srv.Store)
	if err := l.Ship(ctx, []usage.Record{rec("old-billed", now.AddDate(0, 0, -90)), rec("old-unbilled", now.AddDate(0, 0, -91)), rec("recent", now)}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Store.DB.ExecContext(ctx, `UPDATE usage_events SET billing_period_id = 'per_x' WHERE request_id = 'old-billed'`); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := srv.Store.Ent.UsageEvent.Query().Count(sys)
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d usage events after 20 s, want 2 (the billed 90-day-old one pruned)", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var part string
	month := now.Format("200601")
	if err := srv.Store.DB.QueryRowContext(ctx, `SELECT COALESCE(to_regclass('usage_events_p`+month+`')::text, '')`).Scan(&part); err != nil || part == "" {
		t.Fatalf("this month's partition: %q, %v", part, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("Serve did not return within 20 s of its context ending")
	}
}
