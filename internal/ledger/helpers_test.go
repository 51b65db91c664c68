package ledger_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
	"github.com/oais/oais/internal/viewer"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type storeT = store.Store

// fixture is a store with two workspaces: A with keys A1 and A2, B with B1.
type fixture struct {
	s          *store.Store
	l          *ledger.Ledger
	logs       *syncBuffer
	wsA, wsB   string
	kA1, kA2   string
	kB1        string
	systemCtx  context.Context
	labelByKey map[string]string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newFixture(t testing.TB, s *store.Store) *fixture {
	t.Helper()
	logs := &syncBuffer{}
	f := &fixture{
		s:          s,
		l:          ledger.New(s, ledger.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))),
		logs:       logs,
		systemCtx:  viewer.SystemContext(context.Background()),
		labelByKey: map[string]string{},
	}
	f.wsA = f.workspace(t, "A")
	f.wsB = f.workspace(t, "B")
	f.kA1 = f.key(t, f.wsA, "alpha")
	f.kA2 = f.key(t, f.wsA, "beta")
	f.kB1 = f.key(t, f.wsB, "gamma")
	return f
}

func (f *fixture) workspace(t testing.TB, name string) string {
	t.Helper()
	w, err := f.s.Ent.Workspace.Create().SetName(name).SetSlug(name + "-" + randHex(4)).Save(f.systemCtx)
	if err != nil {
		t.Fatal(err)
	}
	return w.ID
}

func (f *fixture) key(t testing.TB, ws, label string) string {
	t.Helper()
	k, err := f.s.Ent.APIKey.Create().SetWorkspaceID(ws).SetLabel(label).
		SetSecretHash(randHex(16)).SetMaskedKey("sk-…" + label).Save(f.systemCtx)
	if err != nil {
		t.Fatal(err)
	}
	f.labelByKey[k.ID] = label
	return k.ID
}

// keyRow is what Ship changes on a key, and what it must not.
type keyRow struct {
	requests, cacheHits int64
	lastUsed            *time.Time
	updatedAt           time.Time
}

func (f *fixture) keyRow(t testing.TB, id string) keyRow {
	t.Helper()
	k, err := f.s.Ent.APIKey.Get(f.systemCtx, id)
	if err != nil {
		t.Fatal(err)
	}
	return keyRow{requests: k.RequestCount, cacheHits: k.CacheHits, lastUsed: k.LastUsedAt, updatedAt: k.UpdatedAt}
}

func (f *fixture) events(t testing.TB) int {
	t.Helper()
	n, err := f.s.Ent.UsageEvent.Query().Count(f.systemCtx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) ship(t testing.TB, batch ...usage.Record) {
	t.Helper()
	if err := f.l.Ship(context.Background(), batch); err != nil {
		t.Fatalf("Ship: %v", err)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// rec returns an answered upstream record; mods change it.
func rec(id, ws, key string, at time.Time, mods ...func(*usage.Record)) usage.Record {
	r := usage.Record{
		RequestID: id, WorkspaceID: ws, KeyID: key,
		Model: "gpt-4o", Endpoint: "/v1/chat/completions",
		PromptTokens: 10, CompletionTokens: 5, CostMicros: 100,
		Status: 200, LatencyMillis: 50, Source: usage.SourceUpstream, Time: at,
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func status(code int) func(*usage.Record) { return func(r *usage.Record) { r.Status = code } }

func cacheHit(r *usage.Record) { r.CacheHit, r.Source = true, usage.SourceCache }

// eachPath runs f on SQLite and on PostgreSQL, there once through COPY and
// once through multi-row INSERTs.
func eachPath(t *testing.T, f func(t *testing.T, fx *fixture)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, newFixture(t, storetest.SQLite(t))) })
	t.Run("postgres/copy", func(t *testing.T) {
		fx := newFixture(t, storetest.Postgres(t))
		ledger.SetCopyMin(fx.l, 1)
		f(t, fx)
	})
	t.Run("postgres/values", func(t *testing.T) {
		fx := newFixture(t, storetest.Postgres(t))
		ledger.SetCopyMin(fx.l, 0)
		f(t, fx)
	})
}

// diff returns "" when want and got are deeply equal, and both otherwise.
// The ledger returns times in UTC, so reflect sees equal times as equal.
func diff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return fmt.Sprintf("-want %+v\n+got  %+v", want, got)
}
