package keysnapshot_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/gateway"
	"github.com/oais/oais/gateway/keysnapshot"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

var quiet = slog.New(slog.DiscardHandler)

// newKey stores a key of workspace wsID with set applied to its row.
func newKey(t testing.TB, c *ent.Client, wsID string, set func(*ent.APIKeyCreate)) (keys.Hash, *ent.APIKey) {
	t.Helper()
	sec, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	q := c.APIKey.Create().SetWorkspaceID(wsID).SetLabel("k").SetSecretHash(sec.Hash().String()).SetMaskedKey(keys.Mask(sec.Reveal()))
	if set != nil {
		set(q)
	}
	k, err := q.Save(viewer.SystemContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return sec.Hash(), k
}

// entPolicy is the key policy the snapshot built from a whole *ent.APIKey
// before it read rows itself: the reference the compact loader must match.
func entPolicy(k *ent.APIKey, ttl time.Duration) gateway.KeyPolicy {
	st := keys.State{Status: keys.Status(k.Status), MaxRequests: k.MaxRequests, RequestCount: k.RequestCount}
	if k.RevokeReason != nil {
		st.RevokeReason = keys.RevokeReason(*k.RevokeReason)
	}
	if k.ExpiresAt != nil {
		st.ExpiresAt = *k.ExpiresAt
	}
	if k.GraceUntil != nil {
		st.GraceUntil = *k.GraceUntil
	}
	p := gateway.KeyPolicy{ID: k.ID, WorkspaceID: k.WorkspaceID, State: st, AllowedModels: k.AllowedModels,
		CacheEnabled: k.CacheEnabled, CacheTTL: ttl}
	for _, c := range k.IPAllowlist {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			pfx = netip.Prefix{}
		}
		p.IPAllowlist = append(p.IPAllowlist, pfx)
	}
	if k.Rpm != nil {
		p.RPM = *k.Rpm
	}
	if k.Tpm != nil {
		p.TPM = *k.Tpm
	}
	return p
}

// checkKey fails unless got is want, as the gateway reads it: times by
// instant, lists by content, and the request count only against a limit
// (the only place it is read).
func checkKey(t *testing.T, name string, got, want gateway.KeyPolicy) {
	t.Helper()
	g, w := got.State, want.State
	if w.MaxRequests == 0 {
		w.RequestCount = 0
	}
	if got.ID != want.ID || got.WorkspaceID != want.WorkspaceID || g.Status != w.Status || g.RevokeReason != w.RevokeReason ||
		!g.ExpiresAt.Equal(w.ExpiresAt) || !g.GraceUntil.Equal(w.GraceUntil) || g.MaxRequests != w.MaxRequests ||
		g.RequestCount != w.RequestCount || !slices.Equal(got.AllowedModels, want.AllowedModels) ||
		!slices.Equal(got.IPAllowlist, want.IPAllowlist) || got.RPM != want.RPM || got.TPM != want.TPM ||
		got.CacheEnabled != want.CacheEnabled || got.CacheTTL != want.CacheTTL {
		t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
	}
}

// TestLoadMatchesEnt loads keys of every shape and checks each principal
// against the one built from the full ent row, on both databases.
func TestLoadMatchesEnt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, ws := owner(t, s.Ent, "shapes@example.com")
		other, err := workspaces.Create(ctx, s.Ent, "other")
		if err != nil {
			t.Fatal(err)
		}
		exp := time.Now().Add(time.Hour).Truncate(time.Microsecond)
		grace := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
		shapes := []struct {
			name string
			ws   string
			set  func(*ent.APIKeyCreate)
		}{
			{"plain", ws.ID, nil},
			{"other workspace", other.ID, nil},
			{"limits", ws.ID, func(q *ent.APIKeyCreate) { q.SetRpm(60).SetTpm(100_000).SetCacheEnabled(true) }},
			{"request budget", ws.ID, func(q *ent.APIKeyCreate) { q.SetMaxRequests(10).SetRequestCount(7) }},
			{"used, no budget", ws.ID, func(q *ent.APIKeyCreate) { q.SetRequestCount(12345) }},
			{"expires", ws.ID, func(q *ent.APIKeyCreate) { q.SetExpiresAt(exp) }},
			{"rotated out", ws.ID, func(q *ent.APIKeyCreate) { q.SetGraceUntil(grace) }},
			{"models", ws.ID, func(q *ent.APIKeyCreate) { q.SetAllowedModels([]string{"gpt-4o", "gpt-4o-mini"}) }},
			{"empty models", ws.ID, func(q *ent.APIKeyCreate) { q.SetAllowedModels([]string{}) }},
			{"allow-list", ws.ID, func(q *ent.APIKeyCreate) { q.SetIPAllowlist([]string{"10.0.0.0/8", "2001:db8::/32", "bogus"}) }},
			{"disabled", ws.ID, func(q *ent.APIKeyCreate) { q.SetStatus(apikey.StatusDISABLED) }},
			{"revoked", ws.ID, func(q *ent.APIKeyCreate) {
				q.SetStatus(apikey.StatusREVOKED).SetRevokeReason(apikey.RevokeReasonLEAKED)
			}},
		}
		hashes := map[string]keys.Hash{}
		rows := map[string]*ent.APIKey{}
		for _, sh := range shapes {
			hashes[sh.name], rows[sh.name] = newKey(t, s.Ent, sh.ws, sh.set)
		}
		snap := keysnapshot.New(s.Ent, keysnapshot.Options{Logger: quiet, CacheTTL: time.Minute})
		if err := snap.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		if snap.Len() != len(shapes) {
			t.Fatalf("Len = %d, want %d", snap.Len(), len(shapes))
		}
		for _, sh := range shapes {
			t.Run(sh.name, func(t *testing.T) {
				p, ok := snap.Lookup(hashes[sh.name])
				if !ok {
					t.Fatal("not found")
				}
				checkKey(t, sh.name, p.Key, entPolicy(rows[sh.name], time.Minute))
				if p.Workspace == nil || p.Workspace.ID != sh.ws {
					t.Fatalf("workspace %+v, want %s", p.Workspace, sh.ws)
				}
			})
		}
		// Keys of one workspace share its policy.
		a, _ := snap.Lookup(hashes["plain"])
		b, _ := snap.Lookup(hashes["limits"])
		if a.Workspace != b.Workspace {
			t.Error("two keys of a workspace hold different policies")
		}
		if got := testing.AllocsPerRun(100, func() { snap.Lookup(hashes["plain"]) }); got != 0 {
			t.Errorf("Lookup allocates %v times once the principal is built", got)
		}
	})
}

// TestChangesAfterLoad follows what happens after the load: a workspace
// change reaches every key of the workspace (new principals; the old ones
// unchanged) and no other; a key revoked after the load is refused; new
// keys are found, before and after the index is rebuilt with them; month
// totals are read only when a change needs them.
func TestChangesAfterLoad(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		defer keysnapshot.SetMinRebuild(3)()
		ctx, ws := owner(t, s.Ent, "changes@example.com")
		other, err := workspaces.Create(ctx, s.Ent, "other")
		if err != nil {
			t.Fatal(err)
		}
		ha, _ := newKey(t, s.Ent, ws.ID, nil)
		hb, kb := newKey(t, s.Ent, ws.ID, nil)
		hc, _ := newKey(t, s.Ent, other.ID, nil)
		var totals atomic.Int64
		snap := keysnapshot.New(s.Ent, keysnapshot.Options{Logger: quiet, PollInterval: 10 * time.Millisecond,
			Totals: func(context.Context, time.Time) (map[string]int64, map[string]int64, error) {
				n := totals.Add(1)
				return map[string]int64{ws.ID: 5}, map[string]int64{ws.ID: 7 * n}, nil
			}})
		if err := snap.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		run, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { snap.Follow(run); close(done) }()
		defer func() {
			stop()
			select {
			case <-done:
			case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
				t.Error("Follow did not return within 10 s of its context ending")
			}
		}()
		eventually := func(what string, ok func() bool) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal(what)
				}
			}
		}

		a1, _ := snap.Lookup(ha)
		c1, _ := snap.Lookup(hc)
		if a1.Workspace.TokensThisMonth != 5 || a1.Workspace.SpendThisMonthMicros != 7 || totals.Load() != 1 {
			t.Fatalf("totals not seeded once: %+v, %d calls", a1.Workspace, totals.Load())
		}
		if _, err := workspaces.SetLimits(ctx, s.Ent, ws.ID, ptr(42), nil, nil); err != nil {
			t.Fatal(err)
		}
		eventually("workspace change never reached the key", func() bool { p, _ := snap.Lookup(ha); return p.Workspace.RPM == 42 })
		a2, _ := snap.Lookup(ha)
		b2, _ := snap.Lookup(hb)
		c2, _ := snap.Lookup(hc)
		switch {
		case b2.Workspace != a2.Workspace:
			t.Error("the other key of the workspace was not re-pointed to its new policy")
		case a1.Workspace.RPM == 42 || a1 == a2:
			t.Error("a principal returned before the change was modified")
		case c2 != c1:
			t.Error("a key of an unchanged workspace got a new principal")
		case a2.Workspace.TokensThisMonth != 5 || totals.Load() != 1:
			t.Errorf("a limit change re-read month totals (%d calls) or lost them (%+v)", totals.Load(), a2.Workspace)
		}

		// A budget set on a workspace that had none is seeded from fresh
		// totals: the month's usage since the load was counted nowhere.
		if _, err := workspaces.SetSpendCap(ctx, s.Ent, ws.ID, ptr(100)); err != nil {
			t.Fatal(err)
		}
		eventually("spend cap never reached the key", func() bool {
			p, _ := snap.Lookup(ha)
			return p.Workspace.MonthlySpendCapMicros == 1_000_000
		})
		if a3, _ := snap.Lookup(ha); totals.Load() != 2 || a3.Workspace.SpendThisMonthMicros != 14 {
			t.Errorf("a new spend cap did not re-read month totals: %d calls, policy %+v", totals.Load(), a3.Workspace)
		}
		if _, err := workspaces.SetSpendCap(ctx, s.Ent, ws.ID, ptr(200)); err != nil {
			t.Fatal(err)
		}
		eventually("raised spend cap never reached the key", func() bool {
			p, _ := snap.Lookup(ha)
			return p.Workspace.MonthlySpendCapMicros == 2_000_000
		})
		if totals.Load() != 2 {
			t.Errorf("raising a cap re-read month totals (%d calls); the gateway's counter already runs", totals.Load())
		}

		if _, err := (&apikeys.Service{}).Revoke(ctx, s.Ent, kb.ID); err != nil {
			t.Fatal(err)
		}
		eventually("revoked key still accepted", func() bool {
			p, ok := snap.Lookup(hb)
			return ok && p.Key.State.Check(time.Now()) == keys.ErrRevoked
		})
		if p, _ := snap.Lookup(ha); p.Key.State.Check(time.Now()) != nil {
			t.Error("revoking one key refused another")
		}

		// New keys: in recent first, then (past SetMinRebuild) in a rebuilt
		// index; the revoked key keeps its state through the rebuild.
		third, err := workspaces.Create(ctx, s.Ent, "third")
		if err != nil {
			t.Fatal(err)
		}
		var fresh []keys.Hash
		for i := range 6 {
			h, _ := newKey(t, s.Ent, third.ID, func(q *ent.APIKeyCreate) { q.SetLabel(fmt.Sprint("new ", i)) })
			fresh = append(fresh, h)
		}
		eventually("new keys never found", func() bool {
			for _, h := range fresh {
				if _, ok := snap.Lookup(h); !ok {
					return false
				}
			}
			return true
		})
		if snap.Len() != 9 || snap.Recent() > 3 {
			t.Errorf("Len %d (want 9), %d keys outside the index (want ≤ 3 after a rebuild)", snap.Len(), snap.Recent())
		}
		if p, _ := snap.Lookup(hb); p.Key.State.Check(time.Now()) != keys.ErrRevoked {
			t.Error("the rebuild lost a revocation")
		}
		if p, _ := snap.Lookup(fresh[0]); p.Workspace.ID != third.ID {
			t.Errorf("new key in workspace %q", p.Workspace.ID)
		}
		if totals.Load() != 3 {
			t.Errorf("a new workspace should read month totals once more: %d calls", totals.Load())
		}
	})
}

// insertKeys stores n keys over n/100 workspaces with plain SQL (ent would
// take minutes), ids as long as real ones.
func insertKeys(tb testing.TB, s *store.Store, n int) {
	tb.Helper()
	ctx := context.Background()
	sys := viewer.SystemContext(ctx)
	var wss []string
	for i := range max(1, n/100) {
		w, err := s.Ent.Workspace.Create().SetName("bulk").SetSlug(fmt.Sprintf("bulk-%d", i)).SetRpm(1000).Save(sys)
		if err != nil {
			tb.Fatal(err)
		}
		wss = append(wss, w.ID)
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO api_keys (id, created_at, updated_at, label, secret_hash, masked_key, workspace_id, rpm)
		VALUES ($1, $2, $2, 'bulk', $3, 'sk-oa**********xxxx', $4, 60)`)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	for i := range n {
		h := keys.HashOf(fmt.Sprint("bulk-", i))
		if _, err := st.ExecContext(ctx, fmt.Sprintf("key_%026d", i), now, h.String(), wss[i%len(wss)]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkLoad loads 100,000 keys from SQLite and reports the cost per
// key: B/key is the live heap the loaded snapshot holds (after a GC), the
// figure that decides a million keys' resident memory.
func BenchmarkLoad(b *testing.B) {
	const n = 100_000
	s := storetest.SQLite(b)
	insertKeys(b, s, n)
	load := func() *keysnapshot.Snapshot {
		snap := keysnapshot.New(s.Ent, keysnapshot.Options{Logger: quiet})
		if err := snap.Load(context.Background()); err != nil {
			b.Fatal(err)
		}
		return snap
	}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		load()
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*n), "ns/key")
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	snap := load()
	after := heap()
	if snap.Len() != n {
		b.Fatalf("loaded %d keys", snap.Len())
	}
	runtime.KeepAlive(snap)
	b.ReportMetric(float64(after-before)/n, "B/key")
}

// BenchmarkLookup is the snapshot's share of a request: a known key, its
// principal already built. It must not allocate.
func BenchmarkLookup(b *testing.B) {
	const n = 10_000
	s := storetest.SQLite(b)
	insertKeys(b, s, n)
	snap := keysnapshot.New(s.Ent, keysnapshot.Options{Logger: quiet})
	if err := snap.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	h := keys.HashOf("bulk-4242")
	if _, ok := snap.Lookup(h); !ok {
		b.Fatal("not found")
	}
	miss := keys.HashOf("sk-oais-unknown")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := snap.Lookup(h); !ok {
			b.Fatal("not found")
		}
		if _, ok := snap.Lookup(miss); ok {
			b.Fatal("found an unknown key")
		}
	}
}
