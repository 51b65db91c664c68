package billing_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/billing"
)

func TestIdentifier(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
	long := strings.Repeat("w", 200)
	tests := []struct {
		name       string
		ws         string
		start      time.Time
		want       string // "" to check only the invariants
		wantPrefix string
	}{
		{"plain", "ws_123", t0, "oais-ws_123-20300102T030400.000000000Z", ""},
		{"uuid keeps its dashes", "550e8400-e29b-41d4-a716-446655440000", t0,
			"oais-550e8400-e29b-41d4-a716-446655440000-20300102T030400.000000000Z", ""},
		{"other zone, same instant", "ws_123", t0.In(time.FixedZone("X", 5*3600)), "oais-ws_123-20300102T030400.000000000Z", ""},
		{"sub-second start", "ws_123", t0.Add(1500 * time.Millisecond), "oais-ws_123-20300102T030401.500000000Z", ""},
		{"long id is hashed", long, t0, "", "oaish-"},
		{"odd characters are hashed", "ws 1/é", t0, "", "oaish-"},
		{"empty id is hashed", "", t0, "", "oaish-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := billing.Identifier(tt.ws, tt.start)
			if tt.want != "" && got != tt.want {
				t.Fatalf("Identifier = %q, want %q", got, tt.want)
			}
			if !strings.HasPrefix(got, tt.wantPrefix) {
				t.Fatalf("Identifier = %q, want prefix %q", got, tt.wantPrefix)
			}
			if len(got) > billing.MaxIdentifierLen {
				t.Fatalf("len(Identifier) = %d > %d", len(got), billing.MaxIdentifierLen)
			}
			if again := billing.Identifier(tt.ws, tt.start); again != got {
				t.Fatalf("not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestIdentifierUnique(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
	workspaces := []string{"a", "a-b", "a_b", "ab", "h-x", strings.Repeat("x", 68), strings.Repeat("x", 69), strings.Repeat("x", 70), "ws 1", "ws 2"}
	starts := []time.Time{t0, t0.Add(time.Nanosecond), t0.Add(time.Second), t0.Add(time.Minute), t0.AddDate(1, 0, 0)}
	seen := map[string]string{}
	for _, ws := range workspaces {
		for _, s := range starts {
			id := billing.Identifier(ws, s)
			key := ws + "@" + s.String()
			if prev, dup := seen[id]; dup {
				t.Fatalf("%q and %q share identifier %q", prev, key, id)
			}
			seen[id] = key
			if len(id) > billing.MaxIdentifierLen {
				t.Fatalf("Identifier(%q) has %d characters", ws, len(id))
			}
		}
	}
}

func TestReissueIdentifier(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
	periods := []string{"per_01M95HNRMF1082NRK5VCA31RS2", "per_1", "per_1-2", "a", "a-1", strings.Repeat("p", 100), "odd id/é"}
	seen := map[string]string{}
	for _, id := range periods {
		for g := 1; g <= 12; g++ {
			got := billing.ReissueIdentifier(id, g)
			key := id + "#" + strconv.Itoa(g)
			if prev, dup := seen[got]; dup {
				t.Fatalf("%q and %q share %q", prev, key, got)
			}
			seen[got] = key
			if len(got) > billing.MaxIdentifierLen || got != billing.ReissueIdentifier(id, g) {
				t.Fatalf("ReissueIdentifier(%q, %d) = %q: too long or not deterministic", id, g, got)
			}
			// Never a generation-0 identifier, of any workspace.
			if strings.HasPrefix(got, "oais-") || strings.HasPrefix(got, "oaish-") {
				t.Fatalf("ReissueIdentifier(%q, %d) = %q looks like a first identifier", id, g, got)
			}
			if pid, pg, ok := billing.ParseReissueIdentifier(got); strings.HasPrefix(got, "oaisr-") && (!ok || pid != id || pg != g) {
				t.Fatalf("ParseReissueIdentifier(%q) = %q, %d, %v; want %q, %d", got, pid, pg, ok, id, g)
			}
		}
	}
	for _, s := range []string{billing.Identifier("ws_1", t0), "oaisr-", "oaisr-x", "oaisr-x-0", "oaisr-x-01", "oaisr--1", "oaisr-x-1a", "oaisrh-abc-1"} {
		if _, _, ok := billing.ParseReissueIdentifier(s); ok {
			t.Errorf("ParseReissueIdentifier(%q) accepted it", s)
		}
	}
}
