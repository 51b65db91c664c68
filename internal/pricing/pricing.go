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
	"sort"
	"strings"
)

// tokensPerRate is the unit of every rate: one million tokens.
const tokensPerRate = 1_000_000

// ErrInvalidPrice is returned by NewTable for a negative rate, a cached rate
// above the input rate, or an alias that points at no priced model.
var ErrInvalidPrice = errors.New("pricing: invalid price")

// Price is one model's rates in micro-dollars per million tokens.
type Price struct {
	// InputMicrosPerMTok is charged for prompt tokens not served from the
	// upstream's prompt cache.
	InputMicrosPerMTok int64
	// CachedInputMicrosPerMTok is charged for prompt tokens served from the
	// upstream's prompt cache. It must not exceed InputMicrosPerMTok, which is
	// what keeps Cost monotonic (see Table.Cost).
	CachedInputMicrosPerMTok int64
	// OutputMicrosPerMTok is charged for completion tokens (reasoning included).
	OutputMicrosPerMTok int64
}

func (p Price) validate() error {
	switch {
	case p.InputMicrosPerMTok < 0 || p.CachedInputMicrosPerMTok < 0 || p.OutputMicrosPerMTok < 0:
		return fmt.Errorf("%w: negative rate %+v", ErrInvalidPrice, p)
	case p.CachedInputMicrosPerMTok > p.InputMicrosPerMTok:
		return fmt.Errorf("%w: cached input rate above input rate %+v", ErrInvalidPrice, p)
	}
	return nil
}

// Table maps model names to prices. The zero Table prices every model at the
// zero Price; build one with NewTable or Defaults. A Table is immutable and
// safe for concurrent use.
type Table struct {
	prices   map[string]Price
	aliases  map[string]string
	prefixes []string // priced names, longest first, for dated-snapshot matching
	fallback Price
}

// NewTable returns a Table of prices (keyed by lower-case model name), aliases
// (alias → priced name) and the fallback Price charged for any model that
// matches nothing.
func NewTable(prices map[string]Price, aliases map[string]string, fallback Price) (Table, error) {
	if err := fallback.validate(); err != nil {
		return Table{}, fmt.Errorf("fallback: %w", err)
	}
	t := Table{
		prices:   make(map[string]Price, len(prices)),
		aliases:  make(map[string]string, len(aliases)),
		fallback: fallback,
	}
	for name, p := range prices {
		if err := p.validate(); err != nil {
			return Table{}, fmt.Errorf("model %q: %w", name, err)
		}
		name = strings.ToLower(name)
		t.prices[name] = p
		t.prefixes = append(t.prefixes, name)
	}
	for alias, target := range aliases {
		target = strings.ToLower(target)
		if _, ok := t.prices[target]; !ok {
			return Table{}, fmt.Errorf("%w: alias %q points at unpriced model %q", ErrInvalidPrice, alias, target)
		}
		t.aliases[strings.ToLower(alias)] = target
	}
	// Longest first, so "gpt-4o-mini-2024-07-18" matches "gpt-4o-mini", not "gpt-4o".
	sort.Slice(t.prefixes, func(i, j int) bool {
		if len(t.prefixes[i]) != len(t.prefixes[j]) {
			return len(t.prefixes[i]) > len(t.prefixes[j])
		}
		return t.prefixes[i] < t.prefixes[j]
	})
	return t, nil
}

// Lookup returns the Price for model and the priced name it resolved to. It
// tries, case-insensitively: an exact name, an alias, then the longest priced
// name that model extends with "-…" (a dated snapshot such as
// "gpt-4o-2024-08-06" → "gpt-4o"). ok is false when nothing matched and the
// fallback Price was returned.
func (t Table) Lookup(model string) (p Price, name string, ok bool) {
	m := strings.ToLower(strings.TrimSpace(model))
	if p, ok := t.prices[m]; ok {
		return p, m, true
	}
	if target, ok := t.aliases[m]; ok {
		return t.prices[target], target, true
	}
	for _, prefix := range t.prefixes {
		if len(m) > len(prefix) && m[len(prefix)] == '-' && strings.HasPrefix(m, prefix) {
			return t.prices[prefix], prefix, true
		}
	}
	return t.fallback, "", false
}

// PricedName returns the priced name model resolves to (as Lookup does),
// false when it matches nothing. Unlike model, the name is one of the
// table's, so it can name a metrics series.
func (t Table) PricedName(model string) (string, bool) {
	_, name, ok := t.Lookup(model)
	return name, ok
}

// Fallback returns the Price charged for models that match nothing.
func (t Table) Fallback() Price { return t.fallback }

// Cost returns what one request costs, in micro-dollars, rounded up.
//
// cachedTokens is the part of promptTokens that the upstream served from its
// prompt cache (OpenAI's prompt_tokens_details.cached_tokens), so it is
// clamped to promptTokens; negative counts are treated as zero. The result is
// non-decreasing in promptTokens and completionTokens and non-increasing in
// cachedTokens (a cached token never costs more than an uncached one). The
// exact product is computed in 128 bits, so no count overflows; a result
// beyond math.MaxInt64 saturates there.
func (t Table) Cost(model string, promptTokens, cachedTokens, completionTokens int64) int64 {
	p, _, _ := t.Lookup(model)
	return p.Cost(promptTokens, cachedTokens, completionTokens)
}

// WorstCase returns the most a request can cost before its answer is known:
// every prompt token uncached and maxCompletionTokens generated. Admission
// reserves this much against a spend cap. The caller passes the model's
// output limit when the request set no max_tokens.
func (t Table) WorstCase(model string, promptTokens, maxCompletionTokens int64) int64 {
	return t.Cost(model, promptTokens, 0, maxCompletionTokens)
}

// Cost is Table.Cost for one Price.
func (p Price) Cost(promptTokens, cachedTokens, completionTokens int64) int64 {
	prompt := nonNegative(promptTokens)
	cached := min(nonNegative(cachedTokens), prompt)
	var acc uint128
	acc.addMul(uint64(prompt-cached), uint64(nonNegative(p.InputMicrosPerMTok)))
	acc.addMul(uint64(cached), uint64(nonNegative(p.CachedInputMicrosPerMTok)))
	acc.addMul(uint64(nonNegative(completionTokens)), uint64(nonNegative(p.OutputMicrosPerMTok)))
	return acc.divCeilSaturating(tokensPerRate)
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
