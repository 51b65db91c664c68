package pricing

import "strings"

// DefaultFallback is what Defaults charges for a model it does not know: the
// highest rates in the table (o1's). An unpriced model is then never sold
// below its upstream cost; an operator who adds a cheaper model adds its price.
var DefaultFallback = Price{
	InputMicrosPerMTok:       15_000_000,
	CachedInputMicrosPerMTok: 7_500_000,
	OutputMicrosPerMTok:      60_000_000,
}

// MockPrice is what the built-in mock upstream's models ("mock", "mock-…")
// cost: small but not zero, so metering, quotas and billing can be exercised
// end to end without a real upstream.
var MockPrice = Price{
	InputMicrosPerMTok:       100_000,
	CachedInputMicrosPerMTok: 50_000,
	OutputMicrosPerMTok:      200_000,
}

// defaultPrices are OpenAI's standard-tier list prices in micro-dollars per
// million tokens. Embedding models have no cache or output rate: a cached
// prompt token costs the input rate, and they produce no completion tokens.
var defaultPrices = map[string]Price{
	"gpt-4o":                 {2_500_000, 1_250_000, 10_000_000},
	"gpt-4o-mini":            {150_000, 75_000, 600_000},
	"gpt-4.1":                {2_000_000, 500_000, 8_000_000},
	"gpt-4.1-mini":           {400_000, 100_000, 1_600_000},
	"gpt-4.1-nano":           {100_000, 25_000, 400_000},
	"o1":                     {15_000_000, 7_500_000, 60_000_000},
	"o3":                     {2_000_000, 500_000, 8_000_000},
	"o3-mini":                {1_100_000, 550_000, 4_400_000},
	"o4-mini":                {1_100_000, 275_000, 4_400_000},
	"gpt-3.5-turbo":          {500_000, 500_000, 1_500_000},
	"text-embedding-3-small": {20_000, 20_000, 0},
	"text-embedding-3-large": {130_000, 130_000, 0},
	"text-embedding-ada-002": {100_000, 100_000, 0},
	"mock":                   MockPrice,
}

// defaultAliases are names that are not "<priced name>-<suffix>".
var defaultAliases = map[string]string{
	"chatgpt-4o-latest": "gpt-4o",
}

// Defaults returns the built-in Table: common OpenAI models, the mock
// upstream's "mock-*" models, and DefaultFallback for the rest.
func Defaults() Table {
	t, err := NewTable(defaultPrices, defaultAliases, DefaultFallback)
	if err != nil {
		panic(err) // the built-in table is a constant; a test covers it
	}
	return t
}

// WithOverrides returns the built-in Table with some models' prices
// replaced or added (the admins' edits, stored in the model_prices table).
func WithOverrides(over map[string]Price) (Table, error) {
	prices := make(map[string]Price, len(defaultPrices)+len(over))
	for k, v := range defaultPrices {
		prices[k] = v
	}
	for k, v := range over {
		prices[strings.ToLower(k)] = v
	}
	return NewTable(prices, defaultAliases, DefaultFallback)
}
