package keysnapshot_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	entsql "entgo.io/ent/dialect/sql"

	"entgo.io/ent/dialect"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/gateway/keysnapshot"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
)

// TestKeyGuessingCostsNoQueries loads a snapshot through a driver that
// counts every statement, closes the database, then looks up 10,000 random
// well-formed keys and the real one: zero statements, unknown keys not
// found, the real key still found. A flood of guessed keys costs the
// database nothing (CONTRACT §2).
func TestKeyGuessingCostsNoQueries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, ws := owner(t, s.Ent, "owner@example.com")
		created, err := (&apikeys.Service{}).Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "real"})
		if err != nil {
			t.Fatal(err)
		}
		own, err := store.Open(context.Background(), s.URL.String())
		if err != nil {
			t.Fatal(err)
		}
		var queries atomic.Int64
		counted := dialect.DebugWithContext(entsql.OpenDB(own.Dialect, own.DB), func(context.Context, ...any) { queries.Add(1) })
		snap := keysnapshot.New(ent.NewClient(ent.Driver(counted)), keysnapshot.Options{Logger: slog.New(slog.DiscardHandler)})
		if err := snap.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		if queries.Load() == 0 {
			t.Fatal("the counting driver saw no statement during Load")
		}
		if err := own.Close(); err != nil {
			t.Fatal(err)
		}
		loaded := queries.Load()

		const guesses = 10_000
		found := 0
		for range guesses {
			g, err := keys.Generate()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := snap.Lookup(g.Hash()); ok {
				found++
			}
		}
		p, ok := snap.Lookup(created.Secret.Hash())
		if !ok || p.Key.ID != created.Key.ID {
			t.Fatalf("the real key is not answered from memory after the database closed: %v %+v", ok, p)
		}
		if found != 0 || queries.Load() != loaded {
			t.Fatalf("%d guesses found, %d statements during %d look-ups", found, queries.Load()-loaded, guesses)
		}
		t.Logf("FIGURE %d random keys: 0 found, 0 statements (Load took %d)", guesses, loaded)
	})
}

// FuzzLookup looks up the hash of arbitrary strings in a loaded snapshot:
// never a panic, and only the real secret is found.
func FuzzLookup(f *testing.F) {
	s := storetest.SQLite(f)
	f.Add("sk-oais-")
	f.Add("")
	f.Add("sk-oais-0000000000000000000000000000000000000000")
	var secret string
	var snap *keysnapshot.Snapshot
	f.Fuzz(func(t *testing.T, candidate string) {
		if snap == nil {
			ctx, ws := owner(t, s.Ent, "fuzz@example.com")
			created, err := (&apikeys.Service{}).Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "real"})
			if err != nil {
				t.Fatal(err)
			}
			secret = created.Secret.Reveal()
			snap = keysnapshot.New(s.Ent, keysnapshot.Options{Logger: slog.New(slog.DiscardHandler)})
			if err := snap.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		_, ok := snap.Lookup(keys.HashOf(candidate))
		if ok != (candidate == secret) {
			t.Fatalf("Lookup(%q) = %v", candidate, ok)
		}
	})
}
