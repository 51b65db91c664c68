package prices

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func admin() context.Context {
	return viewer.NewContext(context.Background(), &viewer.Viewer{UserID: "usr_admin", SiteAdmin: true})
}

func member() context.Context {
	return viewer.NewContext(context.Background(), &viewer.Viewer{UserID: "usr_member", Roles: map[string]viewer.Role{"ws_1": viewer.RoleOwner}})
}

// TestBuiltInModelsMatchPricing keeps builtInModels equal to the names
// internal/pricing prices by default. pricing.Table has no exported list,
// so the test reads it by reflection; production code never does.
func TestBuiltInModelsMatchPricing(t *testing.T) {
	v := reflect.ValueOf(pricing.Defaults())
	var names []string
	for _, field := range []string{"prices", "aliases"} {
		for _, k := range v.FieldByName(field).MapKeys() {
			names = append(names, k.String())
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, builtInModels) {
		t.Fatalf("builtInModels = %v\npricing.Defaults() prices %v: update builtin.go", builtInModels, names)
	}
	d := pricing.Defaults()
	for _, m := range builtInModels {
		if _, _, ok := d.Lookup(m); !ok {
			t.Fatalf("built-in %q does not resolve", m)
		}
	}
}

func find(rows []Row, model string) (Row, bool) {
	for _, r := range rows {
		if r.Model == model {
			return r, true
		}
	}
	return Row{}, false
}

func TestListSetDelete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := admin()
		rows, err := List(member(), s.Ent)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(builtInModels) || !slices.IsSortedFunc(rows, func(a, b Row) int { return strings.Compare(a.Model, b.Model) }) {
			t.Fatalf("built-in list %v", rows)
		}
		if r, _ := find(rows, "gpt-4o"); !r.BuiltIn || r.InputMicrosPerMTok != 2_500_000 {
			t.Fatalf("gpt-4o %+v", r)
		}

		cheaper := pricing.Price{InputMicrosPerMTok: 2_000_000, CachedInputMicrosPerMTok: 1_000_000, OutputMicrosPerMTok: 8_000_000}
		if _, err := Set(ctx, s.Ent, " GPT-4o ", cheaper); err != nil {
			t.Fatal(err)
		}
		// Setting again updates the one override.
		cheaper.OutputMicrosPerMTok = 7_000_000
		got, err := Set(ctx, s.Ent, "gpt-4o", cheaper)
		if err != nil || got.Model != "gpt-4o" || got.Price != cheaper || got.BuiltIn {
			t.Fatalf("Set = %+v, %v", got, err)
		}
		if _, err := Set(ctx, s.Ent, "llama-3-70b", pricing.Price{InputMicrosPerMTok: 1, OutputMicrosPerMTok: 2}); err != nil {
			t.Fatal(err)
		}
		rows, err = List(member(), s.Ent)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := find(rows, "gpt-4o"); r.BuiltIn || r.Price != cheaper {
			t.Fatalf("overridden gpt-4o %+v", r)
		}
		if r, ok := find(rows, "llama-3-70b"); !ok || r.BuiltIn {
			t.Fatalf("added model %+v %v", r, ok)
		}
		if len(rows) != len(builtInModels)+1 {
			t.Fatalf("%d rows", len(rows))
		}

		removed, err := Delete(ctx, s.Ent, "GPT-4O")
		if err != nil || !removed {
			t.Fatalf("Delete = %v, %v", removed, err)
		}
		removed, err = Delete(ctx, s.Ent, "gpt-4o")
		if err != nil || removed {
			t.Fatalf("second Delete = %v, %v; want false, nil", removed, err)
		}
		rows, _ = List(member(), s.Ent)
		if r, _ := find(rows, "gpt-4o"); !r.BuiltIn || r.InputMicrosPerMTok != 2_500_000 {
			t.Fatalf("gpt-4o after delete %+v", r)
		}
	})
}

func TestSetRejects(t *testing.T) {
	ok := pricing.Price{InputMicrosPerMTok: 10, CachedInputMicrosPerMTok: 5, OutputMicrosPerMTok: 20}
	tests := []struct {
		name      string
		model     string
		price     pricing.Price
		wantField string
	}{
		{"empty name", "  ", ok, "model"},
		{"name too long", strings.Repeat("m", MaxModelLen+1), ok, "model"},
		{"name with space", "gpt 4o", ok, "model"},
		{"negative input", "m", pricing.Price{InputMicrosPerMTok: -1}, "inputMicrosPerMTok"},
		{"negative cached", "m", pricing.Price{InputMicrosPerMTok: 1, CachedInputMicrosPerMTok: -1}, "cachedInputMicrosPerMTok"},
		{"negative output", "m", pricing.Price{OutputMicrosPerMTok: -5}, "outputMicrosPerMTok"},
		{"cached above input", "m", pricing.Price{InputMicrosPerMTok: 5, CachedInputMicrosPerMTok: 6}, "cachedInputMicrosPerMTok"},
		{"absurd rate", "m", pricing.Price{InputMicrosPerMTok: MaxMicrosPerMTok + 1}, "inputMicrosPerMTok"},
	}
	s := storetest.SQLite(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Set(admin(), s.Ent, tt.model, tt.price)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tt.wantField {
				t.Fatalf("Set = %v, want an input error on %s", err, tt.wantField)
			}
		})
	}
	t.Run("200 characters is fine", func(t *testing.T) {
		if _, err := Set(admin(), s.Ent, strings.Repeat("m", MaxModelLen), ok); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOnlySiteAdminsWrite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		p := pricing.Price{InputMicrosPerMTok: 1}
		if _, err := Set(admin(), s.Ent, "kept", p); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			ctx  context.Context
		}{
			{"workspace owner", member()},
			{"no viewer", context.Background()},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := Set(tt.ctx, s.Ent, "gpt-4o", p); !errors.Is(err, privacy.Deny) {
					t.Fatalf("Set = %v, want a privacy deny", err)
				}
				if _, err := Set(tt.ctx, s.Ent, "kept", p); !errors.Is(err, privacy.Deny) {
					t.Fatalf("Set over an existing row = %v, want a privacy deny", err)
				}
				if _, err := Delete(tt.ctx, s.Ent, "kept"); !errors.Is(err, privacy.Deny) {
					t.Fatalf("Delete = %v, want a privacy deny", err)
				}
			})
		}
		rows, err := List(member(), s.Ent)
		if r, ok := find(rows, "kept"); err != nil || !ok || r.Price != p {
			t.Fatalf("override changed by a non-admin: %+v %v", r, err)
		}
	})
}

func TestLiveReload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		table, v, err := Load(ctx, s.Ent)
		if err != nil {
			t.Fatal(err)
		}
		live := NewLive(table, nil)
		const prompt, completion = 1_000_000, 1_000_000
		cost := func(model string) int64 {
			t.Helper()
			p, ok := live.Price(model)
			if !ok {
				t.Fatalf("%s is unpriced", model)
			}
			return p.Cost(prompt, 0, completion)
		}
		if got := cost("gpt-4o"); got != 12_500_000 {
			t.Fatalf("built-in cost %d", got)
		}
		steps := []struct {
			name        string
			change      func() error
			wantChanged bool
			wantCost    int64
		}{
			{"nothing changed", func() error { return nil }, false, 12_500_000},
			{"override added", func() error {
				_, err := Set(admin(), s.Ent, "gpt-4o", pricing.Price{InputMicrosPerMTok: 1_000_000, OutputMicrosPerMTok: 2_000_000})
				return err
			}, true, 3_000_000},
			{"override edited", func() error {
				_, err := Set(admin(), s.Ent, "gpt-4o", pricing.Price{InputMicrosPerMTok: 1_000_000, OutputMicrosPerMTok: 3_000_000})
				return err
			}, true, 4_000_000},
			{"unrelated model added", func() error {
				_, err := Set(admin(), s.Ent, "other", pricing.Price{})
				return err
			}, true, 4_000_000},
			{"override removed", func() error {
				_, err := Delete(admin(), s.Ent, "gpt-4o")
				return err
			}, true, 12_500_000},
		}
		for _, st := range steps {
			if err := st.change(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			next, changed, err := Reload(ctx, s.Ent, live, v)
			if err != nil || changed != st.wantChanged {
				t.Fatalf("%s: Reload changed=%v err=%v", st.name, changed, err)
			}
			v = next
			if got := cost("gpt-4o-2024-08-06"); got != st.wantCost {
				t.Fatalf("%s: cost %d, want %d", st.name, got, st.wantCost)
			}
			if p, _ := live.Price("gpt-4o"); p.WorstCase(prompt, completion) != st.wantCost {
				t.Fatalf("%s: worst case %d, want %d", st.name, p.WorstCase(prompt, completion), st.wantCost)
			}
			if _, ok := live.Price("other"); ok != (st.name == "unrelated model added" || st.name == "override removed") {
				t.Fatalf("%s: priced(other) = %v", st.name, ok)
			}
		}
	})
}

// TestLiveUnpriced: a model no table prices is refused (ok false) unless
// the site set a price for unpriced models, which then applies to it and
// to nothing the table prices.
func TestLiveUnpriced(t *testing.T) {
	site := pricing.Price{InputMicrosPerMTok: 3_000_000, CachedInputMicrosPerMTok: 1_000_000, OutputMicrosPerMTok: 9_000_000}
	tests := []struct {
		name     string
		unpriced *pricing.Price
		model    string
		want     pricing.Price
		wantOK   bool
	}{
		{"priced model", nil, "o3-pro", pricing.Price{InputMicrosPerMTok: 20_000_000, CachedInputMicrosPerMTok: 20_000_000, OutputMicrosPerMTok: 80_000_000}, true},
		{"unknown model refused", nil, "llama-3-70b", pricing.Price{}, false},
		{"unknown model at the site's price", &site, "llama-3-70b", site, true},
		{"the site's price never replaces a listed one", &site, "GPT-4o-mini", pricing.Price{InputMicrosPerMTok: 150_000, CachedInputMicrosPerMTok: 75_000, OutputMicrosPerMTok: 600_000}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := NewLive(pricing.Defaults(), tt.unpriced).Price(tt.model)
			if p != tt.want || ok != tt.wantOK {
				t.Fatalf("Price(%q) = %+v, %v; want %+v, %v", tt.model, p, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// BenchmarkLiveCost is the gateway's per-request pricing through Live: one
// atomic load and a map look-up, then Price.Cost.
func BenchmarkLiveCost(b *testing.B) {
	live := NewLive(pricing.Defaults(), nil)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, _ := live.Price("gpt-4o-mini-2024-07-18")
			p.Cost(1200, 200, 300)
		}
	})
}
