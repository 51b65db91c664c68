// Package run runs the gateway binary: it wires the /v1 data plane
// (gateway/) to the database (key snapshot, usage ledger), the durable
// spool, the rate limiter and the response cache (in-process, or Redis when
// OAIS_REDIS_URL is set). cmd/gateway parses flags and calls Run.
package run

import (
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oais/oais/gateway"
	"github.com/oais/oais/gateway/spool"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/drain"
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
)

// Config is every setting of the gateway.
type Config struct {
	DatabaseURL string
	Addr        string
	RedisURL    string
	redisOpts   *redis.Options
	// RedisCacheURL (OAIS_REDIS_CACHE_URL) puts the response cache on
	// another Redis (server or database) than the limiter's counters, so
	// cache entries never compete with budget counters for memory; unset,
	// the cache shares OAIS_REDIS_URL.
	RedisCacheURL   string
	redisCacheOpts  *redis.Options
	UpstreamBaseURL string
	UpstreamAPIKey  config.Secret
	SpoolDir        string
	SpoolMaxBytes   int64
	MaxBodyBytes    int64
	CacheTTL        time.Duration
	CacheBytes      int64
	LogFormat       string
	LogLevel        string
	TrustedProxies  []string
	MigrateWait     time.Duration
	SecretsKey      config.Secret // OAIS_SECRETS_KEY: opens workspaces' upstream keys
	// UpstreamTimeout bounds a whole upstream call (a long stream included);
	// UpstreamHeaderTimeout the wait for its first byte. Past either: 504.
	UpstreamTimeout       time.Duration
	UpstreamHeaderTimeout time.Duration
	// DrainTimeout (OAIS_DRAIN_TIMEOUT) bounds the drain on SIGTERM: how
	// long requests and streams in flight may run before they are cut.
	DrainTimeout time.Duration
}

// Load reads the Config from env; the error names the first bad variable.
func Load(env config.Env) (Config, error) {
	var errs []error
	c := Config{
		DatabaseURL:           env.String("OAIS_DATABASE_URL", store.DefaultURL),
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
		DrainTimeout:          env.Duration("OAIS_DRAIN_TIMEOUT", drain.DefaultTimeout, &errs),
	}
	if _, err := secretbox.New(c.SecretsKey.Reveal()); err != nil {
		errs = append(errs, config.Errorf("OAIS_SECRETS_KEY", "must be 32 random bytes, base64-encoded (openssl rand -base64 32)"))
	}
	for _, p := range env.Prefixes("OAIS_TRUSTED_PROXIES", &errs) {
		c.TrustedProxies = append(c.TrustedProxies, p.String())
	}
	if _, _, _, _, err := store.ParseURL(c.DatabaseURL); err != nil {
		errs = append(errs, config.Errorf("OAIS_DATABASE_URL", "%v", err))
	}
	if c.RedisURL != "" {
		o, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			errs = append(errs, config.Errorf("OAIS_REDIS_URL", "not a redis:// URL (%v)", err))
		}
		c.redisOpts = o
	}
	if c.RedisCacheURL != "" {
		o, err := redis.ParseURL(c.RedisCacheURL)
		switch {
		case err != nil:
			errs = append(errs, config.Errorf("OAIS_REDIS_CACHE_URL", "not a redis:// URL (%v)", err))
		case c.RedisURL == "":
			errs = append(errs, config.Errorf("OAIS_REDIS_CACHE_URL", "needs OAIS_REDIS_URL (without it the cache is in-process)"))
		}
		c.redisCacheOpts = o
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
	return c, config.Join(errs)
}
