package pricing

import (
	"errors"
	"math"
	"testing"
)

func TestLookup(t *testing.T) {
	table := Defaults()
	tests := []struct {
		name   string
		model  string
		want   string
		wantOK bool
	}{
		{"exact", "gpt-4o", "gpt-4o", true},
		{"dated snapshot", "gpt-4o-2024-08-06", "gpt-4o", true},
		{"longest prefix wins", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", true},
		{"dotted family", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini", true},
		{"reasoning family", "o3-mini-2025-01-31", "o3-mini", true},
		{"o3 is not o3-mini", "o3-2025-04-16", "o3", true},
		{"case and space insensitive", " GPT-4O ", "gpt-4o", true},
		{"alias", "chatgpt-4o-latest", "gpt-4o", true},
		{"mock family", "mock-gpt", "mock", true},
		{"bare mock", "mock", "mock", true},
		{"prefix needs a dash", "gpt-4oo", "", false},
		{"unknown", "llama-3-70b", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, name, ok := table.Lookup(tt.model)
			if name != tt.want || ok != tt.wantOK {
				t.Fatalf("Lookup(%q) = %q, %v; want %q, %v", tt.model, name, ok, tt.want, tt.wantOK)
			}
			if n, ok2 := table.PricedName(tt.model); n != name || ok2 != ok {
				t.Fatalf("PricedName(%q) = %q, %v; Lookup says %q, %v", tt.model, n, ok2, name, ok)
			}
			if !ok && p != DefaultFallback {
				t.Fatalf("Lookup(%q) price = %+v, want the fallback", tt.model, p)
			}
		})
	}
}

func TestCost(t *testing.T) {
	table := Defaults()
	tests := []struct {
		name                       string
		model                      string
		prompt, cached, completion int64
		want                       int64
	}{
		{"nothing", "gpt-4o", 0, 0, 0, 0},
		{"exact million", "gpt-4o", 1_000_000, 0, 1_000_000, 12_500_000},
		// 1 token at 2.5 micros/token = 2.5 → 3: rounded up, never down.
		{"one prompt token rounds up", "gpt-4o", 1, 0, 0, 3},
		{"one embedding token rounds up to one micro", "text-embedding-3-small", 1, 0, 0, 1},
		// 1000*2.5 + 500*10 = 7500 exactly.
		{"no rounding when exact", "gpt-4o", 1000, 0, 500, 7500},
		// 1000 uncached*0.15 + 0 + 1*0.6 = 150.6 → 151.
		{"rounds the total once", "gpt-4o-mini", 1000, 0, 1, 151},
		// 600 uncached*2.5 + 400 cached*1.25 = 1500 + 500.
		{"cached tokens at the cached rate", "gpt-4o", 1000, 400, 0, 2000},
		{"cached clamped to prompt", "gpt-4o", 100, 1000, 0, 125},
		{"negative counts are zero", "gpt-4o", -5, -5, -5, 0},
		{"unknown model at fallback", "nobody-knows", 1_000_000, 0, 0, 15_000_000},
		{"mock is cheap but not free", "mock-echo", 10, 0, 10, 3},
		{"huge prompt saturates", "o1", math.MaxInt64, 0, 0, math.MaxInt64},
		{"huge everything saturates", "o1", math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64},
		// 2^62 tokens at 0.02 micros = 92233720368547758.08 → ...59: exact in 128 bits.
		{"huge count without overflow", "text-embedding-3-small", 1 << 62, 0, 0, 92233720368547759},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := table.Cost(tt.model, tt.prompt, tt.cached, tt.completion)
			if got != tt.want {
				t.Fatalf("Cost(%q, %d, %d, %d) = %d, want %d", tt.model, tt.prompt, tt.cached, tt.completion, got, tt.want)
			}
		})
	}
}

func TestWorstCase(t *testing.T) {
	table := Defaults()
	tests := []struct {
		name              string
		model             string
		prompt, maxOutput int64
		want              int64
	}{
		{"prompt and full output", "gpt-4o", 1000, 1000, 12_500},
		{"never below an actual cost", "gpt-4o-mini", 1000, 1, 151},
		{"unknown model", "x", 1, 1, 75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := table.WorstCase(tt.model, tt.prompt, tt.maxOutput); got != tt.want {
				t.Fatalf("WorstCase = %d, want %d", got, tt.want)
			}
			// A reservation covers any answer within the limit, cached or not.
			if actual := table.Cost(tt.model, tt.prompt, tt.prompt/2, tt.maxOutput); actual > tt.want {
				t.Fatalf("actual cost %d above worst case %d", actual, tt.want)
			}
		})
	}
}

func TestNewTableRejects(t *testing.T) {
	ok := Price{InputMicrosPerMTok: 2, CachedInputMicrosPerMTok: 1, OutputMicrosPerMTok: 3}
	tests := []struct {
		name     string
		prices   map[string]Price
		aliases  map[string]string
		fallback Price
	}{
		{"negative rate", map[string]Price{"m": {InputMicrosPerMTok: -1}}, nil, ok},
		{"cached above input", map[string]Price{"m": {InputMicrosPerMTok: 1, CachedInputMicrosPerMTok: 2}}, nil, ok},
		{"bad fallback", nil, nil, Price{OutputMicrosPerMTok: -1}},
		{"dangling alias", map[string]Price{"m": ok}, map[string]string{"a": "n"}, ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTable(tt.prices, tt.aliases, tt.fallback); !errors.Is(err, ErrInvalidPrice) {
				t.Fatalf("NewTable error = %v, want ErrInvalidPrice", err)
			}
		})
	}
}

func TestDefaultsCoverContractModels(t *testing.T) {
	table := Defaults()
	for _, model := range []string{
		"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o3", "o3-mini",
		"o4-mini", "gpt-3.5-turbo", "text-embedding-3-small", "text-embedding-3-large",
		"text-embedding-ada-002", "mock-chat",
	} {
		t.Run(model, func(t *testing.T) {
			p, _, ok := table.Lookup(model)
			if !ok || p.InputMicrosPerMTok <= 0 {
				t.Fatalf("Lookup(%q) = %+v, %v; want a positive price", model, p, ok)
			}
		})
	}
}

// FuzzCostMonotonic checks that more prompt or completion tokens never cost
// less, and more cached tokens never cost more, for any valid price.
func FuzzCostMonotonic(f *testing.F) {
	f.Add(int64(2_500_000), int64(1_250_000), int64(10_000_000), int64(1000), int64(100), int64(50), uint32(1))
	f.Add(int64(20_000), int64(20_000), int64(0), int64(1), int64(0), int64(0), uint32(7))
	f.Add(int64(60_000_000), int64(1), int64(60_000_000), int64(math.MaxInt64-1), int64(3), int64(math.MaxInt64-1), uint32(1))
	f.Fuzz(func(t *testing.T, in, cachedRate, out, prompt, cached, completion int64, delta uint32) {
		in, cachedRate, out = abs(in)%100_000_000, abs(cachedRate)%100_000_000, abs(out)%100_000_000
		cachedRate = min(cachedRate, in)
		p := Price{InputMicrosPerMTok: in, CachedInputMicrosPerMTok: cachedRate, OutputMicrosPerMTok: out}
		d := int64(delta)
		base := p.Cost(prompt, cached, completion)
		if base < 0 {
			t.Fatalf("negative cost %d", base)
		}
		if got := p.Cost(saturatingAdd(prompt, d), cached, completion); got < base {
			t.Fatalf("more prompt tokens cost less: %d < %d (%+v)", got, base, p)
		}
		if got := p.Cost(prompt, cached, saturatingAdd(completion, d)); got < base {
			t.Fatalf("more completion tokens cost less: %d < %d (%+v)", got, base, p)
		}
		if got := p.Cost(prompt, saturatingAdd(cached, d), completion); got > base {
			t.Fatalf("more cached tokens cost more: %d > %d (%+v)", got, base, p)
		}
	})
}

func abs(n int64) int64 {
	if n == math.MinInt64 {
		return math.MaxInt64
	}
	return max(n, -n)
}

func saturatingAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
