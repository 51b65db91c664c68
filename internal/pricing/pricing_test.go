package pricing

import (
	"errors"
	"math"
	"testing"
)

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
		{"unknown model costs nothing: the gateway refuses it first", "nobody-knows", 1_000_000, 0, 0, 0},
		{"mock is cheap but not free", "mock-gpt", 10, 0, 10, 3},
		{"huge prompt saturates", "o1", math.MaxInt64, 0, 0, math.MaxInt64},
		{"huge everything saturates", "o1", math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64},
		// 2^62 tokens at 0.02 micros = 92233720368547758.08 → ...59: exact in 128 bits.
		{"huge count without overflow", "text-embedding-3-small", 1 << 62, 0, 0, 92233720368547759},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, _ := table.Lookup(tt.model)
			got := p.Cost(tt.prompt, tt.cached, tt.completion)
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
		{"pro model", "o1-pro", 1000, 1000, 750_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, _ := table.Lookup(tt.model)
			if got := p.WorstCase(tt.prompt, tt.maxOutput); got != tt.want {
				t.Fatalf("WorstCase = %d, want %d", got, tt.want)
			}
			// A reservation covers any answer within the limit, cached or not.
			if actual := p.Cost(tt.prompt, tt.prompt/2, tt.maxOutput); actual > tt.want {
				t.Fatalf("actual cost %d above worst case %d", actual, tt.want)
			}
		})
	}
}

func TestNewTableRejects(t *testing.T) {
	ok := Price{InputMicrosPerMTok: 2, CachedInputMicrosPerMTok: 1, OutputMicrosPerMTok: 3}
	tests := []struct {
		name    string
		prices  map[string]Price
		aliases map[string]string
	}{
		{"negative rate", map[string]Price{"m": {InputMicrosPerMTok: -1}}, nil},
		{"cached above input", map[string]Price{"m": {InputMicrosPerMTok: 1, CachedInputMicrosPerMTok: 2}}, nil},
		{"input above the bound", map[string]Price{"m": {InputMicrosPerMTok: MaxRate + 1}}, nil},
		{"output above the bound", map[string]Price{"m": {OutputMicrosPerMTok: MaxRate + 1}}, nil},
		{"dangling alias", map[string]Price{"m": ok}, map[string]string{"a": "n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTable(tt.prices, tt.aliases); !errors.Is(err, ErrInvalidPrice) {
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
		"text-embedding-ada-002", "mock", "mock-gpt",
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

// TestCostAtMultiplier: a group's multiplier scales the exact price and
// rounds once, and list price is Cost exactly.
func TestCostAtMultiplier(t *testing.T) {
	p := Price{InputMicrosPerMTok: 2_500_000, CachedInputMicrosPerMTok: 1_250_000, OutputMicrosPerMTok: 10_000_000}
	for _, tc := range []struct {
		name                       string
		bps, prompt, cached, compl int64
		want                       int64
	}{
		// 1000 × 2.5 + 500 × 10 = 7500 µ$ at list price; × 1.5 = 11250.
		{"list", ListBps, 1000, 0, 500, 7500},
		{"one and a half", 15_000, 1000, 0, 500, 11_250},
		{"half", 5_000, 1000, 0, 500, 3_750},
		{"free", 0, 1000, 0, 500, 0},
		// 1 token × 2.5 µ$ = 2.5 → 3 at list; × 1.5 = 3.75 → 4, not 3 × 1.5 = 4.5 → 5.
		{"rounds once, up", 15_000, 1, 0, 0, 4},
		{"cached", 15_000, 1000, 1000, 0, 1_875},
		{"clamped above", 10 * MaxMultiplierBps, 1000, 0, 0, 25_000},
		{"negative is free", -1, 1000, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.CostAt(tc.bps, tc.prompt, tc.cached, tc.compl); got != tc.want {
				t.Fatalf("CostAt(%d, %d, %d, %d) = %d, want %d", tc.bps, tc.prompt, tc.cached, tc.compl, got, tc.want)
			}
		})
	}
	// At list price CostAt is Cost, and the generic path agrees with it.
	for _, n := range []int64{0, 1, 7, 999_999, 1_000_001} {
		if a, b := p.CostAt(ListBps, n, n/3, n), p.Cost(n, n/3, n); a != b {
			t.Fatalf("CostAt(list) = %d, Cost = %d", a, b)
		}
		if a, b := p.CostAt(ListBps+0, n, n/3, n), p.CostAt(20_000, n, n/3, n); b < a {
			t.Fatalf("2× cost %d below list %d", b, a)
		}
	}
	if got := p.WorstCaseAt(15_000, 1000, 500); got != 11_250 {
		t.Fatalf("WorstCaseAt = %d, want 11250", got)
	}
}
