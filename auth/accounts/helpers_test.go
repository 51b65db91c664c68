package accounts_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/auth/authtest"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

// TestMain lowers the argon2 cost (as auth's tests do) and drops the
// package's PostgreSQL databases at the end.
func TestMain(m *testing.M) {
	auth.PasswordParams = auth.TestPasswordParams
	storetest.Main(m)
}

var (
	clientIP = netip.MustParseAddr("192.0.2.10")
	otherIP  = netip.MustParseAddr("198.51.100.7")
)

// logBuffer collects JSON log lines from every component of a fixture, so
// tests can check that no secret was logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is the accounts service on a real database, wired as the control
// plane wires it.
type fixture struct {
	s      *store.Store
	issuer *auth.Issuer
	acc    *accounts.Accounts
	clock  *authtest.Clock // the throttle's clock
	logs   *logBuffer
	log    *slog.Logger
}

// fixtureKey seals the signing keys of every fixture, so fixtures on one
// database share them.
const fixtureKey = "b2Fpcy1hY2NvdW50cy10ZXN0LWZpeHR1cmUta2V5LTE="

func fixtureBox(t *testing.T) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(fixtureKey)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newFixture(t *testing.T, s *store.Store, mod ...func(*accounts.Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{s: s, clock: authtest.NewClock(time.Now()), logs: &logBuffer{}}
	f.log = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", f.logs)
		}
	})
	var err error
	f.issuer, err = auth.NewIssuer(ctx, accounts.NewSigningKeyStore(s.Ent, fixtureBox(t)), auth.IssuerConfig{Issuer: "http://oais.test", Logger: f.log})
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	th, err := auth.NewThrottle(auth.ThrottleConfig{AccountFailures: 3, IPFailures: 20, Window: time.Minute, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	opts := accounts.Options{AllowSignUp: true, Throttle: th, Logger: f.log}
	for _, m := range mod {
		m(&opts)
	}
	f.acc, err = accounts.New(s.Ent, f.issuer, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sys() context.Context { return viewer.SystemContext(context.Background()) }

// mkUser inserts a user directly; password "" makes an SSO-only user.
func mkUser(t *testing.T, s *store.Store, email, password string, mod ...func(*ent.UserCreate)) *ent.User {
	t.Helper()
	q := s.Ent.User.Create().SetEmail(email)
	if password != "" {
		h, err := auth.HashPassword(password)
		if err != nil {
			t.Fatal(err)
		}
		q.SetPasswordHash(h)
	}
	for _, m := range mod {
		m(q)
	}
	u, err := q.Save(sys())
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func mkWorkspace(t *testing.T, s *store.Store, name string) *ent.Workspace {
	t.Helper()
	ws, err := s.Ent.Workspace.Create().SetName(name).SetSlug(strings.ToLower(name) + "-" + time.Now().Format("150405.000000")).Save(sys())
	if err != nil {
		t.Fatalf("create workspace: %v", err)
	}
	return ws
}

func addMember(t *testing.T, s *store.Store, ws, userID string, role membership.Role) {
	t.Helper()
	if err := s.Ent.Membership.Create().SetWorkspaceID(ws).SetUserID(userID).SetRole(role).Exec(sys()); err != nil {
		t.Fatalf("add member: %v", err)
	}
}

// auditActions lists the audit log's actions, oldest first.
func auditActions(t *testing.T, s *store.Store) []string {
	t.Helper()
	evs, err := s.Ent.AuditEvent.Query().Order(ent.Asc("created_at"), ent.Asc("id")).All(sys())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Action
	}
	return out
}

// raceBound is how long a test waits for goroutines racing on the store. It
// only turns a deadlock into a failure naming what never returned; nothing
// asserts on it.
const raceBound = time.Minute

// wait waits for wg, or fails the test naming what it waited for.
func wait(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(raceBound):
		t.Fatalf("waited %v for %s", raceBound, what)
	}
}
