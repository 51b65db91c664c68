package spendalerts_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oais/oais/billing/spendalerts"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/billingaccount"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

// countingListener counts the connections a webhook receiver accepts: a
// refused destination must not even be connected to.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func newCountingReceiver(t *testing.T) (*countingListener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(cl) }()
	t.Cleanup(func() { _ = srv.Close() })
	return cl, ln.Addr().(*net.TCPAddr).Port
}

// TestWebhookRefusesInternalDestinations: a workspace admin chooses the
// webhook URL and the control plane POSTs to it, so it must not point at
// the operator's side (the metadata service, a private network, the
// control plane's own loopback) unless the operator allowed that network.
func TestWebhookRefusesInternalDestinations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		ws, _ := f.workspace(t, 100, 0, "")
		admin := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: "usr_1", Roles: map[string]viewer.Role{ws: viewer.RoleAdmin}})
		for _, raw := range []string{
			"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
			"http://10.0.0.1/hook",
			"http://localhost/hook",
			"http://127.0.0.1:9000/hook",
			"http://[::1]/hook",
			"http://metadata.google.internal/computeMetadata/v1/",
			"http://2130706433/hook",
		} {
			t.Run(raw, func(t *testing.T) {
				err := setWebhook(admin, s, ws, raw)
				var ie *spendalerts.InputError
				if !errors.As(err, &ie) || ie.Field != "url" {
					t.Fatalf("SetWebhook(%s) = %v, want an input error on url", raw, err)
				}
				if stored := storedWebhook(t, f, ws); stored != "" {
					t.Fatalf("stored %q", stored)
				}
			})
		}
	})
}

// rebinder is a DNS server that answers a public address until told to
// rebind, then loopback.
type rebinder struct{ rebound atomic.Bool }

func (r *rebinder) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if r.rebound.Load() {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
}

// TestWebhookResolvingToLoopbackIsNotCalled: the check at set time is for
// the user; the guarantee is at dial time. A webhook whose name leads to
// loopback when the alert is sent (DNS rebinding, or a URL stored before
// the rule) gets no connection; the alert waits for a retry and its audit
// line stays. The operator's allow-list opens it (the control case shows
// the receiver is reachable at all).
func TestWebhookResolvingToLoopbackIsNotCalled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		dns := &rebinder{}
		f := newFixture(t, s) // one for all cases: usage records are numbered per fixture
		tests := []struct {
			name      string
			host      string
			dest      *egress.Policy
			wantConns int64
		}{
			{"localhost stored before the rule", "localhost", nil, 0},
			{"a name rebound to loopback after it was set", "hooks.rebind.test", &egress.Policy{Resolver: dns}, 0},
			{"loopback the operator allowed", "localhost", loopbackAllowed, 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cl, port := newCountingReceiver(t)
				f.w = spendalerts.New(s.Ent, f.l, spendalerts.Options{Logger: slog.New(slog.DiscardHandler), Egress: tt.dest})
				ws, key := f.workspace(t, 100, 0, "")
				raw := fmt.Sprintf("http://%s:%d/hook", tt.host, port)
				admin := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: "usr_1", Roles: map[string]viewer.Role{ws: viewer.RoleAdmin}})
				if tt.dest != nil && tt.dest.Resolver != nil {
					dns.rebound.Store(false)
					if err := spendalerts.SetWebhook(admin, s.Ent, tt.dest, ws, &raw); err != nil {
						t.Fatalf("set while the name was public: %v", err)
					}
					dns.rebound.Store(true)
				} else if err := s.Ent.BillingAccount.Create().SetWorkspaceID(ws).SetAlertWebhookURL(raw).Exec(f.ctx); err != nil {
					t.Fatal(err)
				}
				now := time.Date(2031, 6, 10, 12, 0, 0, 0, time.UTC)
				f.spend(t, ws, key, 600_000, 10, now)
				f.tick(t, now.Add(time.Minute))
				if n := cl.n.Load(); n != tt.wantConns {
					t.Fatalf("the webhook on loopback got %d connection(s), want %d", n, tt.wantConns)
				}
				if wantPending := 1 - int(tt.wantConns); f.w.Pending() != wantPending {
					t.Fatalf("%d pending, want %d", f.w.Pending(), wantPending)
				}
				if n := len(f.auditAlerts(t, ws)); n != 1 {
					t.Fatalf("%d audit lines: the alert itself must still be recorded", n)
				}
			})
		}
	})
}

func setWebhook(ctx context.Context, s *store.Store, ws, raw string) error {
	return spendalerts.SetWebhook(ctx, s.Ent, nil, ws, &raw)
}

func storedWebhook(t *testing.T, f *fixture, ws string) string {
	t.Helper()
	a, err := f.s.Ent.BillingAccount.Query().Where(billingaccount.WorkspaceID(ws)).Only(f.ctx)
	if ent.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return a.AlertWebhookURL
}
