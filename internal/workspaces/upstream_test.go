package workspaces_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	entupstream "github.com/oais/oais/ent/upstream"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// stallingResolver answers a look-up only once release is closed, telling
// asked when one begins: a DNS server that stalls on purpose.
type stallingResolver struct {
	asked, release chan struct{}
	once           sync.Once
	addr           string
}

func (r *stallingResolver) LookupNetIP(ctx context.Context, _, _ string) ([]netip.Addr, error) {
	r.once.Do(func() { close(r.asked) })
	select {
	case <-r.release:
		return []netip.Addr{netip.MustParseAddr(r.addr)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestSetUpstreamResolvesOutsideTheTransaction: while the upstream's name
// is being resolved, SetUpstream holds no transaction, so a DNS server
// that stalls cannot hold SQLite's write lock (every transaction there
// takes it): another write goes through meanwhile. Then the answer
// decides: a public address is stored, a private one refused with the
// rule named and nothing stored.
func TestSetUpstreamResolvesOutsideTheTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := viewer.SystemContext(t.Context())
		ws, err := s.Ent.Workspace.Create().SetName("Upstream").SetSlug("upstream").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			addr string
			rule egress.Rule // "" when stored
		}{
			{addr: "93.184.216.34"},
			{addr: "10.0.0.7", rule: egress.RulePrivate},
		} {
			t.Run(tc.addr, func(t *testing.T) {
				_, _ = s.Ent.Upstream.Delete().Exec(ctx)
				res := &stallingResolver{asked: make(chan struct{}), release: make(chan struct{}), addr: tc.addr}
				done := make(chan error, 1)
				go func() {
					_, err := workspaces.SetUpstream(ctx, s.Ent, &secretbox.Box{}, &egress.Policy{Resolver: res}, ws.ID,
						workspaces.UpstreamParams{BaseURL: "https://stalling.example/v1"})
					done <- err
				}()
				select {
				case <-res.asked:
				case <-time.After(10 * time.Second):
					t.Fatal("waited 10s for the look-up")
				}
				wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				if err := s.Ent.Workspace.UpdateOneID(ws.ID).SetRpm(7).Exec(wctx); err != nil {
					t.Fatalf("a write during the look-up: %v (the look-up holds a transaction)", err)
				}
				close(res.release)
				var serr error
				select {
				case serr = <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("waited 10s for SetUpstream")
				}
				n, err := s.Ent.Upstream.Query().Where(entupstream.WorkspaceID(ws.ID)).Count(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if tc.rule == "" {
					if serr != nil || n != 1 {
						t.Fatalf("public address: err %v, %d stored", serr, n)
					}
					return
				}
				in, ok := userinput.As(serr)
				if !ok || in.Field != "baseURL" || !strings.Contains(in.Msg, string(tc.rule)) || n != 0 {
					t.Fatalf("private address: err %v, %d stored; want a baseURL input error naming %q", serr, n, tc.rule)
				}
			})
		}
	})
}
