// Package pricing turns token counts into money: micro-dollars, integers only.
//
// Rates are micro-dollars per million tokens (1 USD = 1,000,000 micros), so a
// list price of "$2.50 / 1M input tokens" is written 2_500_000. A request's cost
// is rounded up to the next whole micro-dollar once, on the request's total: we
// never bill below what the upstream bills us, and the error is strictly less
// than 1 micro-dollar ($0.000001) per request.
package pricing

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// tokensPerRate is the unit of every rate: one million tokens.
const tokensPerRate = 1_000_000

// MaxRate bounds every rate: $1,000,000 per million tokens. No model comes
// near it; with usage.MaxTokens it bounds one request's cost by
// usage.MaxCostMicros (raise them together), which is what keeps sums of
// money far from int64's limit.
const MaxRate = 1_000_000_000_000

// ErrInvalidPrice is returned by NewTable and Price.Validate for a negative
// rate, a rate above MaxRate, a cached rate above the input rate, or an
// alias that points at no priced model.
var ErrInvalidPrice = errors.New("pricing: invalid price")

// Price is one model's rates in micro-dollars per million tokens.
type Price struct {
	// InputMicrosPerMTok is charged for prompt tokens not served from the
	// upstream's prompt cache.
	InputMicrosPerMTok int64
	// CachedInputMicrosPerMTok is charged for prompt tokens served from the
	// upstream's prompt cache. It must not exceed InputMicrosPerMTok, which is
	// what keeps Cost monotonic (see Price.Cost).
	CachedInputMicrosPerMTok int64
	// OutputMicrosPerMTok is charged for completion tokens (reasoning included).
	OutputMicrosPerMTok int64
}

// Validate reports whether p is a price a Table may hold.
func (p Price) Validate() error {
	switch {
	case p.InputMicrosPerMTok < 0 || p.CachedInputMicrosPerMTok < 0 || p.OutputMicrosPerMTok < 0:
		return fmt.Errorf("%w: negative rate %+v", ErrInvalidPrice, p)
	case p.InputMicrosPerMTok > MaxRate || p.OutputMicrosPerMTok > MaxRate:
		return fmt.Errorf("%w: rate above %d micro-dollars per million tokens %+v", ErrInvalidPrice, int64(MaxRate), p)
	case p.CachedInputMicrosPerMTok > p.InputMicrosPerMTok:
		return fmt.Errorf("%w: cached input rate above input rate %+v", ErrInvalidPrice, p)
	}
	return nil
}

// Table maps model names to prices. A model is priced by its exact name
// (case-insensitively) or by an explicit alias, never by a prefix: "o3-pro"
// is not "o3", and a dated snapshot is priced only when it is listed. The
// zero Table prices nothing; build one with NewTable or Defaults. A Table
// is immutable and safe for concurrent use.
type Table struct {
	prices  map[string]Price
	aliases map[string]string
}

// NewTable returns a Table of prices (by model name) and aliases (alias →
// priced name). Names are matched case-insensitively.
func NewTable(prices map[string]Price, aliases map[string]string) (Table, error) {
	t := Table{
		prices:  make(map[string]Price, len(prices)),
		aliases: make(map[string]string, len(aliases)),
	}
	for name, p := range prices {
		if err := p.Validate(); err != nil {
			return Table{}, fmt.Errorf("model %q: %w", name, err)
		}
		t.prices[strings.ToLower(name)] = p
	}
	for alias, target := range aliases {
		target = strings.ToLower(target)
		if _, ok := t.prices[target]; !ok {
			return Table{}, fmt.Errorf("%w: alias %q points at unpriced model %q", ErrInvalidPrice, alias, target)
		}
		t.aliases[strings.ToLower(alias)] = target
	}
	return t, nil
}

// Lookup returns the Price of model and the priced name it resolved to,
// trying its exact name, then an alias, case-insensitively and without
// surrounding spaces. ok is false when the table has no price for model;
// the gateway then refuses it, unless the site set a price for unpriced
// models (internal/prices.Live).
func (t Table) Lookup(model string) (p Price, name string, ok bool) {
	m := strings.ToLower(strings.TrimSpace(model))
	if p, ok := t.prices[m]; ok {
		return p, m, true
	}
	if target, ok := t.aliases[m]; ok {
		return t.prices[target], target, true
	}
	return Price{}, "", false
}

// WorstCase returns the most a request can cost before its answer is known:
// every prompt token uncached and maxCompletionTokens generated. Admission
// reserves this much against a spend cap. The caller passes the model's
// output limit when the request set no max_tokens.
func (p Price) WorstCase(promptTokens, maxCompletionTokens int64) int64 {
	return p.Cost(promptTokens, 0, maxCompletionTokens)
}

// PricedName returns the priced name model resolves to (as Lookup does),
// false when it matches nothing. Unlike model, the name is one of the
// table's, so it can name a metrics series.
func (t Table) PricedName(model string) (string, bool) {
	_, name, ok := t.Lookup(model)
	return name, ok
}

// Cost returns what one request costs, in micro-dollars, rounded up.
//
// cachedTokens is the part of promptTokens that the upstream served from its
// prompt cache (OpenAI's prompt_tokens_details.cached_tokens), so it is
// clamped to promptTokens; negative counts are treated as zero. The result is
// non-decreasing in promptTokens and completionTokens and non-increasing in
// cachedTokens (a cached token never costs more than an uncached one). The
// exact product is computed in 128 bits, so no count overflows. With counts
// within usage.MaxTokens and rates within MaxRate the result is at most
// usage.MaxCostMicros; a result beyond math.MaxInt64 (unreachable then)
// saturates there rather than wrapping.
func (p Price) Cost(promptTokens, cachedTokens, completionTokens int64) int64 {
	prompt := nonNegative(promptTokens)
	cached := min(nonNegative(cachedTokens), prompt)
	var acc uint128
	acc.addMul(uint64(prompt-cached), uint64(nonNegative(p.InputMicrosPerMTok)))
	acc.addMul(uint64(cached), uint64(nonNegative(p.CachedInputMicrosPerMTok)))
	acc.addMul(uint64(nonNegative(completionTokens)), uint64(nonNegative(p.OutputMicrosPerMTok)))
	return acc.divCeilSaturating(tokensPerRate)
}

// ListBps is the price multiplier of list price, in basis points: a
// group's multiplier (internal/groups) is read against it.
const ListBps = 10_000

// MaxMultiplierBps bounds a group's multiplier: 10× list price. With
// MaxRate it keeps a scaled rate within 64 bits (10^12 × 10^5 < 2^63).
const MaxMultiplierBps = 100_000

// CostAt returns what one request costs at bps basis points of list price
// (ListBps: Cost exactly), in micro-dollars, rounded up once on the
// request's total: ceil(Σ tokens × rate × bps / (10^6 × 10^4)), computed
// exactly in 128 bits, so a 1.5× group pays 1.5× the exact price, never
// 1.5× a price already rounded. bps is clamped to [0, MaxMultiplierBps].
// Like Cost it is monotonic in the counts; the result can exceed
// usage.MaxCostMicros by the multiplier, so the gateway clamps it there.
func (p Price) CostAt(bps, promptTokens, cachedTokens, completionTokens int64) int64 {
	if bps == ListBps {
		return p.Cost(promptTokens, cachedTokens, completionTokens)
	}
	b := uint64(min(max(bps, 0), MaxMultiplierBps))
	prompt := nonNegative(promptTokens)
	cached := min(nonNegative(cachedTokens), prompt)
	var acc uint128
	acc.addMul(uint64(prompt-cached), uint64(min(nonNegative(p.InputMicrosPerMTok), MaxRate))*b)
	acc.addMul(uint64(cached), uint64(min(nonNegative(p.CachedInputMicrosPerMTok), MaxRate))*b)
	acc.addMul(uint64(nonNegative(completionTokens)), uint64(min(nonNegative(p.OutputMicrosPerMTok), MaxRate))*b)
	return acc.divCeilSaturating(tokensPerRate * ListBps)
}

// WorstCaseAt is WorstCase at bps basis points of list price: what admission
// reserves against a spend cap or a credit quota for a group's request.
func (p Price) WorstCaseAt(bps, promptTokens, maxCompletionTokens int64) int64 {
	return p.CostAt(bps, promptTokens, 0, maxCompletionTokens)
}

func nonNegative(n int64) int64 { return max(n, 0) }

// uint128 holds the exact sum of up to three products of two values below
// 2^63, which is below 2^128, so the sum itself never wraps.
type uint128 struct{ hi, lo uint64 }

func (u *uint128) addMul(a, b uint64) {
	hi, lo := bits.Mul64(a, b)
	var carry uint64
	u.lo, carry = bits.Add64(u.lo, lo, 0)
	u.hi, _ = bits.Add64(u.hi, hi, carry)
}

// divCeilSaturating returns ceil(u/d) or math.MaxInt64 if that is larger.
func (u uint128) divCeilSaturating(d uint64) int64 {
	if u.hi >= d { // the quotient would not fit in 64 bits (bits.Div64 panics)
		return math.MaxInt64
	}
	q, r := bits.Div64(u.hi, u.lo, d)
	if r != 0 {
		if q == math.MaxUint64 {
			return math.MaxInt64
		}
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}
