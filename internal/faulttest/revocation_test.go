package faulttest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// TestRevocationReachesBothGateways: two gateway processes serve a key; it
// is revoked through GraphQL; each gateway refuses it (401 api_key_revoked)
// without a restart, within 1 s of the mutation returning (asserted: the
// bound the revocation guarantee promises, far above what it takes). On
// PostgreSQL the change arrives by NOTIFY, on SQLite by the 200 ms poll.
// Figure: how long after the mutation returned each replica refused it.
func TestRevocationReachesBothGateways(t *testing.T) {
	needBinaries(t)
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/oais.db" }},
		{"postgres", func(t *testing.T) string { return StartPostgres(t).URL() }},
	} {
		t.Run(db.name, func(t *testing.T) {
			c := startCluster(t, db.url(t))
			g1 := c.startGateway("gw1")
			g2 := c.startGateway("gw2")
			ctx := t.Context()
			for _, g := range []*gw{g1, g2} {
				if a := chat(ctx, g.url, c.key, false, nil); !a.complete {
					t.Fatalf("%s: quickstart key not served: %d %s", g.name, a.status, a.body)
				}
			}
			token := c.signIn(t)
			_, keys, _ := graphql(c.cpURL, token, `{ viewer { memberships { workspace { apiKeys(first: 5) { edges { node { id label } } } } } } }`, nil)
			var v struct {
				Viewer struct {
					Memberships []struct {
						Workspace struct {
							APIKeys struct {
								Edges []struct{ Node struct{ ID, Label string } }
							} `json:"apiKeys"`
						}
					}
				}
			}
			if err := json.Unmarshal(keys.Data, &v); err != nil || len(v.Viewer.Memberships) == 0 || len(v.Viewer.Memberships[0].Workspace.APIKeys.Edges) == 0 {
				t.Fatalf("no key listed: %s", keys.Data)
			}
			id := v.Viewer.Memberships[0].Workspace.APIKeys.Edges[0].Node.ID
			_, rev, err := graphql(c.cpURL, token, `mutation($id:ID!){ revokeAPIKey(id:$id){ status } }`, map[string]any{"id": id})
			if err != nil || len(rev.Errors) > 0 {
				t.Fatalf("revoke: %v %s", err, errorsText(rev))
			}
			revoked := time.Now()
			var wg sync.WaitGroup
			for _, g := range []*gw{g1, g2} {
				wg.Add(1)
				go func(g *gw) {
					defer wg.Done()
					if took, body := refusedWithin(ctx, t, g, c.key, revoked, time.Second); body != "" {
						t.Logf("FIGURE %s: %s refused the revoked key %v after the mutation: %s", db.name, g.name, took.Round(time.Millisecond), body)
					}
				}(g)
			}
			wg.Wait()
		})
	}
}
