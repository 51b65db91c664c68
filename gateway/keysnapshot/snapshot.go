// Package keysnapshot keeps the gateway's in-memory copy of every API key
// and workspace policy, so authenticating a known key never waits on the
// database (CONTRACT §3). It loads everything at start, then follows changes
// by polling rows whose updated_at moved (an indexed range scan every
// PollInterval), so a revocation reaches every replica well under a second.
//
// A key is accepted by every gateway from the moment createAPIKey returns,
// before any poll has seen it: on a miss the gateway asks Fetch, which reads
// that one key by its hash (and its workspace, if that is new too), applies
// it as a poll would and keeps it, so the next request is answered from
// memory. What a flood of unknown keys can cost is bounded: the gateway
// refuses a malformed key (bad checksum) before any look-up; Fetch reads one
// hash once however many requests wait for it (singleflight), remembers a
// hash it found unusable for AbsentTTL, and makes at most FetchRate reads a
// second across the process (past that, unknown keys are refused unread, as
// before); a read that fails or outlasts FetchTimeout refuses the key as
// unknown.
package keysnapshot

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	entchannel "github.com/oais/oais/ent/channel"
	entgroup "github.com/oais/oais/ent/group"
	entupstream "github.com/oais/oais/ent/upstream"
	entworkspace "github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/gateway"
	"github.com/oais/oais/gateway/route"
	"github.com/oais/oais/internal/every"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/viewer"
)

// Defaults of the follower and of Fetch.
const (
	DefaultPollInterval = 200 * time.Millisecond
	// DefaultFetchTimeout bounds a request's wait for the read of a key the
	// snapshot missed; a point read by a unique index takes a millisecond.
	DefaultFetchTimeout = 500 * time.Millisecond
	// DefaultFetchRate and DefaultFetchBurst bound those reads per second
	// across the process: well above the keys a workspace creates and uses
	// at once, well below what hurts a database.
	DefaultFetchRate  = 50
	DefaultFetchBurst = 100
	// DefaultAbsentTTL is how long a hash read and found unusable is refused
	// without another read. A poll still installs the key if it appears.
	DefaultAbsentTTL = 5 * time.Second
	// absentSize bounds the hashes remembered as unusable: room for more
	// than the default bound lets Fetch read in an AbsentTTL (50 × 5 + 100),
	// so an entry ends by its TTL rather than by eviction. Raise it with
	// FetchRate or AbsentTTL.
	absentSize = 4096
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
	Wake <-chan struct{}
	// FetchTimeout, FetchRate (reads a second), FetchBurst and AbsentTTL
	// bound Fetch; zero means the Default of each.
	FetchTimeout time.Duration
	FetchRate    float64
	FetchBurst   int
	AbsentTTL    time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

type shard struct {
	mu sync.RWMutex
	m  map[keys.Hash]*key
}

// Snapshot is a gateway.Directory over the database.
//
// Keys loaded at start live in an index (compact, built once); keys added
// or changed later live in recent, a sharded map, until the index is
// rebuilt with them (rebuildLocked). Lookup reads the index without a lock
// and recent under a shard's read lock, and allocates only the first time a
// key is used after a load or a change of the key or its workspace.
type Snapshot struct {
	client *ent.Client
	opts   Options
	index  atomic.Pointer[index]
	recent [shards]shard
	n      atomic.Int64 // keys held, for Len

	mu      sync.Mutex // serialises writers (Load, Follow); readers never take it
	ws      map[string]*workspace
	ups     map[string]*upstream    // workspace id → its own upstream
	chans   map[string]*heldChannel // channel id → as last read (channels.go)
	polls   atomic.Int64
	wsChans map[string][]*route.Channel      // workspace id → its channels, sorted
	site    atomic.Pointer[[]*route.Channel] // the site-wide channels, sorted
	nRecent int                              // len of every recent map
	ids     arena

	// groups are the site's groups by id, replaced whole on a change
	// (there are few): Group reads them without a lock.
	groups atomic.Pointer[map[string]gateway.GroupPolicy]

	since   time.Time
	loaded  atomic.Bool
	lastErr atomic.Pointer[string]

	// What Fetch needs; see fetch.go.
	flights singleflight.Group
	reads   *rate.Limiter
	absent  *lru.Cache[keys.Hash, time.Time] // hash -> when to read it again
	warned  [2]atomic.Int64                  // unix ns of the last warning, by kind
}

var (
	_ gateway.Directory      = (*Snapshot)(nil)
	_ gateway.Fetcher        = (*Snapshot)(nil)
	_ gateway.GroupDirectory = (*Snapshot)(nil)
)

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
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.FetchRate <= 0 {
		o.FetchRate = DefaultFetchRate
	}
	if o.FetchBurst <= 0 {
		o.FetchBurst = DefaultFetchBurst
	}
	if o.AbsentTTL <= 0 {
		o.AbsentTTL = DefaultAbsentTTL
	}
	s := &Snapshot{client: c, opts: o, ws: map[string]*workspace{}, ups: map[string]*upstream{},
		chans: map[string]*heldChannel{}, wsChans: map[string][]*route.Channel{},
		reads: rate.NewLimiter(rate.Limit(o.FetchRate), o.FetchBurst)}
	s.absent, _ = lru.New[keys.Hash, time.Time](absentSize) // errs only on a size ≤ 0
	s.index.Store(&index{})
	for i := range s.recent {
		s.recent[i].m = map[keys.Hash]*key{}
	}
	return s
}

func (s *Snapshot) shard(h keys.Hash) *shard { return &s.recent[h[0]%shards] }

// Lookup implements gateway.Directory: a probe of the index or one
// read-locked map access, no I/O; no allocation once the key's Principal
// is built.
func (s *Snapshot) Lookup(h keys.Hash) (*gateway.Principal, bool) {
	x := s.index.Load()
	for {
		if k := x.find(h); k != nil {
			if p := s.principal(k); p != moved {
				return p, true
			}
		}
		sh := s.shard(h)
		sh.mu.RLock()
		k := sh.m[h]
		sh.mu.RUnlock()
		if k != nil {
			return s.principal(k), true
		}
		// A rebuild may have moved the key from recent into a new index
		// between the two reads above: look again there.
		y := s.index.Load()
		if y == x {
			return nil, false
		}
		x = y
	}
}

// find returns the current version of the key of hash h, or nil: Lookup's
// walk, for the miss path, which compares versions. Lookup keeps its own
// copy so that the hot path stays one loop with no call.
func (s *Snapshot) find(h keys.Hash) *key {
	x := s.index.Load()
	for {
		if k := x.find(h); k != nil && k.p.Load() != moved {
			return k
		}
		sh := s.shard(h)
		sh.mu.RLock()
		k := sh.m[h]
		sh.mu.RUnlock()
		if k != nil {
			return k
		}
		// A rebuild may have moved the key from recent into a new index
		// between the two reads above: look again there.
		y := s.index.Load()
		if y == x {
			return nil
		}
		x = y
	}
}

// principal returns k's Principal for its workspace's current policy,
// building it if there is none yet (or moved).
func (s *Snapshot) principal(k *key) *gateway.Principal {
	for {
		p := k.p.Load()
		if p == moved {
			return moved
		}
		w := k.ws.policy.Load()
		if p != nil && p.Workspace == w {
			return p
		}
		// Concurrent Lookups may both build; either result is right.
		np := k.build(w, s.opts.CacheTTL)
		if k.p.CompareAndSwap(p, np) {
			return np
		}
	}
}

// Len returns how many keys the snapshot holds.
func (s *Snapshot) Len() int { return int(s.n.Load()) }

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
	s.mu.Lock()
	nws := len(s.ws)
	s.mu.Unlock()
	s.opts.Logger.Info("key snapshot loaded", "keys", s.Len(), "workspaces", nws, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// Follow polls for changes until ctx ends. Database errors are logged once
// and retried: the gateway keeps serving from the last snapshot.
func (s *Snapshot) Follow(ctx context.Context) error {
	failing := false
	return every.Run(ctx, s.opts.PollInterval, func(ctx context.Context) {
		start := s.opts.Now()
		if err := s.refresh(ctx, s.since.Add(-overlap)); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				s.opts.Logger.Warn("key snapshot: cannot read changes from the database; serving from the last snapshot", "err", err)
				failing = true
			}
			msg := err.Error()
			s.lastErr.Store(&msg)
			return
		}
		if failing {
			s.opts.Logger.Info("key snapshot: database reachable again; changes are followed")
			failing = false
			s.lastErr.Store(nil)
		}
		s.since = start
		s.polls.Add(1)
	}, every.Wake(s.opts.Wake))
}

// Polls is how many polls of Follow have succeeded.
func (s *Snapshot) Polls() int64 { return s.polls.Load() }

// refresh applies every workspace and key changed at or after since (all
// when zero). Workspaces are applied before keys, so a new key finds its
// new workspace. If it fails half-way, the next poll re-reads the same rows.
func (s *Snapshot) refresh(ctx context.Context, since time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !since.IsZero() && s.site.Load() != nil {
		changed, err := s.changedSinceLocked(ctx, since)
		if err != nil {
			return err
		}
		if !changed {
			return nil
		}
	}
	sys := viewer.SystemContext(ctx)
	wq := s.client.Workspace.Query()
	if !since.IsZero() {
		wq = wq.Where(entworkspace.UpdatedAtGTE(since))
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
	if err := s.refreshGroupsLocked(sys, since); err != nil {
		return err
	}
	// Channels are read before workspaces are applied, so that a changed
	// workspace's new policy has its channels.
	chChanged, err := s.refreshChannelsLocked(ctx)
	if err != nil {
		return err
	}
	if err := s.applyWorkspacesLocked(ctx, since.IsZero(), wss, ups, gone); err != nil {
		return err
	}
	if len(chChanged) > 0 {
		rebuilt := make(map[string]bool, len(wss))
		for _, w := range wss {
			rebuilt[w.ID] = true
		}
		s.applyChannelsLocked(chChanged, rebuilt)
	}
	if since.IsZero() {
		return s.loadKeysLocked(ctx)
	}
	return s.readKeys(ctx, since, func(r *keyRow) {
		if h, f, ok := s.decodeKey(r, func(b []byte) string { return string(b) }); ok {
			s.putLocked(h, &f)
		} else if deleted(r) {
			s.removeLocked(h)
		}
	})
}

// changedSinceLocked reports whether a row the snapshot follows may have
// changed at or after since, in one statement instead of the five of a
// refresh: a row of workspaces, upstreams, groups, channels or API keys
// updated since (each an index's newest entry, but workspaces'), or a
// number of channels other than the snapshot holds (a deleted channel
// leaves no row to see; a deleted group or upstream touches its
// workspaces). A poll that finds nothing is this one query: most polls,
// since changes are rare next to the 200 ms poll.
func (s *Snapshot) changedSinceLocked(ctx context.Context, since time.Time) (bool, error) {
	q := `SELECT CASE WHEN EXISTS (SELECT 1 FROM ` + entworkspace.Table + ` WHERE ` + entworkspace.FieldUpdatedAt + ` >= $1)
		OR EXISTS (SELECT 1 FROM ` + entupstream.Table + ` WHERE ` + entupstream.FieldUpdatedAt + ` >= $1)
		OR EXISTS (SELECT 1 FROM ` + entgroup.Table + ` WHERE ` + entgroup.FieldUpdatedAt + ` >= $1)
		OR EXISTS (SELECT 1 FROM ` + entchannel.Table + ` WHERE ` + entchannel.FieldUpdatedAt + ` >= $1)
		OR EXISTS (SELECT 1 FROM ` + apikey.Table + ` WHERE ` + apikey.FieldUpdatedAt + ` >= $1)
		THEN 1 ELSE 0 END, (SELECT count(*) FROM ` + entchannel.Table + `)`
	rows, err := s.client.QueryContext(ctx, q, since)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var changed, channels int64
	if rows.Next() {
		if err := rows.Scan(&changed, &channels); err != nil {
			return false, err
		}
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	return changed != 0 || channels != int64(len(s.chans)), nil
}

// Group implements gateway.GroupDirectory: one atomic load and a map read.
func (s *Snapshot) Group(id string) (gateway.GroupPolicy, bool) {
	m := s.groups.Load()
	if m == nil {
		return gateway.GroupPolicy{}, false
	}
	g, ok := (*m)[id]
	return g, ok
}

// refreshGroupsLocked reads the groups changed at or after since (all
// when zero). A deleted group leaves no row to poll; internal/groups.Delete
// first moves its keys and workspaces to no group, which the same poll
// reads, so its stale entry here is never looked up again. A full load
// starts from an empty map, which forgets it.
func (s *Snapshot) refreshGroupsLocked(sys context.Context, since time.Time) error {
	q := s.client.Group.Query()
	if !since.IsZero() {
		q = q.Where(entgroup.UpdatedAtGTE(since))
	}
	gs, err := q.All(sys)
	if err != nil {
		return err
	}
	old := s.groups.Load()
	if len(gs) == 0 && old != nil && !since.IsZero() {
		return nil
	}
	m := make(map[string]gateway.GroupPolicy, len(gs))
	if old != nil && !since.IsZero() {
		for id, g := range *old {
			m[id] = g
		}
	}
	for _, g := range gs {
		m[g.ID] = gateway.GroupPolicy{PriceMultiplierBps: g.PriceMultiplierBps, RPM: g.Rpm, TPM: g.Tpm}
	}
	s.groups.Store(&m)
	return nil
}

// applyWorkspacesLocked applies workspace rows and upstream rows read
// together (all of them when full), and forgets the upstreams of the
// workspaces in gone.
func (s *Snapshot) applyWorkspacesLocked(ctx context.Context, full bool, wss []*ent.Workspace, ups []*ent.Upstream, gone map[string]bool) error {
	period := s.opts.Now().UTC().Format("2006-01")
	// The month's totals only seed budgets, so a changed workspace whose
	// policy already has this month's keeps them; only a load, a new
	// workspace or a new month reads the ledger.
	var tokens, cost map[string]int64
	if s.opts.Totals != nil && s.needTotalsLocked(full, wss, period) {
		var err error
		if tokens, cost, err = s.opts.Totals(ctx, s.opts.Now()); err != nil {
			return fmt.Errorf("month totals: %w", err)
		}
	}

	changed := make(map[string]bool, len(wss))
	for _, w := range wss {
		changed[w.ID] = true
	}
	for id := range gone {
		delete(s.ups, id)
	}
	for _, u := range ups {
		nu := s.openUpstream(u)
		if old := s.ups[u.WorkspaceID]; old != nil && old.equal(nu) {
			continue // re-read in the overlap: keep the policy
		}
		s.ups[u.WorkspaceID] = nu
		if changed[u.WorkspaceID] {
			continue // rebuilt below
		}
		if ws := s.ws[u.WorkspaceID]; ws != nil {
			p := *ws.policy.Load()
			p.Upstream, p.Models = s.ups[u.WorkspaceID].gw, s.ups[u.WorkspaceID].models
			ws.policy.Store(&p)
		}
	}
	for _, w := range wss {
		p := &gateway.WorkspacePolicy{ID: w.ID, Suspended: w.Status == entworkspace.StatusSUSPENDED, Inactive: !w.Active, RPM: w.Rpm, TPM: w.Tpm,
			MonthlyTokenQuota: w.MonthlyTokenQuota, UsagePeriod: period}
		if w.SpendCapCents != nil {
			p.MonthlySpendCapMicros = *w.SpendCapCents * 10_000
		}
		if w.GroupID != nil {
			p.GroupID = *w.GroupID
		}
		if u := s.ups[w.ID]; u != nil {
			p.Upstream, p.Models = u.gw, u.models
		}
		p.Channels = s.wsChans[w.ID]
		ws := s.ws[w.ID]
		if ws == nil {
			ws = &workspace{}
			s.ws[w.ID] = ws
		} else {
			p.ID = ws.policy.Load().ID // share the string its keys' principals hold
		}
		old := ws.policy.Load()
		if old != nil && tokens == nil {
			p.TokensThisMonth, p.SpendThisMonthMicros = old.TokensThisMonth, old.SpendThisMonthMicros
		} else {
			p.TokensThisMonth, p.SpendThisMonthMicros = tokens[w.ID], cost[w.ID]
		}
		if old != nil && samePolicy(old, p) {
			continue // re-read in the overlap: keys keep their Principals
		}
		// Every key of the workspace sees the new policy at its next Lookup.
		ws.policy.Store(p)
	}
	return nil
}

// needTotalsLocked reports whether applying wss (all of them when full)
// needs the month's totals.
func (s *Snapshot) needTotalsLocked(full bool, wss []*ent.Workspace, period string) bool {
	if full {
		return true
	}
	for _, w := range wss {
		ws := s.ws[w.ID]
		if ws == nil {
			return true
		}
		old := ws.policy.Load()
		// A budget the workspace did not have is seeded from the totals
		// of now: its usage since they were read was counted nowhere.
		newQuota := old.MonthlyTokenQuota == 0 && w.MonthlyTokenQuota > 0
		newCap := old.MonthlySpendCapMicros == 0 && w.SpendCapCents != nil && *w.SpendCapCents > 0
		if old.UsagePeriod != period || newQuota || newCap {
			return true
		}
	}
	return false
}

// workspaceLocked returns the workspace of id, creating it with a bare
// policy if its row has not been read yet (the next poll reads it).
func (s *Snapshot) workspaceLocked(id []byte) *workspace {
	if ws := s.ws[string(id)]; ws != nil { // no allocation for the look-up
		return ws
	}
	ws := &workspace{}
	ws.policy.Store(&gateway.WorkspacePolicy{ID: string(id)})
	s.ws[string(id)] = ws
	return ws
}

// loadKeysLocked reads every key into a new index, replacing all the keys
// held before.
func (s *Snapshot) loadKeysLocked(ctx context.Context) error {
	// The driver allocates short-lived values for every row (about 200
	// bytes on pgx). At the default GOGC the heap grows to twice the
	// snapshot before they are collected, and the process keeps the pages
	// it grew to: collect more often while loading (at start, before any
	// request), then restore the setting.
	defer debug.SetGCPercent(debug.SetGCPercent(loadGCPercent))
	var b builder
	err := s.readKeys(ctx, time.Time{}, func(r *keyRow) {
		if h, f, ok := s.decodeKey(r, s.ids.string); ok {
			b.add(h, &f)
		}
	})
	if err != nil {
		return err
	}
	s.index.Store(b.index())
	s.n.Store(int64(b.n))
	for i := range s.recent {
		sh := &s.recent[i]
		sh.mu.Lock()
		sh.m = map[keys.Hash]*key{}
		sh.mu.Unlock()
	}
	s.nRecent = 0
	return nil
}

// putLocked installs (or replaces) a key changed since the load.
func (s *Snapshot) putLocked(h keys.Hash, f *keyFields) {
	x := s.index.Load()
	sh := s.shard(h)
	cur := sh.m[h] // s.mu held: no other writer
	old := x.find(h)
	if cur == nil && old != nil && old.p.Load() != moved {
		cur = old
	}
	// Polls re-read rows changed in the last few seconds (overlap): an
	// unchanged key keeps its Principal.
	if cur != nil && cur.keyFields.equal(f) {
		return
	}
	nk := &key{hash: h, keyFields: *f}
	sh.mu.Lock()
	sh.m[h] = nk
	sh.mu.Unlock()
	if cur != nil && cur != old {
		return // replaced in recent
	}
	s.nRecent++
	// Mark the indexed version moved only now that its successor is in
	// recent, so a Lookup always finds one of them.
	if old != nil {
		old.p.Store(moved)
		x.moved++
	} else {
		s.n.Add(1)
	}
	if s.nRecent > max(minRebuild, x.n/4) {
		s.rebuildLocked()
	}
}

// removeLocked forgets the key of hash h (deleted): Lookup misses it from
// then on, as a key that never existed. A key of the index is marked moved
// with no successor in recent, which Lookup reads as absent; a rebuild
// leaves it out.
func (s *Snapshot) removeLocked(h keys.Hash) {
	x := s.index.Load()
	sh := s.shard(h)
	if cur := sh.m[h]; cur != nil { // s.mu held: no other writer
		sh.mu.Lock()
		delete(sh.m, h)
		sh.mu.Unlock()
		s.nRecent--
		s.n.Add(-1) // its indexed version, if any, is marked moved already
		return
	}
	if old := x.find(h); old != nil && old.p.Load() != moved {
		old.p.Store(moved)
		x.moved++
		s.n.Add(-1)
	}
}

// loadGCPercent is GOGC while loading every key.
const loadGCPercent = 25

// minRebuild is how many keys recent holds before the index is rebuilt
// with them: a map entry and its own key cost about twice an indexed key.
var minRebuild = 4096

// rebuildLocked makes a new index of every current key and empties recent.
func (s *Snapshot) rebuildLocked() {
	x := s.index.Load()
	var b builder
	for i := range x.n {
		k := x.at(uint32(i))
		if p := k.p.Load(); p != moved {
			b.add(k.hash, &k.keyFields).p.Store(p)
		}
	}
	for i := range s.recent {
		for _, k := range s.recent[i].m { // s.mu held: no other writer
			b.add(k.hash, &k.keyFields).p.Store(k.p.Load())
		}
	}
	// Publish the new index before emptying recent: a Lookup that misses
	// in recent looks in the index again (see Lookup).
	s.index.Store(b.index())
	for i := range s.recent {
		sh := &s.recent[i]
		sh.mu.Lock()
		sh.m = map[keys.Hash]*key{}
		sh.mu.Unlock()
	}
	s.nRecent = 0
}

// samePolicy reports whether a and b say the same; Upstreams and Channels
// are compared by identity (s.ups and s.chans keep an unchanged one).
func samePolicy(a, b *gateway.WorkspacePolicy) bool {
	return a.ID == b.ID && a.Suspended == b.Suspended && a.Inactive == b.Inactive && a.RPM == b.RPM && a.TPM == b.TPM &&
		a.MonthlyTokenQuota == b.MonthlyTokenQuota && a.MonthlySpendCapMicros == b.MonthlySpendCapMicros &&
		a.TokensThisMonth == b.TokensThisMonth && a.SpendThisMonthMicros == b.SpendThisMonthMicros &&
		a.UsagePeriod == b.UsagePeriod && slices.Equal(a.Models, b.Models) && a.Upstream == b.Upstream && a.GroupID == b.GroupID &&
		slices.Equal(a.Channels, b.Channels)
}

// upstream is a workspace's own upstream, ready for the gateway.
type upstream struct {
	gw     *gateway.Upstream
	models []string
}

func (u *upstream) equal(o *upstream) bool {
	if !slices.Equal(u.models, o.models) || (u.gw == nil) != (o.gw == nil) {
		return false
	}
	return u.gw == nil || (u.gw.BaseURL.String() == o.gw.BaseURL.String() && u.gw.Authorization == o.gw.Authorization)
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
