// Package keysnapshot keeps the gateway's in-memory copy of every API key
// and workspace policy, so authenticating a request never waits on the
// database (CONTRACT §3). It loads everything at start, then follows changes
// by polling rows whose updated_at moved (an indexed range scan every
// PollInterval), so a revocation reaches every replica well under a second.
// A key the snapshot does not know is refused as invalid without a look-up:
// a flood of bad keys costs the database nothing.
package keysnapshot

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	entupstream "github.com/oais/oais/ent/upstream"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/gateway"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/viewer"
)

// Defaults of the follower.
const (
	DefaultPollInterval = 200 * time.Millisecond
	// overlap re-reads rows changed shortly before the last poll: a
	// transaction that committed late with an older updated_at is still seen.
	overlap = 5 * time.Second
	shards  = 64
)

// MonthTotals seeds the workspaces' monthly budgets; see internal/ledger.
type MonthTotals func(ctx context.Context, now time.Time) (tokens, costMicros map[string]int64, err error)

// Options configure a Snapshot.
type Options struct {
	PollInterval time.Duration
	CacheTTL     time.Duration // TTL of cached answers for keys with the cache on
	Totals       MonthTotals   // optional
	// Secrets opens workspaces' upstream API keys; nil or keyless means a
	// workspace upstream with a key cannot be used (its requests get 502).
	Secrets *secretbox.Box
	// Wake, when set, triggers a refresh at once (PostgreSQL LISTEN/NOTIFY,
	// internal/changes); the poll still runs as a safety net.
	Wake   <-chan struct{}
	Logger *slog.Logger
	Now    func() time.Time
}

type shard struct {
	mu sync.RWMutex
	m  map[keys.Hash]*gateway.Principal
}

// Snapshot is a gateway.Directory over the database.
type Snapshot struct {
	client *ent.Client
	opts   Options
	shards [shards]shard

	mu      sync.Mutex // guards the indexes below (writers only)
	byKeyID map[string]keys.Hash
	keys    map[string]*ent.APIKey
	ws      map[string]*gateway.WorkspacePolicy
	ups     map[string]*upstream       // workspace id → its own upstream
	byWs    map[string]map[string]bool // workspace id → key ids

	since   time.Time
	loaded  atomic.Bool
	lastErr atomic.Pointer[string]
}

var _ gateway.Directory = (*Snapshot)(nil)

// New returns an empty Snapshot; call Load, then Follow.
func New(c *ent.Client, o Options) *Snapshot {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = time.Hour
	}
	s := &Snapshot{client: c, opts: o, byKeyID: map[string]keys.Hash{}, keys: map[string]*ent.APIKey{},
		ws: map[string]*gateway.WorkspacePolicy{}, ups: map[string]*upstream{}, byWs: map[string]map[string]bool{}}
	for i := range s.shards {
		s.shards[i].m = map[keys.Hash]*gateway.Principal{}
	}
	return s
}

func (s *Snapshot) shard(h keys.Hash) *shard { return &s.shards[h[0]%shards] }

// Lookup implements gateway.Directory: one read-locked map access, no I/O,
// no allocation.
func (s *Snapshot) Lookup(h keys.Hash) (*gateway.Principal, bool) {
	sh := s.shard(h)
	sh.mu.RLock()
	p, ok := sh.m[h]
	sh.mu.RUnlock()
	return p, ok
}

// Len returns how many keys the snapshot holds.
func (s *Snapshot) Len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.RLock()
		n += len(s.shards[i].m)
		s.shards[i].mu.RUnlock()
	}
	return n
}

// Ready reports whether the first load finished.
func (s *Snapshot) Ready() bool { return s.loaded.Load() }

// Load reads every workspace and key.
func (s *Snapshot) Load(ctx context.Context) error {
	start := s.opts.Now()
	if err := s.refresh(ctx, time.Time{}); err != nil {
		return err
	}
	s.since = start
	s.loaded.Store(true)
	s.opts.Logger.Info("key snapshot loaded", "keys", s.Len(), "workspaces", len(s.ws), "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// Follow polls for changes until ctx ends. Database errors are logged once
// and retried: the gateway keeps serving from the last snapshot.
func (s *Snapshot) Follow(ctx context.Context) error {
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.opts.Wake:
		}
		start := s.opts.Now()
		if err := s.refresh(ctx, s.since.Add(-overlap)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !failing {
				s.opts.Logger.Warn("key snapshot: cannot read changes from the database; serving from the last snapshot", "err", err)
				failing = true
			}
			msg := err.Error()
			s.lastErr.Store(&msg)
			continue
		}
		if failing {
			s.opts.Logger.Info("key snapshot: database reachable again; changes are followed")
			failing = false
			s.lastErr.Store(nil)
		}
		s.since = start
	}
}

// refresh applies every workspace and key changed at or after since (all when zero).
func (s *Snapshot) refresh(ctx context.Context, since time.Time) error {
	sys := viewer.SystemContext(ctx)
	wq := s.client.Workspace.Query()
	kq := s.client.APIKey.Query()
	if !since.IsZero() {
		wq = wq.Where(workspace.UpdatedAtGTE(since))
		kq = kq.Where(apikey.UpdatedAtGTE(since))
	}
	wss, err := wq.All(sys)
	if err != nil {
		return err
	}
	uq := s.client.Upstream.Query()
	if !since.IsZero() {
		uq = uq.Where(entupstream.UpdatedAtGTE(since))
	}
	ups, err := uq.All(sys)
	if err != nil {
		return err
	}
	// A deleted upstream leaves no row to notice; its workspace is touched
	// instead, so for every changed workspace re-read which upstream it has.
	var gone map[string]bool
	if !since.IsZero() && len(wss) > 0 {
		gone = map[string]bool{}
		ids := make([]string, len(wss))
		for i, w := range wss {
			ids[i] = w.ID
			gone[w.ID] = true
		}
		have, err := s.client.Upstream.Query().Where(entupstream.WorkspaceIDIn(ids...)).All(sys)
		if err != nil {
			return err
		}
		for _, u := range have {
			delete(gone, u.WorkspaceID)
		}
	}
	ks, err := kq.All(sys)
	if err != nil {
		return err
	}
	var tokens, cost map[string]int64
	if s.opts.Totals != nil && (since.IsZero() || len(wss) > 0) {
		if tokens, cost, err = s.opts.Totals(ctx, s.opts.Now()); err != nil {
			return fmt.Errorf("month totals: %w", err)
		}
	}
	period := s.opts.Now().UTC().Format("2006-01")
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range gone {
		delete(s.ups, id)
	}
	for _, u := range ups {
		s.ups[u.WorkspaceID] = s.openUpstream(u)
		if w := s.ws[u.WorkspaceID]; w != nil {
			w.Upstream, w.Models = s.ups[u.WorkspaceID].gw, s.ups[u.WorkspaceID].models
			for id := range s.byWs[u.WorkspaceID] {
				if k := s.keys[id]; k != nil {
					s.putLocked(k)
				}
			}
		}
	}
	for _, w := range wss {
		p := &gateway.WorkspacePolicy{ID: w.ID, Suspended: w.Status == workspace.StatusSUSPENDED, RPM: w.Rpm, TPM: w.Tpm,
			MonthlyTokenQuota: w.MonthlyTokenQuota, UsagePeriod: period}
		if w.SpendCapCents != nil {
			p.MonthlySpendCapMicros = *w.SpendCapCents * 10_000
		}
		if u := s.ups[w.ID]; u != nil {
			p.Upstream, p.Models = u.gw, u.models
		}
		if old := s.ws[w.ID]; old != nil && tokens == nil {
			p.TokensThisMonth, p.SpendThisMonthMicros = old.TokensThisMonth, old.SpendThisMonthMicros
		} else {
			p.TokensThisMonth, p.SpendThisMonthMicros = tokens[w.ID], cost[w.ID]
		}
		s.ws[w.ID] = p
		// Every key of the workspace carries a copy of its policy: rebuild them.
		for id := range s.byWs[w.ID] {
			if k := s.keys[id]; k != nil {
				s.putLocked(k)
			}
		}
	}
	for _, k := range ks {
		s.putLocked(k)
	}
	return nil
}

// putLocked installs (or replaces) key k's principal. s.mu is held.
func (s *Snapshot) putLocked(k *ent.APIKey) {
	h, err := keys.ParseHash(k.SecretHash)
	if err != nil {
		s.opts.Logger.Error("key snapshot: stored hash is malformed; key skipped", "key_id", k.ID)
		return
	}
	s.keys[k.ID] = k
	if s.byWs[k.WorkspaceID] == nil {
		s.byWs[k.WorkspaceID] = map[string]bool{}
	}
	s.byWs[k.WorkspaceID][k.ID] = true
	s.byKeyID[k.ID] = h
	ws := s.ws[k.WorkspaceID]
	if ws == nil {
		ws = &gateway.WorkspacePolicy{ID: k.WorkspaceID}
	}
	p := &gateway.Principal{Key: policy(k, s.opts.CacheTTL), Workspace: *ws}
	sh := s.shard(h)
	sh.mu.Lock()
	sh.m[h] = p
	sh.mu.Unlock()
}

func policy(k *ent.APIKey, ttl time.Duration) gateway.KeyPolicy {
	st := keys.State{Status: keys.Status(k.Status), MaxRequests: k.MaxRequests, RequestCount: k.RequestCount}
	if k.RevokeReason != nil {
		st.RevokeReason = keys.RevokeReason(*k.RevokeReason)
	}
	if k.ExpiresAt != nil {
		st.ExpiresAt = *k.ExpiresAt
	}
	if k.GraceUntil != nil {
		st.GraceUntil = *k.GraceUntil
	}
	p := gateway.KeyPolicy{ID: k.ID, WorkspaceID: k.WorkspaceID, State: st, AllowedModels: k.AllowedModels,
		CacheEnabled: k.CacheEnabled, CacheTTL: ttl}
	for _, c := range k.IPAllowlist {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			// Fail closed: an entry we cannot read must not turn the list
			// into "any address". The zero Prefix contains no address.
			pfx = netip.Prefix{}
		}
		p.IPAllowlist = append(p.IPAllowlist, pfx)
	}
	if k.Rpm != nil {
		p.RPM = *k.Rpm
	}
	if k.Tpm != nil {
		p.TPM = *k.Tpm
	}
	return p
}

// upstream is a workspace's own upstream, ready for the gateway.
type upstream struct {
	gw     *gateway.Upstream
	models []string
}

// openUpstream decrypts a workspace upstream's key. A key that cannot be
// opened (no OAIS_SECRETS_KEY, another key) leaves the upstream without
// credentials: its requests fail upstream-side (401 from the provider)
// rather than silently using the global upstream; the reason is logged.
func (s *Snapshot) openUpstream(u *ent.Upstream) *upstream {
	base, err := url.Parse(u.BaseURL)
	if err != nil {
		s.opts.Logger.Error("workspace upstream: bad base URL; using the global upstream", "workspace_id", u.WorkspaceID)
		return &upstream{models: u.Models}
	}
	up := &upstream{gw: &gateway.Upstream{BaseURL: base}, models: u.Models}
	if len(u.APIKeyCiphertext) > 0 {
		key, err := s.opts.Secrets.Open(u.APIKeyCiphertext, []byte(u.WorkspaceID))
		if err != nil {
			s.opts.Logger.Error("workspace upstream: cannot decrypt its API key; set the same OAIS_SECRETS_KEY on the control plane and every gateway",
				"workspace_id", u.WorkspaceID, "err", err)
		} else {
			up.gw.Authorization = "Bearer " + string(key)
		}
	}
	return up
}
