package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/oais/oais/gateway"
	"github.com/oais/oais/gateway/idempotency"
	"github.com/oais/oais/gateway/keysnapshot"
	"github.com/oais/oais/gateway/ratelimit"
	"github.com/oais/oais/gateway/respcache"
	"github.com/oais/oais/gateway/spool"
	"github.com/oais/oais/gateway/tokens"
	"github.com/oais/oais/internal/changes"
	"github.com/oais/oais/internal/drain"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/every"
	"github.com/oais/oais/internal/gateways"
	"github.com/oais/oais/internal/httpsecurity"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/prices"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
)

// Gateway is a wired gateway process, for tests that run one in-process.
type Gateway struct {
	Config   Config
	Store    *store.Store
	Spool    *spool.Spool
	Snapshot *keysnapshot.Snapshot
	Ledger   *ledger.Ledger
	GW       *gateway.Gateway
	Handler  http.Handler
	log      *slog.Logger
	redis    redis.UniversalClient
	// cacheRedis is the response cache's own client (OAIS_REDIS_CACHE_URL).
	cacheRedis redis.UniversalClient
	// prices is the gateway's Pricer; Serve reloads it when admins edit
	// model_prices (internal/prices.Follow), from priceVersion.
	prices       *prices.Live
	priceVersion prices.Version
	// wake carries PostgreSQL change notifications to the key snapshot.
	wake chan struct{}
	// leases is the Redis limiter whose leases a drain hands back.
	leases *ratelimit.Redis
}

// The gateway names models in its metrics by their priced names.
var _ gateway.PricedModels = (*prices.Live)(nil)

// secretsBox opens workspaces' upstream keys: with OAIS_SECRETS_KEY, or on
// the embedded SQLite database without it the key the control plane keeps
// beside the database (made here if this gateway starts first). On
// PostgreSQL without it, workspaces' own upstream keys cannot be opened.
func secretsBox(cfg Config, log *slog.Logger) (*secretbox.Box, error) {
	key := cfg.SecretsKey.Reveal()
	if dbPath, ok := store.SQLitePath(cfg.DatabaseURL); key == "" && ok {
		var path string
		var created bool
		var err error
		if key, path, created, err = secretbox.KeyBeside(dbPath); err != nil {
			return nil, fmt.Errorf("OAIS_SECRETS_KEY: unset, and the key beside the SQLite database cannot be used: %w", err)
		}
		if created && path != "" {
			log.Warn("OAIS_SECRETS_KEY is not set: generated a secrets key beside the SQLite database; back it up with the database", "path", path)
		}
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, fmt.Errorf("OAIS_SECRETS_KEY: %w", err)
	}
	return box, nil
}

// Open connects everything and loads the key snapshot. Close the result.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Gateway, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("OAIS_DATABASE_URL: %w", err)
	}
	g := &Gateway{Config: cfg, Store: st, log: log}
	ok := false
	defer func() {
		if !ok {
			g.Close()
		}
	}()
	if err := g.waitForMigrations(ctx); err != nil {
		return nil, err
	}
	// extra holds the process's own series (spool, rate-limit fallback). The
	// Go and process collectors are on the gateway's registry already:
	// registering them here too made every /metrics scrape fail with 500.
	extra := prometheus.NewRegistry()
	g.Spool, err = spool.Open(ctx, spool.Options{Dir: cfg.SpoolDir, MaxBytes: cfg.SpoolMaxBytes, Logger: log, Registerer: extra, WrapSegment: cfg.wrapSegment})
	if err != nil {
		return nil, fmt.Errorf("OAIS_SPOOL_DIR: %w", err)
	}
	g.Ledger = ledger.New(st, ledger.WithLogger(log))
	if err := extra.Register(g.Ledger.Collector()); err != nil {
		return nil, fmt.Errorf("usage ledger metrics: %w", err)
	}
	box, err := secretsBox(cfg, log)
	if err != nil {
		return nil, err
	}
	g.wake = make(chan struct{}, 1)
	g.Snapshot = keysnapshot.New(st.Ent, keysnapshot.Options{CacheTTL: cfg.CacheTTL, Logger: log, Totals: g.monthTotals, Secrets: box, Wake: g.wake})
	if err := g.Snapshot.Load(ctx); err != nil {
		return nil, fmt.Errorf("OAIS_DATABASE_URL: load API keys: %w", err)
	}
	table, pv, err := prices.Load(ctx, st.Ent)
	if err != nil {
		return nil, fmt.Errorf("OAIS_DATABASE_URL: load model prices: %w", err)
	}
	g.prices, g.priceVersion = prices.NewLive(table, cfg.UnpricedModelPrice), pv
	if p := cfg.UnpricedModelPrice; p != nil {
		log.Warn("OAIS_UNPRICED_MODEL_PRICE is set: models with no price are served at it instead of refused",
			"input_micros_per_mtok", p.InputMicrosPerMTok, "cached_input_micros_per_mtok", p.CachedInputMicrosPerMTok,
			"output_micros_per_mtok", p.OutputMicrosPerMTok)
	}

	var limiter ratelimit.Limiter = ratelimit.NewLocal(ratelimit.Options{})
	var cache gateway.Cache = respcache.NewLocal(cfg.CacheBytes)
	var idem gateway.IdempotencyStore // nil: the gateway's in-process store
	if cfg.redis != nil {
		g.redis = cfg.redis.Client()
		// A reservation nobody settles stops counting after the longest a
		// request can take (its upstream call and a drain) plus a margin.
		remote := ratelimit.NewRedis(g.redis, "oais:rl:", ratelimit.Options{
			ReservationTTL: max(cfg.UpstreamTimeout, gateway.DefaultUpstreamTimeout) + cfg.DrainTimeout + time.Minute,
			LeaseDivisor:   cfg.RateLimitLeaseDivisor,
		})
		g.leases = remote
		if err := extra.Register(remote.LeaseCollector()); err != nil {
			return nil, err
		}
		fb, err := ratelimit.NewFallback(remote, ratelimit.NewLocal(ratelimit.Options{}), ratelimit.FallbackOptions{Registerer: extra, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("OAIS_REDIS_URL: %w", err)
		}
		if !fb.Probe(ctx) {
			log.Warn("rate limits: redis unreachable at start; enforcing per-replica local limits until it answers", "redis", cfg.redis.String())
		}
		limiter = fb
		cacheClient := g.redis
		if cfg.redisCache != nil {
			g.cacheRedis = cfg.redisCache.Client()
			cacheClient = g.cacheRedis
		}
		warnEviction(ctx, g.redis, cfg.redisCache == nil, log)
		cache = respcache.NewRedis(cacheClient, "oais:cache:")
		idem = idempotency.NewRedis(g.redis, "oais:idem:", idempotency.Options{Logger: log})
	}
	var trusted []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		trusted = append(trusted, netip.MustParsePrefix(p))
	}
	gcfg := gateway.Config{
		Name:                  cfg.Name,
		UpstreamBaseURL:       cfg.UpstreamBaseURL,
		UpstreamAPIKey:        cfg.UpstreamAPIKey.Reveal(),
		MaxBodyBytes:          cfg.MaxBodyBytes,
		UpstreamTimeout:       cfg.UpstreamTimeout,
		UpstreamHeaderTimeout: cfg.UpstreamHeaderTimeout,
		SendTimeout:           cfg.SendTimeout,
		TrustedProxies:        trusted,
		Egress:                &egress.Policy{Allowed: cfg.UpstreamAllowedNetworks},
		ChannelBreaker:        cfg.ChannelBreaker,
		ChannelMaxAttempts:    cfg.ChannelMaxAttempts,
		Logger:                log,
		Ready:                 g.ready,
	}
	if err := gcfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.UpstreamBaseURL == "" {
		log.Warn("OAIS_UPSTREAM_BASE_URL is not set: answering from the built-in MOCK upstream (deterministic fake answers, no real model). Set it to e.g. https://api.openai.com/v1 for real traffic.")
	}
	g.GW = gateway.New(gcfg, gateway.Deps{
		Directory:         g.Snapshot,
		Limiter:           limiter,
		Recorder:          g.Spool,
		Cache:             cache,
		CacheKeyNormalize: normalize,
		Pricer:            g.prices,
		Idempotency:       idem,
	})
	metrics := promhttp.HandlerFor(prometheus.Gatherers{g.GW.Registry(), extra}, promhttp.HandlerOpts{})
	gwh := g.GW.Handler()
	g.Handler = httpsecurity.Headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && r.Method == http.MethodGet {
			metrics.ServeHTTP(w, r)
			return
		}
		gwh.ServeHTTP(w, r)
	}), httpsecurity.Options{TrustedProxies: trusted})
	go tokens.Warm()
	ok = true
	return g, nil
}

// warnEviction warns when the limiter's Redis may evict keys without a
// TTL: allkeys-* policies evict budget counters as readily as cache
// entries. A lost budget starts again from the ledger (ratelimit.Counter.Floor),
// but the months' counters should not be where Redis finds memory:
// volatile-lru evicts only keys with a TTL (cache entries and rolling
// windows), never budgets. Managed Redis may refuse CONFIG; then nothing
// is said.
func warnEviction(ctx context.Context, c redis.UniversalClient, sharedWithCache bool, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return
	}
	if p := v["maxmemory-policy"]; strings.HasPrefix(p, "allkeys-") {
		log.Warn("OAIS_REDIS_URL: maxmemory-policy "+p+" may evict budget counters (spend caps, token quotas, key request limits); they are rebuilt from the ledger, but set maxmemory-policy volatile-lru (or noeviction), and give the response cache its own Redis with OAIS_REDIS_CACHE_URL",
			"policy", p, "cache_shares_redis", sharedWithCache)
	}
}

// waitForMigrations waits (bounded) for the control plane to migrate the
// database: the gateway never migrates, so two binaries started together
// cannot race on the schema.
func (g *Gateway) waitForMigrations(ctx context.Context) error {
	deadline := time.Now().Add(g.Config.MigrateWait)
	logged := false
	for {
		st, err := g.Store.MigrationStatus(ctx)
		if err == nil && len(st.Pending) == 0 && !st.Dirty {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("OAIS_DATABASE_URL: read migration status: %w", err)
			}
			return fmt.Errorf("OAIS_DATABASE_URL: the database is not migrated (%d pending); run `controlplane migrate up` or start the control plane first", len(st.Pending))
		}
		if !logged {
			g.log.Info("waiting for the control plane to migrate the database", "database", g.Store.Redacted())
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (g *Gateway) ready(ctx context.Context) error {
	if !g.Snapshot.Ready() {
		return errors.New("key snapshot not loaded")
	}
	switch err := g.Spool.Err(); {
	case errors.Is(err, spool.ErrFull):
		return errors.New("usage spool is full: the database is not taking usage")
	case err != nil:
		return err
	}
	return nil
}

func normalize(body []byte) []byte {
	n, err := respcache.Normalize(body)
	if err != nil {
		return body
	}
	return n
}

// Run serves on cfg.Addr until ctx ends, then drains.
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.Config.Addr)
	if err != nil {
		return fmt.Errorf("OAIS_GATEWAY_ADDR: %w", err)
	}
	return g.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then drains: /readyz answers 503,
// the listener closes, requests and streams in flight run to their end
// (bounded by Config.DrainTimeout; past it they are cut and metered by the
// stream-cut policy), and once the last handler returned the spool ships
// what it can and is fsynced by Close. Following keys and prices and
// shipping usage go on during the drain: a revocation still applies.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	g.log.Info("gateway listening", "addr", ln.Addr().String(), "http_server", g.Config.HTTPServer, "keys", g.Snapshot.Len(), "redis", g.redis != nil)
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	// A follower that fails for good ends ctx too: the gateway drains and
	// exits rather than serve from a snapshot nobody updates.
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return g.Snapshot.Follow(bg) })
	if g.Store.Dialect == dialect.Postgres {
		listen := g.Config.DatabaseURL
		if g.Config.DatabaseListenURL != "" {
			listen = g.Config.DatabaseListenURL
		}
		eg.Go(func() error { changes.Listen(bg, listen, g.wake, g.log); return nil })
	}
	eg.Go(func() error { return g.Spool.Run(bg, g.Ledger, spool.ShipOptions{}) })
	eg.Go(func() error { g.followBudgets(bg, budgetEvery); return nil })
	if g.Config.Name != "" {
		eg.Go(func() error { return g.heartbeat(bg, gateways.HeartbeatInterval) })
	}
	eg.Go(func() error {
		return prices.Follow(bg, g.Store.Ent, g.prices, g.priceVersion, prices.DefaultReloadInterval, g.log)
	})
	serve := drain.Serve
	if g.Config.HTTPServer == HTTPServerFast {
		serve = drain.ServeFast
	}
	err := serve(ctx, ln, g.Handler, drain.Options{
		Timeout: g.Config.DrainTimeout,
		OnDrain: g.GW.Drain,
		Logger:  g.log,
		Name:    "gateway",
	})
	stopBG()
	if ferr := eg.Wait(); err == nil {
		err = ferr
	}
	fctx, cancel := context.WithTimeout(context.Background(), DefaultFlushTimeout)
	defer cancel()
	if g.leases != nil {
		// Every request is done: the units this replica leased and did not
		// use go back to the shared limits now, not when Redis expires them.
		if lerr := g.leases.ReturnLeases(fctx); lerr != nil {
			g.log.Warn("rate limits: leases not all handed back to redis before exit; their unused units count until they expire", "err", lerr)
		}
	}
	if ferr := g.Spool.Flush(fctx, g.Ledger); ferr != nil {
		g.log.Warn("usage spool: could not ship everything before exit; it stays on disk and ships at the next start", "err", ferr)
	} else {
		g.log.Info("usage spool shipped; exiting", "pending", g.Spool.Stats().PendingRecords)
	}
	return err
}

// Close releases everything.
func (g *Gateway) Close() error {
	if g.GW != nil {
		g.GW.Close()
	}
	if g.Spool != nil {
		// Close fsyncs what the last requests appended.
		if err := g.Spool.Close(); err != nil {
			g.log.Error("usage spool: close failed; records of the last moments may not survive a power loss", "err", err)
		}
	}
	if g.redis != nil {
		g.redis.Close()
	}
	if g.cacheRedis != nil {
		g.cacheRedis.Close()
	}
	return g.Store.Close()
}

// heartbeat reports this named gateway (gateways.Beat) at once and then
// every interval until ctx ends, for Query.gateways. A failed beat is
// logged once until one succeeds: the gateway serves on regardless.
func (g *Gateway) heartbeat(ctx context.Context, interval time.Duration) error {
	failing := false
	return every.Run(ctx, interval, func(ctx context.Context) {
		err := gateways.Beat(ctx, g.Store.Ent, g.Config.Name, time.Now())
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			g.log.Warn("gateway heartbeat failed; Query.gateways shows this gateway's last success", "err", err)
			failing = true
		case err == nil && failing:
			g.log.Info("gateway heartbeat recorded again")
			failing = false
		}
	}, every.Now())
}
