package prices

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/modelprice"
	"github.com/oais/oais/internal/every"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/viewer"
)

// DefaultReloadInterval is how often Follow looks for changed prices. A
// price edit reaches every gateway within this (plus one query); the
// dashboard promises "within a minute": keep it below that.
const DefaultReloadInterval = 30 * time.Second

// Live is a pricing.Table that can be replaced while requests are priced
// with it, plus the site's price for models the table does not price. The
// gateway's Pricer is fixed when the gateway is built, so it holds a Live
// and Follow swaps the table underneath. Reads are one atomic load: nothing
// on the hot path takes a lock.
type Live struct {
	t atomic.Pointer[pricing.Table]
	// unpriced is charged for models the table does not price; nil
	// refuses them (OAIS_UNPRICED_MODEL_PRICE).
	unpriced *pricing.Price
}

// NewLive returns a Live serving t. unpriced, if not nil, is the price of
// every model t does not price; nil leaves such models unpriced, and the
// gateway refuses them.
func NewLive(t pricing.Table, unpriced *pricing.Price) *Live {
	l := &Live{}
	if unpriced != nil {
		p := *unpriced
		l.unpriced = &p
	}
	l.Store(t)
	return l
}

// Store makes t the table every later Price uses.
func (l *Live) Store(t pricing.Table) { l.t.Store(&t) }

// Table returns the table in use.
func (l *Live) Table() pricing.Table { return *l.t.Load() }

// Price returns model's price from the current table, else the site's
// price for unpriced models. ok is false when neither applies.
func (l *Live) Price(model string) (p pricing.Price, ok bool) {
	if p, _, ok = l.t.Load().Lookup(model); ok {
		return p, true
	}
	if l.unpriced != nil {
		return *l.unpriced, true
	}
	return pricing.Price{}, false
}

// PricedName is pricing.Table.PricedName on the current table.
func (l *Live) PricedName(model string) (string, bool) {
	return l.t.Load().PricedName(model)
}

// Version identifies the content of the model_prices table: a hash of every
// override, sorted. It is computed from the rows rather than from
// max(updated_at) and a count, because updated_at comes from the clock of
// whichever control plane wrote it: an edit from one running behind would
// not raise the maximum and would never be picked up. The table holds tens
// of rows, so reading them all every interval costs one small query.
type Version struct {
	Count int
	Hash  [sha256.Size]byte
}

// Load returns the built-in table with every stored override, and the
// Version it was read at. It reads with the system's authority: prices are
// global, not a viewer's.
func Load(ctx context.Context, c *ent.Client) (pricing.Table, Version, error) {
	rows, err := c.ModelPrice.Query().Order(ent.Asc(modelprice.FieldModel)).All(viewer.SystemContext(ctx))
	if err != nil {
		return pricing.Table{}, Version{}, err
	}
	v := versionOf(rows)
	if len(rows) == 0 {
		return pricing.Defaults(), v, nil
	}
	over := make(map[string]pricing.Price, len(rows))
	for _, r := range rows {
		over[r.Model] = rowOf(r).Price
	}
	t, err := pricing.WithOverrides(over)
	return t, v, err
}

// versionOf hashes rows, which are sorted by model.
func versionOf(rows []*ent.ModelPrice) Version {
	h := sha256.New()
	for _, r := range rows {
		fmt.Fprintf(h, "%q %d %d %d\n", r.Model, r.InputMicrosPerMtok, r.CachedInputMicrosPerMtok, r.OutputMicrosPerMtok)
	}
	v := Version{Count: len(rows)}
	h.Sum(v.Hash[:0])
	return v
}

// Follow reloads l from the database whenever the model_prices Version
// changes, checking every interval (DefaultReloadInterval if zero), until
// ctx ends. from is the Version l was loaded at. A failed check keeps the
// current prices and is retried at the next interval.
func Follow(ctx context.Context, c *ent.Client, l *Live, from Version, interval time.Duration, log *slog.Logger) error {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	if log == nil {
		log = slog.Default()
	}
	cur := from
	return every.Run(ctx, interval, func(ctx context.Context) {
		next, changed, err := Reload(ctx, c, l, cur)
		if err != nil {
			log.Warn("model prices: reload failed; keeping the current prices", "err", err)
			return
		}
		if changed {
			log.Info("model prices reloaded", "overrides", next.Count)
		}
		cur = next
	})
}

// Reload swaps l's table if model_prices changed since Version from, and
// returns the Version l now reflects.
func Reload(ctx context.Context, c *ent.Client, l *Live, from Version) (Version, bool, error) {
	t, v, err := Load(ctx, c)
	if err != nil {
		return from, false, err
	}
	if v == from {
		return from, false, nil
	}
	l.Store(t)
	return v, true, nil
}
