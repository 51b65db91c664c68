package pricing

import (
	"errors"
	"math"
	"testing"

	"github.com/oais/oais/internal/usage"
)

// TestExactNames is the attack on prefix pricing: a model is priced by its
// exact name or an explicit alias, never as the priced name it extends.
// "o3-pro" sold as "o3", or an audio model as gpt-4o text, was a tenth of
// list, and the same price sized the spend-cap reservation.
func TestExactNames(t *testing.T) {
	table := Defaults()
	tests := []struct {
		name   string
		model  string
		want   string // the priced name it resolves to; "" for unpriced
		rates  *Price // when set, the exact rates
		wantOK bool
	}{
		{name: "o3-pro is not o3", model: "o3-pro", want: "o3-pro", wantOK: true,
			rates: &Price{20_000_000, 20_000_000, 80_000_000}},
		{name: "o3-pro snapshot", model: "o3-pro-2025-06-10", want: "o3-pro", wantOK: true},
		{name: "o1-pro is not o1", model: "o1-pro", want: "o1-pro", wantOK: true,
			rates: &Price{150_000_000, 150_000_000, 600_000_000}},
		{name: "o1-pro snapshot", model: "o1-pro-2025-03-19", want: "o1-pro", wantOK: true},
		{name: "o1-mini is not o1", model: "o1-mini", want: "o1-mini", wantOK: true,
			rates: &Price{1_100_000, 550_000, 4_400_000}},
		// Audio and realtime models at their audio rates: usage does not say
		// which tokens were audio, and a gateway must not sell below cost.
		{name: "audio preview is not gpt-4o text", model: "gpt-4o-audio-preview", want: "gpt-4o-audio-preview", wantOK: true,
			rates: &Price{40_000_000, 40_000_000, 80_000_000}},
		{name: "audio preview snapshot", model: "gpt-4o-audio-preview-2024-12-17", want: "gpt-4o-audio-preview", wantOK: true},
		{name: "first audio snapshot has its own price", model: "gpt-4o-audio-preview-2024-10-01", want: "gpt-4o-audio-preview-2024-10-01", wantOK: true,
			rates: &Price{100_000_000, 100_000_000, 200_000_000}},
		{name: "realtime preview is not gpt-4o text", model: "gpt-4o-realtime-preview", want: "gpt-4o-realtime-preview", wantOK: true,
			rates: &Price{40_000_000, 2_500_000, 80_000_000}},
		{name: "realtime preview snapshot", model: "gpt-4o-realtime-preview-2024-12-17", want: "gpt-4o-realtime-preview", wantOK: true},
		{name: "mini realtime is not gpt-4o-mini", model: "gpt-4o-mini-realtime-preview", want: "gpt-4o-mini-realtime-preview", wantOK: true},
		{name: "dated gpt-4o", model: "gpt-4o-2024-08-06", want: "gpt-4o", wantOK: true},
		{name: "dated gpt-4o-mini", model: "gpt-4o-mini-2024-07-18", want: "gpt-4o-mini", wantOK: true},
		{name: "first gpt-4o snapshot has its own price", model: "gpt-4o-2024-05-13", want: "gpt-4o-2024-05-13", wantOK: true,
			rates: &Price{5_000_000, 5_000_000, 15_000_000}},
		{name: "dated gpt-4.1-mini", model: "gpt-4.1-mini-2025-04-14", want: "gpt-4.1-mini", wantOK: true},
		{name: "dated o3-mini", model: "o3-mini-2025-01-31", want: "o3-mini", wantOK: true},
		{name: "dated o3", model: "o3-2025-04-16", want: "o3", wantOK: true},
		{name: "mixed case", model: "GPT-4o-Audio-Preview", want: "gpt-4o-audio-preview", wantOK: true},
		{name: "spaces around", model: " O3-PRO ", want: "o3-pro", wantOK: true},
		{name: "quickstart mock model", model: "mock-gpt", want: "mock", wantOK: true},
		{name: "an unlisted snapshot is unpriced", model: "gpt-4o-2099-01-01", wantOK: false},
		{name: "an unlisted suffix is unpriced", model: "gpt-4o-search-preview", wantOK: false},
		{name: "any mock-* is not priced", model: "mock-o3-pro", wantOK: false},
		{name: "unknown", model: "llama-3-70b", wantOK: false},
		{name: "empty", model: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, name, ok := table.Lookup(tt.model)
			if name != tt.want || ok != tt.wantOK {
				t.Fatalf("Lookup(%q) = %q, %v; want %q, %v", tt.model, name, ok, tt.want, tt.wantOK)
			}
			if tt.rates != nil && p != *tt.rates {
				t.Fatalf("Lookup(%q) = %+v, want %+v", tt.model, p, *tt.rates)
			}
			if !ok && p != (Price{}) {
				t.Fatalf("Lookup(%q) of an unpriced model = %+v, want no price", tt.model, p)
			}
			if n, ok2 := table.PricedName(tt.model); n != name || ok2 != ok {
				t.Fatalf("PricedName(%q) = %q, %v; Lookup says %q, %v", tt.model, n, ok2, name, ok)
			}
		})
	}
}

// TestCostAtTheBounds proves that a request's cost cannot overflow or
// saturate silently: at the largest counts the ledger accepts
// (usage.MaxTokens each) and the highest rate a price may have (MaxRate),
// Cost is exact and within usage.MaxCostMicros, which leaves sums of
// hundreds of thousands of such requests inside int64.
func TestCostAtTheBounds(t *testing.T) {
	top := Price{InputMicrosPerMTok: MaxRate, CachedInputMicrosPerMTok: MaxRate, OutputMicrosPerMTok: MaxRate}
	if err := top.Validate(); err != nil {
		t.Fatalf("the highest price is refused: %v", err)
	}
	tests := []struct {
		name                       string
		prompt, cached, completion int64
		want                       int64
	}{
		{"max prompt and completion", usage.MaxTokens, 0, usage.MaxTokens, usage.MaxCostMicros},
		{"max of all three", usage.MaxTokens, usage.MaxTokens, usage.MaxTokens, usage.MaxCostMicros},
		{"one token", 1, 0, 0, MaxRate / tokensPerRate},
		{"worst case as reserved", usage.MaxTokens, 0, usage.MaxTokens, usage.MaxCostMicros},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := top.Cost(tt.prompt, tt.cached, tt.completion)
			if got != tt.want {
				t.Fatalf("Cost = %d, want %d exactly", got, tt.want)
			}
			if got > usage.MaxCostMicros || got >= math.MaxInt64/1000 {
				t.Fatalf("Cost = %d: beyond usage.MaxCostMicros or near int64's limit", got)
			}
		})
	}
	if over := (Price{InputMicrosPerMTok: MaxRate + 1}).Validate(); !errors.Is(over, ErrInvalidPrice) {
		t.Fatalf("a rate above MaxRate validated: %v", over)
	}
	// Every built-in price is within the bound, so every cost the gateway
	// computes from bounded counts is within usage.MaxCostMicros.
	for name, p := range defaultPrices {
		if c := p.Cost(usage.MaxTokens, 0, usage.MaxTokens); c > usage.MaxCostMicros {
			t.Fatalf("%s at the bounds costs %d", name, c)
		}
	}
}
