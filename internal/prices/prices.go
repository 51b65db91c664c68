// Package prices is the admin side of model pricing: it lists the built-in
// prices of internal/pricing merged with the overrides site admins keep in
// the model_prices table, sets and removes overrides, and gives gateways a
// Table they can swap while serving (Live, Follow).
//
// Writes are refused below this package by ent privacy (only site admins
// write model_prices); this package validates input and leaves the
// authority to the schema, so a privacy.Deny reaches the API unchanged.
package prices

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/modelprice"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/userinput"
)

// MaxModelLen is the longest model name; ent/schema/modelprice.go says
// MaxLen(200): raise both together.
const MaxModelLen = 200

// MaxMicrosPerMTok bounds a rate: $1,000,000 per million tokens. No real
// model comes near it; the bound catches a price typed in micro-dollars per
// token times a million twice over, and it keeps a request's cost within
// usage.MaxCostMicros (pricing.MaxRate is the same bound).
const MaxMicrosPerMTok = pricing.MaxRate

// Audit actions of price edits. They have no workspace, so only operators
// reading the log table see them.
const (
	AuditSet     = "pricing.price_set"
	AuditDeleted = "pricing.price_deleted"
)

// InputError is a price the caller must correct; Field names the input.
type InputError = userinput.Error

// Row is one model's price as the admin page lists it.
type Row struct {
	Model string
	pricing.Price
	// BuiltIn is true when the price is internal/pricing's default, not an
	// admin's override.
	BuiltIn bool
}

// List returns every priced model, sorted by name: the built-in defaults,
// with each admin override replacing (or adding) its model.
func List(ctx context.Context, c *ent.Client) ([]Row, error) {
	over, err := c.ModelPrice.Query().All(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	byModel := make(map[string]Row, len(builtInModels)+len(over))
	defaults := pricing.Defaults()
	for _, m := range builtInModels {
		p, _, _ := defaults.Lookup(m)
		byModel[m] = Row{Model: m, Price: p, BuiltIn: true}
	}
	for _, o := range over {
		byModel[o.Model] = rowOf(o)
	}
	rows := make([]Row, 0, len(byModel))
	for _, r := range byModel {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b Row) int { return strings.Compare(a.Model, b.Model) })
	return rows, nil
}

func rowOf(o *ent.ModelPrice) Row {
	return Row{Model: o.Model, Price: pricing.Price{
		InputMicrosPerMTok:       o.InputMicrosPerMtok,
		CachedInputMicrosPerMTok: o.CachedInputMicrosPerMtok,
		OutputMicrosPerMTok:      o.OutputMicrosPerMtok,
	}}
}

// NormalizeModel trims and lower-cases a model name and checks it: the
// pricing table matches names case-insensitively, so "GPT-4o" and "gpt-4o"
// are one override, not two.
func NormalizeModel(model string) (string, error) {
	m := strings.ToLower(strings.TrimSpace(model))
	switch {
	case m == "":
		return "", &InputError{Field: "model", Msg: "enter a model name"}
	case len(m) > MaxModelLen:
		return "", &InputError{Field: "model", Msg: fmt.Sprintf("a model name is at most %d characters", MaxModelLen)}
	case strings.IndexFunc(m, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "", &InputError{Field: "model", Msg: "a model name has no spaces or control characters"}
	}
	return m, nil
}

// Validate checks a price: rates are non-negative, at most
// MaxMicrosPerMTok, and a cached prompt token costs no more than an
// uncached one (which keeps pricing.Table.Cost monotonic).
func Validate(p pricing.Price) error {
	for _, r := range []struct {
		field string
		v     int64
	}{
		{"inputMicrosPerMTok", p.InputMicrosPerMTok},
		{"cachedInputMicrosPerMTok", p.CachedInputMicrosPerMTok},
		{"outputMicrosPerMTok", p.OutputMicrosPerMTok},
	} {
		switch {
		case r.v < 0:
			return &InputError{Field: r.field, Msg: "a price cannot be negative"}
		case r.v > MaxMicrosPerMTok:
			return &InputError{Field: r.field, Msg: "at most 1,000,000,000,000 micro-dollars ($1,000,000) per million tokens"}
		}
	}
	if p.CachedInputMicrosPerMTok > p.InputMicrosPerMTok {
		return &InputError{Field: "cachedInputMicrosPerMTok", Msg: "a cached input token cannot cost more than an uncached one"}
	}
	return nil
}

// Set stores model's price as an override and returns it. Pass a
// transaction's client: the audit line belongs to the change.
func Set(ctx context.Context, c *ent.Client, model string, p pricing.Price) (Row, error) {
	m, err := NormalizeModel(model)
	if err != nil {
		return Row{}, err
	}
	if err := Validate(p); err != nil {
		return Row{}, err
	}
	cur, err := c.ModelPrice.Query().Where(modelprice.Model(m)).Only(ctx)
	var saved *ent.ModelPrice
	switch {
	case ent.IsNotFound(err):
		saved, err = c.ModelPrice.Create().SetModel(m).
			SetInputMicrosPerMtok(p.InputMicrosPerMTok).
			SetCachedInputMicrosPerMtok(p.CachedInputMicrosPerMTok).
			SetOutputMicrosPerMtok(p.OutputMicrosPerMTok).
			Save(ctx)
	case err == nil:
		saved, err = cur.Update().
			SetInputMicrosPerMtok(p.InputMicrosPerMTok).
			SetCachedInputMicrosPerMtok(p.CachedInputMicrosPerMTok).
			SetOutputMicrosPerMtok(p.OutputMicrosPerMTok).
			Save(ctx)
	}
	if err != nil {
		return Row{}, store.Classify(err)
	}
	err = audit.Record(ctx, c, audit.Event{Action: AuditSet, TargetType: "model_price", TargetID: saved.ID, Details: map[string]string{
		"model":                        m,
		"input_micros_per_mtok":        fmt.Sprint(p.InputMicrosPerMTok),
		"cached_input_micros_per_mtok": fmt.Sprint(p.CachedInputMicrosPerMTok),
		"output_micros_per_mtok":       fmt.Sprint(p.OutputMicrosPerMTok),
	}})
	return rowOf(saved), err
}

// Delete removes model's override, so the built-in price (or the fallback)
// applies again. It reports whether there was an override to remove.
func Delete(ctx context.Context, c *ent.Client, model string) (bool, error) {
	m, err := NormalizeModel(model)
	if err != nil {
		return false, err
	}
	n, err := c.ModelPrice.Delete().Where(modelprice.Model(m)).Exec(ctx)
	if err != nil {
		return false, store.Classify(err)
	}
	if n == 0 {
		return false, nil
	}
	return true, audit.Record(ctx, c, audit.Event{Action: AuditDeleted, TargetType: "model_price", TargetID: m,
		Details: map[string]string{"model": m}})
}
