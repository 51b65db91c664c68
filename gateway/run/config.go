// Package run runs the gateway binary: it wires the /v1 data plane
// (gateway/) to the database (key snapshot, usage ledger), the durable
// spool, the rate limiter, the response cache and the Idempotency-Key store
// (in-process, or Redis when OAIS_REDIS_URL is set). cmd/gateway parses flags and calls Run.
package run

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/oais/oais/gateway"
	"github.com/oais/oais/gateway/route"
	"github.com/oais/oais/gateway/spool"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/drain"
	"github.com/oais/oais/internal/gateways"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/redisurl"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
)

// Defaults of the gateway's settings.
const (
	DefaultAddr         = ":8081"
	DefaultSpoolDir     = "./data/spool"
	DefaultCacheBytes   = 64 << 20
	DefaultCacheTTL     = time.Hour
	DefaultMigrateWait  = 60 * time.Second
	DefaultFlushTimeout = 10 * time.Second
	// DefaultLeaseDivisor is OAIS_RATELIMIT_LEASE_DIVISOR's default: leases
	// of at most 1% of a limit, so limits under 800 a window (the divisor
	// times ratelimit's 8 requests a lease) are never leased.
	DefaultLeaseDivisor = 100
	// DefaultLogFlushInterval is OAIS_LOG_FLUSH_INTERVAL's default: a
	// crash loses at most this much of the access log, and each request
	// no longer costs a write(2) of its own.
	DefaultLogFlushInterval = 100 * time.Millisecond
	// DefaultHTTPServer is OAIS_GATEWAY_HTTP_SERVER's default: net/http,
	// since through the bridge fasthttp's server saved the gateway no CPU
	// (docs/benchmarks.md, finding 10).
	DefaultHTTPServer = HTTPServerNet
)

// The inbound HTTP servers the gateway can serve /v1 on
// (OAIS_GATEWAY_HTTP_SERVER). Both run the same handler with the same
// drain (internal/drain); the upstream side is net/http's Transport in
// both.
const (
	// HTTPServerFast is fasthttp's server (drain.ServeFast), whose own
	// work costs a third of net/http's; through the bridge to the
	// gateway's http.Handler the gateway's CPU a request came out the
	// same (finding 10), with 2.3 KB less allocated a plain request and
	// 2.8 KB more a stream.
	HTTPServerFast = "fasthttp"
	// HTTPServerNet is net/http's: it sends a stream's headers before its
	// first event, and takes request headers up to 64 KiB (fasthttp's:
	// drain.FastMaxHeaderBytes).
	HTTPServerNet = "net/http"
)

// Config is every setting of the gateway.
type Config struct {
	DatabaseURL string
	// Name (OAIS_GATEWAY_NAME) names this gateway: keys bound to another
	// name get 401 invalid_api_key here, and a named gateway reports
	// itself every gateways.HeartbeatInterval (Query.gateways). Empty: an
	// unnamed gateway, which accepts only keys bound to no gateway.
	Name string
	// DatabaseListenURL (OAIS_DATABASE_LISTEN_URL) is a direct connection
	// to the same PostgreSQL database for what needs one session: LISTEN
	// for change notifications. Set it when OAIS_DATABASE_URL goes through
	// a transaction pooler (PgBouncer); unset, LISTEN uses DatabaseURL.
	DatabaseListenURL string
	Addr              string
	// RedisURL (OAIS_REDIS_URL) is one Redis server, a Redis Cluster or a
	// master behind Sentinel (redisurl.Forms).
	RedisURL string
	redis    *redisurl.Target
	// RedisCacheURL (OAIS_REDIS_CACHE_URL) puts the response cache on
	// another Redis (server, database or cluster) than the limiter's
	// counters, so cache entries never compete with budget counters for
	// memory; unset, the cache shares OAIS_REDIS_URL.
	RedisCacheURL   string
	redisCache      *redisurl.Target
	UpstreamBaseURL string
	UpstreamAPIKey  config.Secret
	SpoolDir        string
	SpoolMaxBytes   int64
	MaxBodyBytes    int64
	CacheTTL        time.Duration
	CacheBytes      int64
	LogFormat       string
	LogLevel        string
	// LogFlushInterval (OAIS_LOG_FLUSH_INTERVAL) batches log lines below
	// warn, the access lines above all, into one write every interval
	// (config.BufferedLogger); 0 writes each line at once.
	LogFlushInterval time.Duration
	TrustedProxies   []string
	// UpstreamAllowedNetworks (OAIS_UPSTREAM_ALLOWED_NETWORKS) are the
	// networks besides public addresses that workspaces' own upstreams may
	// reach; the control plane reads the same variable when they are set.
	UpstreamAllowedNetworks []netip.Prefix
	MigrateWait             time.Duration
	SecretsKey              config.Secret // OAIS_SECRETS_KEY: opens workspaces' upstream keys
	// UpstreamTimeout bounds a whole upstream call (a long stream included);
	// UpstreamHeaderTimeout the wait for its first byte. Past either: 504.
	UpstreamTimeout       time.Duration
	UpstreamHeaderTimeout time.Duration
	// SendTimeout (OAIS_SEND_TIMEOUT) bounds one write to a client that
	// does not read (gateway.Config.SendTimeout).
	SendTimeout time.Duration
	// DrainTimeout (OAIS_DRAIN_TIMEOUT) bounds the drain on SIGTERM: how
	// long requests and streams in flight may run before they are cut.
	DrainTimeout time.Duration
	// wrapSegment is spool.Options.WrapSegment: tests in this package make
	// the spool's disk fail through it.
	wrapSegment func(*os.File) spool.SegmentFile
	// UnpricedModelPrice (OAIS_UNPRICED_MODEL_PRICE) is charged for models
	// no price lists; nil refuses them (400 model_not_priced).
	UnpricedModelPrice *pricing.Price
	// ChannelBreaker is every channel's circuit breaker (docs/routing.md):
	// OAIS_CHANNEL_BREAKER_FAILURES, _COOLDOWN, _MAX_RETRY_AFTER,
	// _ERROR_RATIO, _WINDOW and _MIN_REQUESTS.
	ChannelBreaker route.BreakerConfig
	// ChannelMaxAttempts (OAIS_CHANNEL_MAX_ATTEMPTS) bounds the channels
	// one request tries.
	ChannelMaxAttempts int
	// RateLimitLeaseDivisor (OAIS_RATELIMIT_LEASE_DIVISOR; with
	// OAIS_REDIS_URL) lets this gateway decide most requests against leases
	// of up to 1/divisor of a shared limit reserved in Redis instead of a
	// round trip each (ratelimit.Options.LeaseDivisor: never past a limit;
	// refusals up to replicas/divisor of a limit early for a second). 0
	// decides every request in Redis.
	RateLimitLeaseDivisor int64
	// HTTPServer (OAIS_GATEWAY_HTTP_SERVER) is HTTPServerFast or
	// HTTPServerNet.
	HTTPServer string
}

// Load reads the Config from env; the error names the first bad variable.
func Load(env config.Env) (Config, error) {
	var errs []error
	c := Config{
		DatabaseURL:           env.String("OAIS_DATABASE_URL", store.DefaultURL),
		DatabaseListenURL:     env.String("OAIS_DATABASE_LISTEN_URL", ""),
		Name:                  env.String("OAIS_GATEWAY_NAME", ""),
		Addr:                  env.Addr("OAIS_GATEWAY_ADDR", DefaultAddr, &errs),
		RedisURL:              env.String("OAIS_REDIS_URL", ""),
		RedisCacheURL:         env.String("OAIS_REDIS_CACHE_URL", ""),
		UpstreamBaseURL:       env.String("OAIS_UPSTREAM_BASE_URL", ""),
		UpstreamAPIKey:        config.Secret(env.String("OAIS_UPSTREAM_API_KEY", "")),
		SpoolDir:              env.String("OAIS_SPOOL_DIR", DefaultSpoolDir),
		SpoolMaxBytes:         env.Int("OAIS_SPOOL_MAX_BYTES", spool.DefaultMaxBytes, &errs),
		MaxBodyBytes:          env.Int("OAIS_MAX_BODY_BYTES", 1<<20, &errs),
		CacheTTL:              env.Duration("OAIS_CACHE_TTL", DefaultCacheTTL, &errs),
		CacheBytes:            env.Int("OAIS_CACHE_BYTES", DefaultCacheBytes, &errs),
		LogFormat:             env.String("OAIS_LOG_FORMAT", "json"),
		LogLevel:              env.String("OAIS_LOG_LEVEL", "info"),
		MigrateWait:           env.Duration("OAIS_MIGRATE_WAIT", DefaultMigrateWait, &errs),
		SecretsKey:            config.Secret(env.String("OAIS_SECRETS_KEY", "")),
		UpstreamTimeout:       env.Duration("OAIS_UPSTREAM_TIMEOUT", gateway.DefaultUpstreamTimeout, &errs),
		UpstreamHeaderTimeout: env.Duration("OAIS_UPSTREAM_HEADER_TIMEOUT", gateway.DefaultUpstreamHeaderTimeout, &errs),
		SendTimeout:           env.Duration("OAIS_SEND_TIMEOUT", gateway.DefaultSendTimeout, &errs),
		DrainTimeout:          env.Duration("OAIS_DRAIN_TIMEOUT", drain.DefaultTimeout, &errs),
		RateLimitLeaseDivisor: env.Int("OAIS_RATELIMIT_LEASE_DIVISOR", DefaultLeaseDivisor, &errs),
		LogFlushInterval:      env.DurationOrOff("OAIS_LOG_FLUSH_INTERVAL", DefaultLogFlushInterval, &errs),
		HTTPServer:            env.String("OAIS_GATEWAY_HTTP_SERVER", DefaultHTTPServer),
	}
	if c.HTTPServer != HTTPServerFast && c.HTTPServer != HTTPServerNet {
		errs = append(errs, config.Errorf("OAIS_GATEWAY_HTTP_SERVER", "%q: want %s (the default) or %s", c.HTTPServer, HTTPServerFast, HTTPServerNet))
	}
	if c.SendTimeout <= 0 {
		errs = append(errs, config.Errorf("OAIS_SEND_TIMEOUT", "must be positive, got %s (how long a write may wait for a client that does not read, e.g. 2m)", c.SendTimeout))
	}
	if c.RateLimitLeaseDivisor < 0 {
		errs = append(errs, config.Errorf("OAIS_RATELIMIT_LEASE_DIVISOR", "must be 0 (no leases) or more, got %d", c.RateLimitLeaseDivisor))
	}
	if _, err := secretbox.New(c.SecretsKey.Reveal()); err != nil {
		errs = append(errs, config.Errorf("OAIS_SECRETS_KEY", "must be 32 random bytes, base64-encoded (openssl rand -base64 32)"))
	}
	c.UpstreamAllowedNetworks = env.Prefixes("OAIS_UPSTREAM_ALLOWED_NETWORKS", &errs)
	for _, p := range env.Prefixes("OAIS_TRUSTED_PROXIES", &errs) {
		c.TrustedProxies = append(c.TrustedProxies, p.String())
	}
	if c.Name != "" {
		if err := gateways.ValidateName(c.Name); err != nil {
			errs = append(errs, config.Errorf("OAIS_GATEWAY_NAME", "%v", err))
		}
	}
	if _, _, _, _, err := store.ParseURL(c.DatabaseURL); err != nil {
		errs = append(errs, config.Errorf("OAIS_DATABASE_URL", "%v", err))
	}
	if err := store.CheckSessionURL(c.DatabaseURL, c.DatabaseListenURL); err != nil {
		errs = append(errs, config.Errorf("OAIS_DATABASE_LISTEN_URL", "%v", err))
	}
	if c.RedisURL != "" {
		t, err := redisurl.Parse(c.RedisURL)
		if err != nil {
			errs = append(errs, config.Errorf("OAIS_REDIS_URL", "%v; want %s", err, redisurl.Forms))
		}
		c.redis = t
	}
	if c.RedisCacheURL != "" {
		t, err := redisurl.Parse(c.RedisCacheURL)
		switch {
		case err != nil:
			errs = append(errs, config.Errorf("OAIS_REDIS_CACHE_URL", "%v; want %s", err, redisurl.Forms))
		case c.RedisURL == "":
			errs = append(errs, config.Errorf("OAIS_REDIS_CACHE_URL", "needs OAIS_REDIS_URL (without it the cache is in-process)"))
		}
		c.redisCache = t
	}
	if c.UpstreamBaseURL != "" {
		env.URL("OAIS_UPSTREAM_BASE_URL", &errs)
	}
	if c.DrainTimeout <= 0 {
		errs = append(errs, config.Errorf("OAIS_DRAIN_TIMEOUT", "must be positive, e.g. 25s"))
	}
	if c.MaxBodyBytes == 0 {
		errs = append(errs, config.Errorf("OAIS_MAX_BODY_BYTES", "must be positive"))
	}
	c.loadChannels(env, &errs)
	if v := env.String("OAIS_UNPRICED_MODEL_PRICE", ""); v != "" {
		p, err := parsePrice(v)
		if err != nil {
			errs = append(errs, config.Errorf("OAIS_UNPRICED_MODEL_PRICE",
				"%q: %v; want input,cached,output micro-dollars per million tokens, e.g. 15000000,7500000,60000000 ($15, $7.50 and $60)", v, err))
		}
		c.UnpricedModelPrice = p
	}
	return c, config.Join(errs)
}

// loadChannels reads the channel router's settings.
func (c *Config) loadChannels(env config.Env, errs *[]error) {
	b := &c.ChannelBreaker
	b.FailureThreshold = int(env.Int("OAIS_CHANNEL_BREAKER_FAILURES", route.DefaultFailureThreshold, errs))
	if b.FailureThreshold < 1 || b.FailureThreshold > 1000 {
		*errs = append(*errs, config.Errorf("OAIS_CHANNEL_BREAKER_FAILURES", "must be 1 to 1000 consecutive failed attempts, e.g. 3"))
	}
	b.Cooldown = env.Duration("OAIS_CHANNEL_BREAKER_COOLDOWN", route.DefaultCooldown, errs)
	if b.Cooldown < time.Second || b.Cooldown > time.Hour {
		*errs = append(*errs, config.Errorf("OAIS_CHANNEL_BREAKER_COOLDOWN", "must be 1s to 1h, e.g. 30s"))
	}
	b.MaxRetryAfter = env.Duration("OAIS_CHANNEL_BREAKER_MAX_RETRY_AFTER", route.DefaultMaxRetryAfter, errs)
	if b.MaxRetryAfter < time.Second || b.MaxRetryAfter > 24*time.Hour {
		*errs = append(*errs, config.Errorf("OAIS_CHANNEL_BREAKER_MAX_RETRY_AFTER", "must be 1s to 24h, e.g. 5m"))
	}
	if v := strings.TrimSpace(env.String("OAIS_CHANNEL_BREAKER_ERROR_RATIO", "")); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || r > 1 || r != r {
			*errs = append(*errs, config.Errorf("OAIS_CHANNEL_BREAKER_ERROR_RATIO",
				"%q: want a share of failed attempts from 0 (off) to 1, e.g. 0.5", v))
		} else {
			b.ErrorRatio = r
		}
	}
	b.ErrorWindow = int(env.Int("OAIS_CHANNEL_BREAKER_WINDOW", route.DefaultErrorWindow, errs))
	if b.ErrorWindow < 1 || b.ErrorWindow > route.MaxErrorWindow {
		*errs = append(*errs, config.Errorf("OAIS_CHANNEL_BREAKER_WINDOW", "must be 1 to %d outcomes, e.g. %d", route.MaxErrorWindow, route.DefaultErrorWindow))
	}
	b.ErrorMinRequests = int(env.Int("OAIS_CHANNEL_BREAKER_MIN_REQUESTS", int64(min(route.DefaultErrorMinRequests, max(b.ErrorWindow, 1))), errs))
	if b.ErrorMinRequests < 1 || b.ErrorMinRequests > b.ErrorWindow {
		*errs = append(*errs, config.Errorf("OAIS_CHANNEL_BREAKER_MIN_REQUESTS",
			"must be 1 to OAIS_CHANNEL_BREAKER_WINDOW (%d), e.g. %d", b.ErrorWindow, min(route.DefaultErrorMinRequests, max(b.ErrorWindow, 1))))
	}
	c.ChannelMaxAttempts = int(env.Int("OAIS_CHANNEL_MAX_ATTEMPTS", gateway.DefaultChannelMaxAttempts, errs))
	if c.ChannelMaxAttempts < 1 || c.ChannelMaxAttempts > gateway.MaxChannelAttempts {
		*errs = append(*errs, config.Errorf("OAIS_CHANNEL_MAX_ATTEMPTS", "must be 1 (no retry) to %d channels a request tries, e.g. %d",
			gateway.MaxChannelAttempts, gateway.DefaultChannelMaxAttempts))
	}
}

// parsePrice reads "input,cached,output" in micro-dollars per million
// tokens, the units of setModelPrice, integers only: no float touches money.
func parsePrice(v string) (*pricing.Price, error) {
	parts := strings.Split(v, ",")
	if len(parts) != 3 {
		return nil, errors.New("three numbers")
	}
	var n [3]int64
	for i, s := range parts {
		var err error
		if n[i], err = strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil {
			return nil, fmt.Errorf("%q is not an integer", strings.TrimSpace(s))
		}
	}
	p := pricing.Price{InputMicrosPerMTok: n[0], CachedInputMicrosPerMTok: n[1], OutputMicrosPerMTok: n[2]}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}
