package graphqltest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/oais/oais/ent"
)

// BenchmarkKeysPage measures the dashboard's key list at scale: a page of
// 50 keys of a workspace holding 100,000 (beside 100,000 in another
// workspace), through the real HTTP handler, signed in as the owner — JWT
// check, tenancy rules, gqlgen, ent, the database; totalCount is the
// workspace's stored key count on the unfiltered pages, a COUNT on the
// filtered one (active-only). Each sub-benchmark reports the p50 and p99 of
// its page loads (latencies kept and sorted):
//
//	go test ./internal/controlplane/graphqltest -run '^$' -bench KeysPage -benchtime 300x
//
// docs/benchmarks.md quotes a run. Seeding takes ~20 s per database.
func BenchmarkKeysPage(b *testing.B) {
	const perWorkspace = 100_000
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) {
			s := start(b, d.url(b), nil)
			ws := s.createWorkspace(b, s.admin.Token, "big")
			other := s.createWorkspace(b, s.admin.Token, "other")
			for _, w := range []string{ws, other} {
				if err := s.cp.Store.Ent.Workspace.UpdateOneID(w).SetMaxKeys(perWorkspace + 10).Exec(sys(b)); err != nil {
					b.Fatal(err)
				}
				seedKeys(b, s, w, perWorkspace)
				// CreateBulk runs the APIKey hooks of every builder: the
				// workspace's key count, which unfiltered pages answer
				// totalCount from, is that of its rows.
				if got, rows := storedKeyCount(b, s, w); got != perWorkspace || rows != perWorkspace {
					b.Fatalf("workspace %s: api_key_count %d, %d rows; want %d", w, got, rows, perWorkspace)
				}
			}
			// As autovacuum does soon after such an insert (PostgreSQL 13+
			// vacuums after inserts too; SQLite only needs the statistics).
			vacuum := "VACUUM ANALYZE"
			if d.name == "sqlite" {
				vacuum = "ANALYZE"
			}
			if _, err := s.cp.Store.DB.ExecContext(sys(b), vacuum); err != nil {
				b.Fatal(err)
			}
			first := s.must(b, s.admin.Token, `query($id: ID!) { workspace(id: $id) { apiKeys(first: 50) { edges { cursor } pageInfo { endCursor } } } }`,
				map[string]any{"id": ws})
			cursor := str(b, first, "workspace", "apiKeys", "pageInfo", "endCursor")
			const fields = `totalCount edges { node { id label maskedKey status createdAt lastUsedAt requestCount expiresAt } } pageInfo { hasNextPage endCursor }`
			pages := []struct {
				name, query string
				vars        map[string]any
			}{
				{"first-page", `query($id: ID!) { workspace(id: $id) { apiKeys(first: 50) { ` + fields + ` } } }`, map[string]any{"id": ws}},
				{"next-page", `query($id: ID!, $after: Cursor) { workspace(id: $id) { apiKeys(first: 50, after: $after) { ` + fields + ` } } }`,
					map[string]any{"id": ws, "after": cursor}},
				{"newest-first", `query($id: ID!) { workspace(id: $id) { apiKeys(first: 50, orderBy: {field: CREATED_AT, direction: DESC}) { ` + fields + ` } } }`,
					map[string]any{"id": ws}},
				{"active-only", `query($id: ID!) { workspace(id: $id) { apiKeys(first: 50, status: ACTIVE) { ` + fields + ` } } }`, map[string]any{"id": ws}},
			}
			for _, p := range pages {
				b.Run(p.name, func(b *testing.B) {
					lat := make([]time.Duration, 0, b.N)
					for b.Loop() {
						t0 := time.Now()
						d := s.must(b, s.admin.Token, p.query, p.vars)
						lat = append(lat, time.Since(t0))
						if n := len(list(b, d, "workspace", "apiKeys", "edges")); n != 50 {
							b.Fatalf("%d keys on the page, want 50", n)
						}
					}
					slices.Sort(lat)
					at := func(q float64) float64 {
						return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
					}
					b.ReportMetric(at(0.5), "p50_ms")
					b.ReportMetric(at(0.99), "p99_ms")
				})
			}
		})
	}
}

// seedKeys adds n keys to workspace ws straight through ent, in bulk, one
// transaction a chunk (the key count's hook adds one per key: in a
// transaction those updates cost one commit, not one each).
func seedKeys(b *testing.B, s *server, ws string, n int) {
	b.Helper()
	const chunk = 1000
	base := time.Now().Add(-time.Duration(n) * time.Minute)
	for done := 0; done < n; done += chunk {
		tx, err := s.cp.Store.Ent.Tx(sys(b))
		if err != nil {
			b.Fatal(err)
		}
		builders := make([]*ent.APIKeyCreate, 0, chunk)
		for i := done; i < min(n, done+chunk); i++ {
			h := make([]byte, 32)
			_, _ = rand.Read(h)
			builders = append(builders, tx.APIKey.Create().SetWorkspaceID(ws).
				SetLabel(fmt.Sprintf("service %d", i)).SetSecretHash(hex.EncodeToString(h)).
				SetMaskedKey(fmt.Sprintf("sk-oais-…%04d", i%10000)).
				SetCreatedAt(base.Add(time.Duration(i)*time.Minute)).SetUpdatedAt(base))
		}
		if err := tx.APIKey.CreateBulk(builders...).Exec(sys(b)); err != nil {
			_ = tx.Rollback()
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
