package keysnapshot_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/gateway"
	"github.com/oais/oais/gateway/keysnapshot"
	"github.com/oais/oais/gateway/ratelimit"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/usage"
)

// TestKeyGuessingCostsNoQueries loads a snapshot through a driver that
// counts every statement and puts it behind the real gateway handler, then
// guesses keys (CONTRACT §2: a flood of guessed keys must not reach the
// database):
//   - 10,000 random well-formed keys looked up in the snapshot: none found,
//     0 statements (Lookup never reads);
//   - 10,000 random keys with a bad checksum, through the gateway: 401
//     invalid_api_key, 0 statements (refused before any look-up);
//   - 10,000 random keys with a valid checksum (anyone can compute one),
//     through the gateway: 401 invalid_api_key, at most FetchBurst
//     statements, the bound on reads of keys the snapshot misses (the clock
//     stands still, so the bound never refills);
//   - the database closed: valid-checksum guesses are still 401
//     invalid_api_key, never a 5xx, and the real key is still served.
func TestKeyGuessingCostsNoQueries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx, ws := owner(t, s.Ent, "owner@example.com")
		created, err := (&apikeys.Service{}).Create(ctx, s.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "real"})
		if err != nil {
			t.Fatal(err)
		}
		const burst = 20
		clk := &clock{t: time.Now()}
		snap, queries, closeDB := counted(t, s, keysnapshot.Options{FetchBurst: burst, FetchRate: 1, Now: clk.Now})
		if queries.Load() == 0 {
			t.Fatal("the counting driver saw no statement during Load")
		}
		gw := gateway.New(gateway.Config{Logger: quiet}, gateway.Deps{Directory: snap, Limiter: ratelimit.NewLocal(ratelimit.Options{}), Recorder: discard{}})
		t.Cleanup(func() { gw.Close() })
		h := gw.Handler()
		chat := func(secret string) (int, string) {
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w.Code, w.Body.String()
		}
		guess := func(t *testing.T, valid bool) string {
			t.Helper()
			for {
				g, err := keys.Generate()
				if err != nil {
					t.Fatal(err)
				}
				sec := g.Reveal()
				if valid {
					return sec
				}
				// Change one checksum character: the CRC no longer matches.
				b := []byte(sec)
				b[len(b)-1] ^= 1
				if sec = string(b); !keys.Valid(sec) {
					return sec
				}
			}
		}
		const guesses = 10_000
		cases := []struct {
			name     string
			try      func(t *testing.T) bool // reports whether the guess got in
			maxReads int64
		}{
			{"lookup", func(t *testing.T) bool { _, ok := snap.Lookup(keys.HashOf(guess(t, true))); return ok }, 0},
			{"bad checksum", func(t *testing.T) bool { return refusedAsUnknown(t, chat, guess(t, false)) }, 0},
			{"valid checksum", func(t *testing.T) bool { return refusedAsUnknown(t, chat, guess(t, true)) }, burst},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := queries.Load()
				in := 0
				for range guesses {
					if c.try(t) {
						in++
					}
				}
				reads := queries.Load() - before
				if in != 0 || reads > c.maxReads {
					t.Fatalf("%d of %d guesses got in, %d statements (at most %d allowed)", in, guesses, reads, c.maxReads)
				}
				t.Logf("FIGURE %s: %d random keys, 0 admitted, %d statements (bound %d)", c.name, guesses, reads, c.maxReads)
			})
		}

		closeDB()
		clk.Add(time.Hour) // refill the bound: these reads fail
		for range 100 {
			refusedAsUnknown(t, chat, guess(t, true))
		}
		p, ok := snap.Lookup(created.Secret.Hash())
		if !ok || p.Key.ID != created.Key.ID {
			t.Fatalf("the real key is not answered from memory after the database closed: %v %+v", ok, p)
		}
		if code, body := chat(created.Secret.Reveal()); code != http.StatusOK {
			t.Fatalf("the real key after the database closed: %d %s", code, body)
		}
	})
}

// refusedAsUnknown fails the test unless secret is refused as an unknown
// key; it reports whether the guess got in.
func refusedAsUnknown(t *testing.T, chat func(string) (int, string), secret string) bool {
	t.Helper()
	code, body := chat(secret)
	if code == http.StatusOK {
		return true
	}
	if code != http.StatusUnauthorized || !strings.Contains(body, `"invalid_api_key"`) {
		t.Fatalf("a guessed key got %d %s, want 401 invalid_api_key", code, body)
	}
	return false
}

// discard is a gateway.Recorder that keeps nothing.
type discard struct{}

func (discard) Append(*usage.Record) error { return nil }

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
