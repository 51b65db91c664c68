package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
	"github.com/oais/oais/internal/viewer"
)

// BenchmarkQueryExecModes measures pgx's query modes on what the binaries
// do most: a gateway reading one key by its hash (keysnapshot.Fetch's
// query), the control plane creating a key with its JSON fields in a
// transaction (createAPIKey), and the spool shipping a batch of 100 usage
// records (ledger.Ship, the VALUES path). Only cache_describe, exec and
// simple_protocol work through a transaction pooler; store.Open uses
// cache_describe unless the URL names a mode (docs/architecture.md,
// "Scaling out").
//
// The modes take turns operation by operation, so a machine whose load
// changes during the run slows them alike; each reports its median per
// operation and its ratio to cache_statement (pgx's default) or, through
// PgBouncer, to cache_describe:
//
//	go test ./internal/store -run '^$' -bench QueryExecModes -benchtime 300x
//	OAIS_TEST_PGBOUNCER=1 go test ./internal/store -run '^$' -bench QueryExecModes -benchtime 300x
func BenchmarkQueryExecModes(b *testing.B) {
	base := storetest.Postgres(b)
	ctx := viewer.SystemContext(context.Background())
	ws, err := base.Ent.Workspace.Create().SetName("bench").SetSlug("bench-" + randHex(4)).Save(ctx)
	if err != nil {
		b.Fatal(err)
	}
	hashes := make([]string, 1000)
	for i := range hashes {
		hashes[i] = randHex(32)
		if _, err := base.Ent.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel(fmt.Sprint("k", i)).SetSecretHash(hashes[i]).
			SetMaskedKey("sk-oa**********" + hashes[i][:4]).SetAllowedModels([]string{"gpt-4o"}).Save(ctx); err != nil {
			b.Fatal(err)
		}
	}
	keyID := base.Ent.APIKey.Query().Where(apikey.SecretHash(hashes[0])).OnlyIDX(ctx)
	modes := []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"}
	if storetest.ThroughPgBouncer() {
		// The others fail through a transaction pooler: named prepared
		// statements, or the unnamed one across two round trips.
		modes = []string{"cache_describe", "exec", "simple_protocol"}
	}
	stores := make([]*store.Store, len(modes))
	for i, mode := range modes {
		u, _ := url.Parse(base.URL.String())
		q := u.Query()
		q.Set("default_query_exec_mode", mode)
		u.RawQuery = q.Encode()
		if stores[i], err = store.Open(ctx, u.String()); err != nil {
			b.Fatal(err)
		}
		defer stores[i].Close()
	}
	start := time.Now()
	n := 0
	workloads := []struct {
		name string
		op   func(s *store.Store) error
	}{
		{"key-by-hash", func(s *store.Store) error {
			_, err := s.Ent.APIKey.Query().Where(apikey.SecretHash(hashes[n%len(hashes)])).WithWorkspace().Only(ctx)
			return err
		}},
		{"create-key-tx", func(s *store.Store) error {
			tx, err := s.Ent.Tx(ctx)
			if err != nil {
				return err
			}
			h := randHex(32)
			_, err = tx.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("bench").SetSecretHash(h).SetMaskedKey("sk-oa**********" + h[:4]).
				SetAllowedModels([]string{"gpt-4o", "gpt-4o-mini"}).SetIPAllowlist([]string{"10.0.0.0/8"}).Save(ctx)
			if err != nil {
				_ = tx.Rollback()
				return err
			}
			return tx.Commit()
		}},
		{"ship-100", func(s *store.Store) error {
			batch := make([]usage.Record, 100)
			for j := range batch {
				batch[j] = usage.Record{RequestID: randHex(12), WorkspaceID: ws.ID, KeyID: keyID,
					Model: "gpt-4o", Endpoint: "/v1/chat/completions", PromptTokens: 10, CompletionTokens: 5, CostMicros: 100,
					Status: 200, LatencyMillis: 50, Source: usage.SourceUpstream, Time: start.Add(time.Duration(n*100+j) * time.Millisecond)}
			}
			return ledger.New(s).Ship(ctx, batch)
		}},
	}
	took := make([][][]time.Duration, len(workloads)) // [workload][mode] samples
	for w := range took {
		took[w] = make([][]time.Duration, len(modes))
	}
	for b.Loop() {
		for w, wl := range workloads {
			for k := range modes {
				m := (k + n) % len(modes) // who goes first rotates
				t0 := time.Now()
				if err := wl.op(stores[m]); err != nil {
					b.Fatalf("%s/%s: %v", modes[m], wl.name, err)
				}
				took[w][m] = append(took[w][m], time.Since(t0))
			}
		}
		n++
	}
	ref := 0 // cache_statement, or cache_describe through PgBouncer
	for w, wl := range workloads {
		line := wl.name + ":"
		refMedian := median(took[w][ref])
		for m, mode := range modes {
			med := median(took[w][m])
			b.ReportMetric(float64(med.Microseconds()), "µs/"+wl.name+"/"+mode)
			line += fmt.Sprintf("  %s %v (×%.2f)", mode, med.Round(time.Microsecond), float64(med)/float64(refMedian))
		}
		b.Log(line)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func randHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}
