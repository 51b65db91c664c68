package pricing

import "strings"

// MockPrice is what the built-in mock upstream's models ("mock" and the
// quickstart's "mock-gpt") cost: small but not zero, so metering, quotas and
// billing can be exercised end to end without a real upstream.
var MockPrice = Price{
	InputMicrosPerMTok:       100_000,
	CachedInputMicrosPerMTok: 50_000,
	OutputMicrosPerMTok:      200_000,
}

// defaultPrices are OpenAI's standard-tier list prices in micro-dollars per
// million tokens (developers.openai.com/api/docs/pricing and each model's
// page). A model without a cached rate there has its input rate here.
// Embedding models have no output rate: they produce no completion tokens.
//
// Audio and realtime models are priced at their audio-token rates for every
// token: a usage object's totals do not say which tokens were audio, and
// text at the audio rate is billed above list, never below it. An admin who
// knows a workspace sends only text can override the price.
var defaultPrices = map[string]Price{
	"gpt-4o":                             {2_500_000, 1_250_000, 10_000_000},
	"gpt-4o-2024-05-13":                  {5_000_000, 5_000_000, 15_000_000},
	"chatgpt-4o-latest":                  {5_000_000, 5_000_000, 15_000_000},
	"gpt-4o-mini":                        {150_000, 75_000, 600_000},
	"gpt-4o-audio-preview":               {40_000_000, 40_000_000, 80_000_000},
	"gpt-4o-audio-preview-2024-10-01":    {100_000_000, 100_000_000, 200_000_000},
	"gpt-4o-mini-audio-preview":          {10_000_000, 10_000_000, 20_000_000},
	"gpt-4o-realtime-preview":            {40_000_000, 2_500_000, 80_000_000},
	"gpt-4o-realtime-preview-2024-10-01": {100_000_000, 20_000_000, 200_000_000},
	"gpt-4o-mini-realtime-preview":       {10_000_000, 300_000, 20_000_000},
	"gpt-4.1":                            {2_000_000, 500_000, 8_000_000},
	"gpt-4.1-mini":                       {400_000, 100_000, 1_600_000},
	"gpt-4.1-nano":                       {100_000, 25_000, 400_000},
	"o1":                                 {15_000_000, 7_500_000, 60_000_000},
	"o1-preview":                         {15_000_000, 7_500_000, 60_000_000},
	"o1-mini":                            {1_100_000, 550_000, 4_400_000},
	"o1-pro":                             {150_000_000, 150_000_000, 600_000_000},
	"o3":                                 {2_000_000, 500_000, 8_000_000},
	"o3-mini":                            {1_100_000, 550_000, 4_400_000},
	"o3-pro":                             {20_000_000, 20_000_000, 80_000_000},
	"o4-mini":                            {1_100_000, 275_000, 4_400_000},
	"gpt-3.5-turbo":                      {500_000, 500_000, 1_500_000},
	"gpt-4-turbo":                        {10_000_000, 10_000_000, 30_000_000},
	"gpt-4":                              {30_000_000, 30_000_000, 60_000_000},
	"gpt-5":                              {1_250_000, 125_000, 10_000_000},
	"gpt-5-mini":                         {250_000, 25_000, 2_000_000},
	"gpt-5-nano":                         {50_000, 5_000, 400_000},
	"text-embedding-3-small":             {20_000, 20_000, 0},
	"text-embedding-3-large":             {130_000, 130_000, 0},
	"text-embedding-ada-002":             {100_000, 100_000, 0},
	"mock":                               MockPrice,
}

// defaultAliases are the other names of priced models: the dated snapshots
// a family name points at today, listed one by one. A snapshot priced
// differently (gpt-4o-2024-05-13, the first audio and realtime previews)
// has a price of its own above instead; one not listed is unpriced.
var defaultAliases = map[string]string{
	"gpt-4o-2024-08-06":                       "gpt-4o",
	"gpt-4o-2024-11-20":                       "gpt-4o",
	"gpt-4o-mini-2024-07-18":                  "gpt-4o-mini",
	"gpt-4o-audio-preview-2024-12-17":         "gpt-4o-audio-preview",
	"gpt-4o-audio-preview-2025-06-03":         "gpt-4o-audio-preview",
	"gpt-4o-mini-audio-preview-2024-12-17":    "gpt-4o-mini-audio-preview",
	"gpt-4o-realtime-preview-2024-12-17":      "gpt-4o-realtime-preview",
	"gpt-4o-realtime-preview-2025-06-03":      "gpt-4o-realtime-preview",
	"gpt-4o-mini-realtime-preview-2024-12-17": "gpt-4o-mini-realtime-preview",
	"gpt-4.1-2025-04-14":                      "gpt-4.1",
	"gpt-4.1-mini-2025-04-14":                 "gpt-4.1-mini",
	"gpt-4.1-nano-2025-04-14":                 "gpt-4.1-nano",
	"o1-2024-12-17":                           "o1",
	"o1-preview-2024-09-12":                   "o1-preview",
	"o1-mini-2024-09-12":                      "o1-mini",
	"o1-pro-2025-03-19":                       "o1-pro",
	"o3-2025-04-16":                           "o3",
	"o3-mini-2025-01-31":                      "o3-mini",
	"o3-pro-2025-06-10":                       "o3-pro",
	"o4-mini-2025-04-16":                      "o4-mini",
	"gpt-3.5-turbo-0125":                      "gpt-3.5-turbo",
	"gpt-4-turbo-2024-04-09":                  "gpt-4-turbo",
	"gpt-4-0613":                              "gpt-4",
	"gpt-5-2025-08-07":                        "gpt-5",
	"gpt-5-mini-2025-08-07":                   "gpt-5-mini",
	"gpt-5-nano-2025-08-07":                   "gpt-5-nano",
	// The model the quickstart curl names (README, make run).
	"mock-gpt": "mock",
}

// Defaults returns the built-in Table: common OpenAI models and their
// listed snapshots, and the mock upstream's quickstart models. Every other
// model is unpriced until an admin prices it.
func Defaults() Table {
	t, err := NewTable(defaultPrices, defaultAliases)
	if err != nil {
		panic(err) // the built-in table is a constant; a test covers it
	}
	return t
}

// WithOverrides returns the built-in Table with some models' prices
// replaced or added (the admins' edits, stored in the model_prices table).
// An override of an alias prices that name on its own.
func WithOverrides(over map[string]Price) (Table, error) {
	prices := make(map[string]Price, len(defaultPrices)+len(over))
	for k, v := range defaultPrices {
		prices[k] = v
	}
	for k, v := range over {
		prices[strings.ToLower(k)] = v
	}
	return NewTable(prices, defaultAliases)
}
