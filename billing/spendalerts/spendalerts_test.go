package spendalerts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/billing/spendalerts"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/ent/billingaccount"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// receiver is a webhook endpoint that records what it is sent and fails
// while told to.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []spendalerts.Alert
	tries   int
	failing bool
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
		if r.failing {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var a spendalerts.Alert
		b, _ := io.ReadAll(req.Body)
		if req.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &a) != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		r.got = append(r.got, a)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setFailing(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = v
}

func (r *receiver) alerts() []spendalerts.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]spendalerts.Alert(nil), r.got...)
}

func (r *receiver) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries
}

// fixture is a store, its ledger and a worker over them.
type fixture struct {
	s   *store.Store
	l   *ledger.Ledger
	w   *spendalerts.Worker
	ctx context.Context // system
	n   int
}

// loopbackAllowed is the operator's allow-list the tests' receivers need:
// they listen on loopback, which the egress rule refuses otherwise.
var loopbackAllowed = &egress.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

func newFixture(t *testing.T, s *store.Store) *fixture {
	t.Helper()
	l := ledger.New(s)
	return &fixture{s: s, l: l, ctx: viewer.SystemContext(context.Background()),
		w: spendalerts.New(s.Ent, l, spendalerts.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Egress: loopbackAllowed})}
}

// workspace makes a workspace with a key; capCents and quota of 0 mean none.
func (f *fixture) workspace(t *testing.T, capCents, quota int64, webhook string) (wsID, keyID string) {
	t.Helper()
	f.n++
	c := f.s.Ent.Workspace.Create().SetName(fmt.Sprint("ws", f.n)).SetSlug(fmt.Sprintf("ws-%d-%d", f.n, time.Now().UnixNano())).SetMonthlyTokenQuota(quota)
	if capCents > 0 {
		c.SetSpendCapCents(capCents)
	}
	ws, err := c.Save(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.s.Ent.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("k").
		SetSecretHash(fmt.Sprint("hash-", ws.ID)).SetMaskedKey("sk-…k").Save(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if webhook != "" {
		if err := f.s.Ent.BillingAccount.Create().SetWorkspaceID(ws.ID).SetAlertWebhookURL(webhook).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	return ws.ID, k.ID
}

// spend ships one usage record of costMicros and tokens at at.
func (f *fixture) spend(t *testing.T, ws, key string, costMicros, tokens int64, at time.Time) {
	t.Helper()
	f.n++
	r := usage.Record{RequestID: fmt.Sprint("req-", f.n), WorkspaceID: ws, KeyID: key, Model: "gpt-4o",
		Endpoint: "/v1/chat/completions", PromptTokens: tokens, CostMicros: costMicros, Status: 200,
		Source: usage.SourceUpstream, Time: at}
	if err := f.l.Ship(context.Background(), []usage.Record{r}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) tick(t *testing.T, now time.Time) {
	t.Helper()
	if err := f.w.Tick(context.Background(), now); err != nil {
		t.Fatalf("Tick: %v", err)
	}
}

// auditAlerts returns ws's spend-alert audit lines, oldest first.
func (f *fixture) auditAlerts(t *testing.T, ws string) []*ent.AuditEvent {
	t.Helper()
	evs, err := f.s.Ent.AuditEvent.Query().
		Where(auditevent.WorkspaceID(ws), auditevent.Action(audit.SpendAlert)).
		Order(ent.Asc(auditevent.FieldCreatedAt), ent.Asc(auditevent.FieldID)).All(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func percents(as []spendalerts.Alert) []int {
	out := make([]int, len(as))
	for i, a := range as {
		out[i] = a.Percent
	}
	return out
}

func auditPercents(evs []*ent.AuditEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Details["percent"]
	}
	return out
}

func TestThresholdsOncePerMonth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		rcv := newReceiver(t)
		ws, key := f.workspace(t, 100, 0, rcv.srv.URL) // $1.00 = 1,000,000 micros
		other, otherKey := f.workspace(t, 100, 0, "")  // no webhook: audit only
		june := time.Date(2031, 6, 10, 12, 0, 0, 0, time.UTC)

		steps := []struct {
			name      string
			add       int64 // micros spent before the tick
			wantPosts []int
		}{
			{"below half: nothing", 400_000, nil},
			{"crosses 50", 150_000, []int{50}},
			{"second tick: nothing again", 0, []int{50}},
			{"still under 80: nothing", 100_000, []int{50}},
			{"crosses 80", 200_000, []int{50, 80}},
			{"crosses 100", 200_000, []int{50, 80, 100}},
			{"beyond 100: nothing more", 500_000, []int{50, 80, 100}},
		}
		for i, st := range steps {
			now := june.Add(time.Duration(i) * time.Minute)
			if st.add > 0 {
				f.spend(t, ws, key, st.add, 10, now.Add(-time.Second))
				f.spend(t, other, otherKey, st.add, 10, now.Add(-time.Second))
			}
			f.tick(t, now)
			if got := percents(rcv.alerts()); fmt.Sprint(got) != fmt.Sprint(st.wantPosts) {
				t.Fatalf("%s: posts %v, want %v", st.name, got, st.wantPosts)
			}
		}
		evs := f.auditAlerts(t, ws)
		if got := auditPercents(evs); fmt.Sprint(got) != "[50 80 100]" {
			t.Fatalf("audit lines %v, want [50 80 100]", got)
		}
		if got := auditPercents(f.auditAlerts(t, other)); fmt.Sprint(got) != "[50 80 100]" {
			t.Fatalf("workspace without webhook: audit lines %v", got)
		}
		d := evs[1].Details
		if d["spend_micros"] != "850000" || d["cap_micros"] != "1000000" || d["month"] != "2031-06" || d["metric"] != "spend" {
			t.Fatalf("audit details %v", d)
		}
		a := rcv.alerts()[2]
		if a.Type != "spend_alert" || a.WorkspaceID != ws || a.SpendMicros != 1_050_000 || a.CapMicros != 1_000_000 || a.Month != "2031-06" || a.ID == "" {
			t.Fatalf("webhook body %+v", a)
		}

		// A new month starts from nothing: the old spend does not count,
		// and crossing 50% again alerts again.
		july := time.Date(2031, 7, 1, 0, 5, 0, 0, time.UTC)
		f.tick(t, july)
		if n := len(rcv.alerts()); n != 3 {
			t.Fatalf("new month with no spend posted: %d", n)
		}
		f.spend(t, ws, key, 600_000, 10, july.Add(time.Minute))
		f.tick(t, july.Add(2*time.Minute))
		as := rcv.alerts()
		if got := percents(as); fmt.Sprint(got) != "[50 80 100 50]" || as[3].Month != "2031-07" || as[3].SpendMicros != 600_000 {
			t.Fatalf("new month: posts %+v", as)
		}
		acct, err := s.Ent.BillingAccount.Query().Where(billingaccount.WorkspaceID(ws)).Only(f.ctx)
		if err != nil || acct.LastAlertPercent != 50 || acct.LastAlertMonth != "2031-07" {
			t.Fatalf("state %+v %v", acct, err)
		}
	})
}

func TestFailingReceiverIsRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		rcv := newReceiver(t)
		rcv.setFailing(true)
		ws, key := f.workspace(t, 100, 0, rcv.srv.URL)
		now := time.Date(2031, 6, 10, 12, 0, 0, 0, time.UTC)
		f.spend(t, ws, key, 500_000, 10, now)

		f.tick(t, now.Add(time.Minute))
		if rcv.attempts() != 1 || len(rcv.alerts()) != 0 || f.w.Pending() != 1 {
			t.Fatalf("first tick: %d attempts, %d delivered, %d pending", rcv.attempts(), len(rcv.alerts()), f.w.Pending())
		}
		if n := len(f.auditAlerts(t, ws)); n != 1 {
			t.Fatalf("audit lines %d: a failed webhook must not hold back the audit line", n)
		}
		f.tick(t, now.Add(2*time.Minute))
		if rcv.attempts() != 2 || f.w.Pending() != 1 {
			t.Fatalf("second tick: %d attempts, %d pending", rcv.attempts(), f.w.Pending())
		}
		rcv.setFailing(false)
		f.tick(t, now.Add(3*time.Minute))
		if got := rcv.alerts(); len(got) != 1 || got[0].Percent != 50 || f.w.Pending() != 0 {
			t.Fatalf("after recovery: %+v, %d pending", got, f.w.Pending())
		}
		f.tick(t, now.Add(4*time.Minute))
		if rcv.attempts() != 3 || len(rcv.alerts()) != 1 {
			t.Fatalf("delivered alert posted again: %d attempts", rcv.attempts())
		}
		if n := len(f.auditAlerts(t, ws)); n != 1 {
			t.Fatalf("audit lines %d after retries", n)
		}
	})
}

func TestSlowReceiverTimesOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(release); slow.Close() })
		f := newFixture(t, s)
		f.w = spendalerts.New(s.Ent, f.l, spendalerts.Options{PostTimeout: 100 * time.Millisecond, Egress: loopbackAllowed,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		ws, key := f.workspace(t, 100, 0, slow.URL)
		now := time.Date(2031, 6, 10, 12, 0, 0, 0, time.UTC)
		f.spend(t, ws, key, 900_000, 10, now)
		f.tick(t, now.Add(time.Minute)) // returns: the post timed out
		if f.w.Pending() != 1 {
			t.Fatalf("%d pending after a timeout", f.w.Pending())
		}
	})
}

func TestTokenQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		rcv := newReceiver(t)
		ws, key := f.workspace(t, 0, 1000, rcv.srv.URL)
		now := time.Date(2031, 6, 10, 12, 0, 0, 0, time.UTC)
		f.spend(t, ws, key, 5, 1000, now)
		f.tick(t, now.Add(time.Minute))
		got := rcv.alerts()
		if len(got) != 1 || got[0].Percent != 100 || got[0].Metric != "tokens" || got[0].Tokens != 1000 || got[0].TokenQuota != 1000 || got[0].CapMicros != 0 {
			t.Fatalf("token quota alerts %+v", got)
		}
	})
}

func TestSetWebhook(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		ws, _ := f.workspace(t, 100, 0, "")
		foreign, _ := f.workspace(t, 100, 0, "")
		as := func(role viewer.Role) context.Context {
			return viewer.NewContext(context.Background(), &viewer.Viewer{UserID: "usr_1", Roles: map[string]viewer.Role{ws: role}})
		}
		u := func(s string) *string { return &s }
		internal := &egress.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}
		tests := []struct {
			name    string
			ctx     context.Context
			dest    *egress.Policy
			ws      string
			url     *string
			want    error
			wantURL string
		}{
			{"developer is forbidden", as(viewer.RoleDeveloper), nil, ws, u("https://example.com/h"), workspaces.ErrForbidden, ""},
			{"foreign workspace is not found", as(viewer.RoleOwner), nil, foreign, u("https://example.com/h"), store.ErrNotFound, ""},
			{"relative url", as(viewer.RoleAdmin), nil, ws, u("/hook"), &spendalerts.InputError{}, ""},
			{"admin sets it", as(viewer.RoleAdmin), nil, ws, u(" https://example.com/hook?token=secret "), nil, "https://example.com/hook?token=secret"},
			{"private network refused", as(viewer.RoleOwner), nil, ws, u("http://10.0.0.5:8080/alerts"), &spendalerts.InputError{}, ""},
			{"private network the operator allowed", as(viewer.RoleOwner), internal, ws, u("http://10.0.0.5:8080/alerts"), nil, "http://10.0.0.5:8080/alerts"},
			{"null removes it", as(viewer.RoleOwner), nil, ws, nil, nil, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := spendalerts.SetWebhook(tt.ctx, s.Ent, tt.dest, tt.ws, tt.url)
				var ie *spendalerts.InputError
				switch {
				case tt.want == nil && err != nil:
					t.Fatalf("err %v", err)
				case tt.want != nil && errors.As(tt.want, &ie):
					if !errors.As(err, &ie) {
						t.Fatalf("err %v, want an input error", err)
					}
				case tt.want != nil && !errors.Is(err, tt.want):
					t.Fatalf("err %v, want %v", err, tt.want)
				}
				acct, err := s.Ent.BillingAccount.Query().Where(billingaccount.WorkspaceID(ws)).Only(f.ctx)
				if ent.IsNotFound(err) {
					acct, err = &ent.BillingAccount{}, nil
				}
				if err != nil {
					t.Fatal(err)
				}
				if tt.want == nil && acct.AlertWebhookURL != tt.wantURL {
					t.Fatalf("stored %q, want %q", acct.AlertWebhookURL, tt.wantURL)
				}
			})
		}
		evs, err := s.Ent.AuditEvent.Query().Where(auditevent.WorkspaceID(ws), auditevent.Action(spendalerts.AuditWebhookChanged)).All(f.ctx)
		if err != nil || len(evs) != 3 {
			t.Fatalf("%d audit lines, %v", len(evs), err)
		}
		for _, e := range evs {
			if h := e.Details["host"]; h != "https://example.com" && h != "http://10.0.0.5:8080" && h != "none" {
				t.Fatalf("audit detail %q keeps more than the host", h)
			}
		}
	})
}

func TestValidateURL(t *testing.T) {
	long := "https://example.com/" + string(make([]byte, 2000))
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"https", "https://hooks.example.com/a/b?c=d", true},
		{"http with port", "http://127.0.0.1:9000/x", true},
		{"relative", "/x", false},
		{"no scheme", "example.com/x", false},
		{"ftp", "ftp://example.com/x", false},
		{"javascript", "javascript:alert(1)", false},
		{"no host", "https:///path", false},
		{"too long", long, false},
		{"garbage", "http://[::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spendalerts.ValidateURL(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateURL(%.40q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

// TestReplicasAlertOnce ticks two workers (two control planes) at once:
// the conditional claim lets one of them alert.
func TestReplicasAlertOnce(t *testing.T) {
	s := storetest.Postgres(t)
	f := newFixture(t, s)
	rcv := newReceiver(t)
	ws, key := f.workspace(t, 100, 0, rcv.srv.URL)
	now := time.Date(2031, 6, 10, 12, 0, 0, 0, time.UTC)
	f.spend(t, ws, key, 500_000, 10, now)
	workers := make([]*spendalerts.Worker, 4)
	for i := range workers {
		workers[i] = spendalerts.New(s.Ent, f.l, spendalerts.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Egress: loopbackAllowed})
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Tick(context.Background(), now.Add(time.Minute)); err != nil {
				t.Error(err)
			}
		}()
	}
	ticked := make(chan struct{})
	go func() { wg.Wait(); close(ticked) }()
	select {
	case <-ticked:
	case <-time.After(time.Minute): // a deadlock guard, not a timing assertion
		t.Fatal("the concurrent ticks did not all return within a minute")
	}
	if n, m := len(f.auditAlerts(t, ws)), len(rcv.alerts()); n != 1 || m != 1 {
		t.Fatalf("%d audit lines and %d posts from concurrent ticks, want 1 and 1", n, m)
	}
}
