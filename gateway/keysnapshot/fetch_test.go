package keysnapshot_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	entworkspace "github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/gateway/keysnapshot"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

// counted returns a snapshot over s whose every statement is counted, and
// a func closing its own connection to the database.
func counted(t *testing.T, s *store.Store, o keysnapshot.Options) (*keysnapshot.Snapshot, *atomic.Int64, func()) {
	t.Helper()
	own, err := store.Open(context.Background(), s.URL.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { own.Close() })
	var n atomic.Int64
	drv := dialect.DebugWithContext(entsql.OpenDB(own.Dialect, own.DB), func(context.Context, ...any) { n.Add(1) })
	if o.Logger == nil {
		o.Logger = quiet
	}
	snap := keysnapshot.New(ent.NewClient(ent.Driver(drv)), o)
	if err := snap.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return snap, &n, func() {
		if err := own.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestFetchReadsKeysChangedAfterLoad: with no Follow running, keys created,
// rotated in or re-activated after the load are found by Fetch and kept
// (the next Lookup answers them from memory, without allocating); keys
// stored revoked, disabled or expired are read as such and not admitted;
// a key of a workspace created after the load carries that workspace's
// policy (limits, suspension, upstream), read with it, never a bare one.
func TestFetchReadsKeysChangedAfterLoad(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, ws := owner(t, s.Ent, "fetch@example.com")
		svc := &apikeys.Service{}
		box, err := secretbox.New("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
		if err != nil {
			t.Fatal(err)
		}
		create := func(t *testing.T, wsID string) *apikeys.Created {
			t.Helper()
			c, err := svc.Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: wsID, Label: "k"})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		setStatus := func(t *testing.T, id string, st keys.Status) {
			t.Helper()
			if _, err := svc.Update(ctx, s.Ent, id, apikeys.UpdateParams{Status: &st}); err != nil {
				t.Fatal(err)
			}
		}
		// Known at the load: a disabled key, a revoked key, a key to rotate.
		disabled := create(t, ws.ID)
		setStatus(t, disabled.Key.ID, keys.StatusDisabled)
		revoked := create(t, ws.ID)
		if _, err := svc.Revoke(ctx, s.Ent, revoked.Key.ID); err != nil {
			t.Fatal(err)
		}
		rotated := create(t, ws.ID)

		snap := keysnapshot.New(s.Ent, keysnapshot.Options{Logger: quiet, Secrets: box, CacheTTL: time.Minute})
		if err := snap.Load(context.Background()); err != nil {
			t.Fatal(err)
		}

		late, err := workspaces.Create(ctx, s.Ent, "late")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := workspaces.SetLimits(ctx, s.Ent, late.ID, ptr(42), nil, nil); err != nil {
			t.Fatal(err)
		}
		upKey := "sk-late-upstream"
		if _, err := workspaces.SetUpstream(ctx, s.Ent, box, nil, late.ID, workspaces.UpstreamParams{BaseURL: "https://late.example.com/v1", APIKey: &upKey}); err != nil {
			t.Fatal(err)
		}
		if err := s.Ent.Workspace.UpdateOneID(late.ID).SetStatus(entworkspace.StatusSUSPENDED).Exec(viewer.SystemContext(ctx)); err != nil {
			t.Fatal(err)
		}
		stored := func(t *testing.T, set func(*ent.APIKeyCreate)) (keys.Hash, string) {
			h, k := newKey(t, s.Ent, ws.ID, set)
			return h, k.ID
		}
		cases := []struct {
			name string
			// key changes the database after the load and returns the
			// key's hash and id.
			key  func(t *testing.T) (keys.Hash, string)
			want error
			ws   string
		}{
			{"created", func(t *testing.T) (keys.Hash, string) {
				c := create(t, ws.ID)
				return c.Secret.Hash(), c.Key.ID
			}, nil, ws.ID},
			{"created in a new workspace", func(t *testing.T) (keys.Hash, string) {
				c := create(t, late.ID)
				return c.Secret.Hash(), c.Key.ID
			}, nil, late.ID},
			{"rotated in", func(t *testing.T) (keys.Hash, string) {
				c, err := svc.Rotate(ctx, s.Ent, rotated.Key.ID, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				return c.Secret.Hash(), c.Key.ID
			}, nil, ws.ID},
			{"re-enabled", func(t *testing.T) (keys.Hash, string) {
				setStatus(t, disabled.Key.ID, keys.StatusActive)
				return disabled.Secret.Hash(), disabled.Key.ID
			}, nil, ws.ID},
			{"un-revoked", func(t *testing.T) (keys.Hash, string) {
				setStatus(t, revoked.Key.ID, keys.StatusActive)
				return revoked.Secret.Hash(), revoked.Key.ID
			}, nil, ws.ID},
			{"stored revoked", func(t *testing.T) (keys.Hash, string) {
				return stored(t, func(q *ent.APIKeyCreate) {
					q.SetStatus(apikey.StatusREVOKED).SetRevokeReason(apikey.RevokeReasonMANUAL)
				})
			}, keys.ErrRevoked, ws.ID},
			{"stored disabled", func(t *testing.T) (keys.Hash, string) {
				return stored(t, func(q *ent.APIKeyCreate) { q.SetStatus(apikey.StatusDISABLED) })
			}, keys.ErrDisabled, ws.ID},
			{"stored expired", func(t *testing.T) (keys.Hash, string) {
				return stored(t, func(q *ent.APIKeyCreate) { q.SetExpiresAt(time.Now().Add(-time.Minute)) })
			}, keys.ErrExpired, ws.ID},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h, id := c.key(t)
				if p, ok := snap.Lookup(h); ok && p.Key.State.Check(time.Now()) == nil {
					t.Fatal("the snapshot admitted the key before any read: the test proves nothing")
				}
				p, ok := snap.Fetch(t.Context(), h)
				if !ok {
					t.Fatal("Fetch did not find the key")
				}
				if p.Key.ID != id || p.Workspace.ID != c.ws {
					t.Fatalf("Fetch answered key %s of workspace %s, want %s of %s", p.Key.ID, p.Workspace.ID, id, c.ws)
				}
				if err := p.Key.State.Check(time.Now()); err != c.want {
					t.Fatalf("the fetched key's state says %v, want %v", err, c.want)
				}
				if q, ok := snap.Lookup(h); !ok || q != p {
					t.Fatal("the fetched key is not kept in the snapshot")
				}
				if c.want == nil {
					if n := testing.AllocsPerRun(100, func() { snap.Lookup(h) }); n != 0 {
						t.Errorf("Lookup of a fetched key allocates %v times", n)
					}
				}
			})
		}
		c := create(t, late.ID)
		p, ok := snap.Fetch(t.Context(), c.Secret.Hash())
		if !ok {
			t.Fatal("a second key of the new workspace was not found")
		}
		if w := p.Workspace; w.RPM != 42 || !w.Suspended || w.Upstream == nil || w.Upstream.BaseURL.Host != "late.example.com" || w.Upstream.Authorization != "Bearer "+upKey {
			t.Errorf("a key of a workspace created after the load has policy %+v, want its row's (rpm 42, suspended, its upstream)", w)
		}
	})
}

// TestFetchReadsOnceForABurst: 64 requests for one key created after the
// load arrive at once; they make one statement between them, and all are
// answered.
func TestFetchReadsOnceForABurst(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, ws := owner(t, s.Ent, "burst@example.com")
		// A timeout no scheduler hiccup reaches: this test counts reads.
		snap, statements, _ := counted(t, s, keysnapshot.Options{FetchTimeout: time.Minute})
		created, err := (&apikeys.Service{}).Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "burst"})
		if err != nil {
			t.Fatal(err)
		}
		h := created.Secret.Hash()
		before := statements.Load()
		const n = 64
		start := make(chan struct{})
		var found atomic.Int64
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-start:
				case <-t.Context().Done():
					return
				}
				if p, ok := snap.Fetch(t.Context(), h); ok && p.Key.ID == created.Key.ID {
					found.Add(1)
				}
			}()
		}
		close(start)
		waitGroup(t, &wg)
		if got := statements.Load() - before; found.Load() != n || got != 1 {
			t.Fatalf("%d of %d concurrent fetches found the key with %d statements, want all with 1", found.Load(), n, got)
		}
		t.Logf("FIGURE %d concurrent fetches of one new key: 1 statement", n)
	})
}

// TestFetchRemembersUnusableHashes: a hash read and found absent (or
// unusable) is refused without another statement for AbsentTTL; then it
// is read again, and a key that appeared meanwhile is found.
func TestFetchRemembersUnusableHashes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		_, ws := owner(t, s.Ent, "absent@example.com")
		clk := &clock{t: time.Now()}
		snap, statements, _ := counted(t, s, keysnapshot.Options{Now: clk.Now, AbsentTTL: 5 * time.Second, FetchTimeout: time.Minute})
		secret, err := keys.Generate()
		if err != nil {
			t.Fatal(err)
		}
		h := secret.Hash()
		before := statements.Load()
		for range 100 {
			if _, ok := snap.Fetch(t.Context(), h); ok {
				t.Fatal("an absent key was found")
			}
		}
		if got := statements.Load() - before; got != 1 {
			t.Fatalf("100 fetches of one absent key made %d statements, want 1", got)
		}
		// Stored now (a key's hash cannot be guessed; this stands for any
		// change the remembered answer hides): unseen until AbsentTTL ends.
		q := s.Ent.APIKey.Create().SetWorkspaceID(ws.ID).SetLabel("late").SetSecretHash(h.String()).SetMaskedKey(keys.Mask(secret.Reveal()))
		if _, err := q.Save(viewer.SystemContext(context.Background())); err != nil {
			t.Fatal(err)
		}
		clk.Add(4 * time.Second)
		if _, ok := snap.Fetch(t.Context(), h); ok || statements.Load()-before != 1 {
			t.Fatalf("within AbsentTTL: found %v after %d statements, want not found after 1", ok, statements.Load()-before)
		}
		clk.Add(2 * time.Second)
		if _, ok := snap.Fetch(t.Context(), h); !ok || statements.Load()-before != 2 {
			t.Fatalf("past AbsentTTL: found %v after %d statements, want found after 2", ok, statements.Load()-before)
		}
	})
}

// TestFetchBoundedWhenTheDatabaseHangs locks a table so that a statement
// blocks, and asks for a key created after the load. Either the read
// itself hangs (api_keys locked), or a poll hangs while it holds the
// snapshot's writer lock, which the read needs to install the key
// (upstreams locked under a running Follow). Both times Fetch answers not
// found once FetchTimeout passes (the wait below only keeps a broken Fetch
// from hanging the test), and the failure is not remembered: once the lock
// is gone the key is found.
func TestFetchBoundedWhenTheDatabaseHangs(t *testing.T) {
	for _, c := range []struct {
		name   string
		table  string
		follow bool
	}{
		{"read hangs", "api_keys", false},
		{"poll hangs holding the writer lock", "upstreams", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := storetest.Postgres(t)
			ctx, ws := owner(t, s.Ent, "hang@example.com")
			snap := keysnapshot.New(s.Ent, keysnapshot.Options{Logger: quiet, FetchTimeout: 200 * time.Millisecond, PollInterval: 10 * time.Millisecond})
			if err := snap.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			created, err := (&apikeys.Service{}).Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "hang"})
			if err != nil {
				t.Fatal(err)
			}
			tx, err := s.DB.BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(t.Context(), "LOCK TABLE "+c.table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
			if c.follow {
				run, stop := context.WithCancel(context.Background())
				followed := make(chan struct{})
				go func() { snap.Follow(run); close(followed) }()
				defer func() {
					stop()
					select {
					case <-followed:
					case <-time.After(30 * time.Second):
						t.Error("Follow did not return after its context ended")
					}
				}()
				// Wait until the poll is blocked on the lock.
				until(t, "no poll waits on the lock", func() bool {
					var n int
					err := s.DB.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_locks WHERE NOT granted").Scan(&n)
					return err == nil && n > 0
				})
			}
			done := make(chan bool, 1)
			go func() {
				_, ok := snap.Fetch(t.Context(), created.Secret.Hash())
				done <- ok
			}()
			select {
			case ok := <-done:
				if ok {
					t.Fatal("found a key the database could not give")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Fetch still waits on a hung database")
			case <-t.Context().Done():
				t.Fatal(t.Context().Err())
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			// The timed-out read may still be unwinding: ask until it has.
			until(t, "a read that timed out keeps the key out after the database recovered", func() bool {
				_, ok := snap.Fetch(t.Context(), created.Secret.Hash())
				return ok
			})
		})
	}
}

// until polls cond every 10 ms, failing the test with what if it does not
// hold within 30 s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-deadline:
			t.Fatal(what)
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitGroup waits for wg, failing the test if that takes a minute.
func waitGroup(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("goroutines still running after a minute")
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}
}
