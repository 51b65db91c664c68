package gateway

import (
	"context"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/oais/oais/gateway/route"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/usage"
)

// Principal is what a key's hash resolves to: the key's policy and its
// workspace's. The gateway only reads it; the Directory owns it, so a
// Principal must not be changed once Lookup has returned it.
type Principal struct {
	Key KeyPolicy
	// Workspace is shared by every key of the workspace and never nil; it is
	// immutable too: a change is a new WorkspacePolicy (and new Principals).
	Workspace *WorkspacePolicy
}

// KeyPolicy is an API key as the gateway needs it.
type KeyPolicy struct {
	ID          string
	WorkspaceID string
	State       keys.State
	// AllowedModels restricts the models the key may use; empty means all
	// the workspace allows.
	AllowedModels []string
	// IPAllowlist restricts the client addresses; empty means any.
	IPAllowlist []netip.Prefix
	// RPM and TPM are the key's own limits; 0 means none (the workspace's
	// still apply).
	RPM, TPM int64
	// CacheEnabled turns on the response cache for this key's non-streamed
	// requests; CacheTTL is how long an answer is kept.
	CacheEnabled bool
	CacheTTL     time.Duration
	// RequestGen names the generation of the key's request budget: when
	// (Unix µs) its request count was last reset, 0 if never. A reset
	// starts a budget counter of a new name, since a shared budget counter
	// never goes down (ratelimit.Counter.Floor); State.RequestCount counts
	// from the reset.
	RequestGen int64
	// CreditQuotaMicros is the most the key may ever spend (all time); 0
	// means no quota. CreditUsedMicros is what it had spent as of the
	// snapshot, which seeds the budget counter (a floor).
	CreditQuotaMicros int64
	CreditUsedMicros  int64
	// GroupID is the key's group (GroupDirectory), "" for none: then the
	// workspace's applies.
	GroupID string
	// GatewayName binds the key to the gateway of that name
	// (Config.Name); "" lets every gateway accept it.
	GatewayName string
}

// WorkspacePolicy is a workspace as the gateway needs it.
type WorkspacePolicy struct {
	ID string
	// Suspended refuses every request (billing).
	Suspended bool
	// Inactive refuses every request: its owner switched the workspace off
	// (setWorkspaceActive), apart from billing.
	Inactive bool
	// RPM and TPM are the workspace's limits; 0 means none.
	RPM, TPM int64
	// MonthlyTokenQuota and MonthlySpendCapMicros are budgets for the
	// calendar month (UTC); 0 means none.
	MonthlyTokenQuota     int64
	MonthlySpendCapMicros int64
	// TokensThisMonth and SpendThisMonthMicros are the month's totals as of
	// the snapshot, for the month named by UsagePeriod ("2006-01"); they
	// seed the budget counters the first time this process sees them.
	TokensThisMonth      int64
	SpendThisMonthMicros int64
	UsagePeriod          string
	// Models restricts the models of every key of the workspace; empty
	// means all.
	Models []string
	// Upstream, when set, replaces the gateway's global upstream for this
	// workspace's requests.
	Upstream *Upstream
	// GroupID is the workspace's group, "" for none; a key's own wins.
	GroupID string
	// Channels are the workspace's own channels (route.Channel); when one
	// serves the request's model they are tried before the site-wide ones.
	Channels []*route.Channel
}

// Upstream is a workspace's own OpenAI-compatible upstream.
type Upstream struct {
	BaseURL *url.URL
	// Authorization is the whole header value ("Bearer …"); empty sends none.
	Authorization string
}

// Directory resolves a key's hash to its principal. The gateway calls it
// on every request, so it must answer from memory (a snapshot), never
// from the database. A Directory that can read one key from its source
// implements Fetcher too, for the keys its memory does not admit yet.
type Directory interface {
	Lookup(h keys.Hash) (*Principal, bool)
}

// Fetcher is optionally implemented by a Directory whose memory may lag
// its source: a key created, rotated in or re-activated a moment ago. The
// gateway calls Fetch only for a well-formed key (its checksum valid) that
// Lookup did not know, or knew as revoked, disabled or expired; it answers
// like Lookup, as of a fresh read when it could make one. Fetch bounds its
// own cost (time, reads per second, repeats of one hash) and never fails:
// when it cannot read, it answers what Lookup would.
type Fetcher interface {
	Fetch(ctx context.Context, h keys.Hash) (*Principal, bool)
}

// StaticDirectory is a Directory over a fixed map, for tests and
// benchmarks. It must not be written after first use.
type StaticDirectory map[keys.Hash]*Principal

var _ Directory = StaticDirectory(nil)

// Lookup implements Directory.
func (d StaticDirectory) Lookup(h keys.Hash) (*Principal, bool) {
	p, ok := d[h]
	return p, ok
}

// ChannelDirectory is optionally implemented by a Directory that knows the
// site-wide channels (workspace channels travel in WorkspacePolicy). It
// answers from memory, like Lookup; the slice must not be modified.
type ChannelDirectory interface {
	SiteChannels() []*route.Channel
}

// Recorder takes the usage record of every answered request (the durable
// spool). Append must be fast, and must not keep r after it returns (the
// gateway reuses it); an error means the record could not be kept.
type Recorder interface {
	Append(r *usage.Record) error
}

// Fuller is optionally implemented by a Recorder that can tell, before a
// request is admitted, that it has no room left; the gateway then refuses
// new requests with 503 instead of serving answers it cannot bill.
type Fuller interface {
	Full() bool
}

// Pricer prices models (internal/prices.Live).
type Pricer interface {
	// Price returns model's price; ok is false when the model has none,
	// and the gateway then refuses it (400 model_not_priced). A request
	// keeps the price it was admitted at: its reservation and its cost
	// agree even if an admin edits the price meanwhile.
	Price(model string) (p pricing.Price, ok bool)
}

// GroupPolicy is a group as the gateway applies it (internal/groups).
type GroupPolicy struct {
	// PriceMultiplierBps scales the price of the group's requests, their
	// reservations included: pricing.ListBps is list price.
	PriceMultiplierBps int64
	// RPM and TPM are the limits of the group's keys that have none of
	// their own; 0 means none.
	RPM, TPM int64
}

// GroupDirectory is optionally implemented by a Directory that knows the
// groups. It answers from memory, like Lookup; a group it does not know
// (deleted meanwhile) is no group.
type GroupDirectory interface {
	Group(id string) (GroupPolicy, bool)
}

// group returns the group that applies to p's requests: the key's, else
// its workspace's.
func (p *Principal) group(d GroupDirectory) (GroupPolicy, bool) {
	id := p.Key.GroupID
	if id == "" {
		id = p.Workspace.GroupID
	}
	if id == "" || d == nil {
		return GroupPolicy{}, false
	}
	return d.Group(id)
}

// PricedModels is optionally implemented by a Pricer that tells a priced
// model from an unknown one (charged a fallback price). The gateway's
// metrics name a model only by the priced name it resolves to, so client
// strings cannot mint time series.
type PricedModels interface {
	// PricedName returns the priced name model resolves to (one of a
	// bounded set), false when it resolves to none.
	PricedName(model string) (name string, ok bool)
}

// Cache stores answers to identical requests. A miss or an error makes the
// gateway go upstream; a cache can never refuse a request.
type Cache interface {
	Get(ctx context.Context, key string) (StoredAnswer, bool, error)
	Set(ctx context.Context, key string, a StoredAnswer, ttl time.Duration) error
}

// modelAllowed reports whether p may use model: the key's list if it has
// one, and the workspace's too.
func (p *Principal) modelAllowed(model string) bool {
	if len(p.Key.AllowedModels) > 0 && !slices.Contains(p.Key.AllowedModels, model) {
		return false
	}
	if len(p.Workspace.Models) > 0 && !slices.Contains(p.Workspace.Models, model) {
		return false
	}
	return true
}

// ipAllowed reports whether addr may use the key.
func (k *KeyPolicy) ipAllowed(addr netip.Addr) bool {
	if len(k.IPAllowlist) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range k.IPAllowlist {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// visibleModels is the list GET /v1/models shows, or nil to ask the
// upstream.
func (p *Principal) visibleModels() []string {
	switch {
	case len(p.Key.AllowedModels) > 0 && len(p.Workspace.Models) > 0:
		var out []string
		for _, m := range p.Key.AllowedModels {
			if slices.Contains(p.Workspace.Models, m) {
				out = append(out, m)
			}
		}
		if out == nil {
			out = []string{}
		}
		return out
	case len(p.Key.AllowedModels) > 0:
		return p.Key.AllowedModels
	case len(p.Workspace.Models) > 0:
		return p.Workspace.Models
	}
	return nil
}
