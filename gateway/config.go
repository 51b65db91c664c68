package gateway

import (
	"github.com/oais/oais/gateway/route"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"time"

	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/gateways"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes          = 1 << 20
	DefaultUpstreamTimeout       = 10 * time.Minute
	DefaultUpstreamHeaderTimeout = 60 * time.Second
	DefaultMaxTokens             = 1024
	DefaultIdempotencyTTL        = 24 * time.Hour
	// DefaultBodyReadTimeout bounds reading a request body: a client that
	// trickles its body holds a connection and a buffer, not the gateway.
	DefaultBodyReadTimeout = 30 * time.Second
	// DefaultSendTimeout bounds how long a write to a client may wait,
	// as nginx's send_timeout does: a client that stops reading (its
	// receive window shut) is then dropped as if it had hung up, rather
	// than holding its connection, handler and upstream request for as
	// long as it likes. It is a bound on one stalled write, not on the
	// answer: a stream of any length goes on while the client reads. Two
	// minutes, the servers' keep-alive idle timeout, so that the deadline
	// a request leaves on its connection has not passed while the
	// connection waits for the next one.
	DefaultSendTimeout = 2 * time.Minute
	// DefaultMaxCaptureBytes bounds the copy of an answer kept for the
	// response cache and Idempotency-Key replays; larger answers are
	// served but neither cached nor replayable.
	DefaultMaxCaptureBytes = 4 << 20
)

// Config is the gateway's configuration. The zero value is usable: every
// zero field takes its default, and no upstream means the built-in mock.
type Config struct {
	// Name is this gateway's OAIS_GATEWAY_NAME (internal/gateways): keys
	// bound to another name are answered 401 invalid_api_key. Empty: an
	// unnamed gateway, which accepts only keys bound to none.
	Name string
	// UpstreamBaseURL is the OpenAI-compatible base, e.g.
	// https://api.openai.com/v1; "/v1/chat/completions" is sent to
	// UpstreamBaseURL + "/chat/completions". Empty: the in-process mock.
	UpstreamBaseURL string
	// UpstreamAPIKey replaces the client's key on every upstream request.
	UpstreamAPIKey string
	// MaxBodyBytes bounds a request body (413 above it).
	MaxBodyBytes int64
	// UpstreamTimeout bounds a whole upstream exchange, streams included;
	// UpstreamHeaderTimeout bounds the wait for the response headers. Both
	// end in 504.
	UpstreamTimeout       time.Duration
	UpstreamHeaderTimeout time.Duration
	// Egress decides where workspaces' own upstreams may lead
	// (OAIS_UPSTREAM_ALLOWED_NETWORKS), checked at every connection; nil
	// allows public addresses only. The global upstream and the built-in
	// mock are the operator's and not subject to it.
	Egress *egress.Policy
	// ChannelBreaker tunes every channel's circuit breaker
	// (docs/routing.md); the zero value takes route's defaults.
	ChannelBreaker route.BreakerConfig
	// ChannelMaxAttempts bounds the channels one request tries
	// (1…MaxChannelAttempts); 0 takes DefaultChannelMaxAttempts.
	ChannelMaxAttempts int
	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// finding the client's address (for IP allow-lists and logs).
	TrustedProxies []netip.Prefix
	// DefaultMaxTokens is the completion size assumed for TPM and spend
	// reservations when a request names no max_tokens.
	DefaultMaxTokens int64
	// IdempotencyTTL is how long an Idempotency-Key's answer is replayed.
	IdempotencyTTL time.Duration
	// IdempotencyMaxBytes and IdempotencyMaxEntries bound the in-process
	// Idempotency-Key store (Deps.Idempotency nil); the oldest answers go
	// first. See DefaultIdempotencyMaxBytes.
	IdempotencyMaxBytes   int64
	IdempotencyMaxEntries int64
	// MaxCaptureBytes: see DefaultMaxCaptureBytes.
	MaxCaptureBytes int64
	// BodyReadTimeout bounds reading a request's body (408 past it); see
	// DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// SendTimeout bounds how long one write to a client may wait for the
	// client to read; see DefaultSendTimeout.
	SendTimeout time.Duration
	// Ready reports readiness for GET /readyz; nil means ready.
	Ready func(ctx context.Context) error
	// Logger receives the access log and errors; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// LogValue lets a Config be logged whole: the upstream key is redacted.
func (c Config) LogValue() slog.Value {
	key := ""
	if c.UpstreamAPIKey != "" {
		key = "REDACTED"
	}
	upstream := c.UpstreamBaseURL
	if upstream == "" {
		upstream = "mock (in-process)"
	}
	return slog.GroupValue(
		slog.String("upstream_base_url", upstream),
		slog.String("upstream_api_key", key),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Duration("upstream_timeout", c.UpstreamTimeout),
		slog.Duration("upstream_header_timeout", c.UpstreamHeaderTimeout),
		slog.Int("trusted_proxies", len(c.TrustedProxies)),
		slog.Int("upstream_allowed_networks", len(c.Egress.AllowedNetworks())),
		slog.Int64("default_max_tokens", c.DefaultMaxTokens),
	)
}

// String is LogValue's text, so fmt never prints the key either.
func (c Config) String() string { return c.LogValue().String() }

// Validate reports the first bad field, named by its environment variable
// where it has one.
func (c *Config) Validate() error {
	if c.Name != "" {
		if err := gateways.ValidateName(c.Name); err != nil {
			return fmt.Errorf("OAIS_GATEWAY_NAME: %w", err)
		}
	}
	if c.UpstreamBaseURL != "" {
		u, err := url.Parse(c.UpstreamBaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("OAIS_UPSTREAM_BASE_URL: want an http(s) URL such as https://api.openai.com/v1")
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return errors.New("OAIS_UPSTREAM_BASE_URL: must not carry a query, fragment or credentials")
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxBodyBytes", c.MaxBodyBytes},
		{"UpstreamTimeout", int64(c.UpstreamTimeout)},
		{"UpstreamHeaderTimeout", int64(c.UpstreamHeaderTimeout)},
		{"DefaultMaxTokens", c.DefaultMaxTokens},
		{"IdempotencyTTL", int64(c.IdempotencyTTL)},
		{"IdempotencyMaxBytes", c.IdempotencyMaxBytes},
		{"IdempotencyMaxEntries", c.IdempotencyMaxEntries},
		{"MaxCaptureBytes", c.MaxCaptureBytes},
		{"BodyReadTimeout", int64(c.BodyReadTimeout)},
		{"SendTimeout", int64(c.SendTimeout)},
	} {
		if f.v < 0 {
			return fmt.Errorf("gateway config: %s must not be negative", f.name)
		}
	}
	return nil
}

func (c *Config) withDefaults() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if c.UpstreamHeaderTimeout == 0 {
		c.UpstreamHeaderTimeout = DefaultUpstreamHeaderTimeout
	}
	if c.DefaultMaxTokens == 0 {
		c.DefaultMaxTokens = DefaultMaxTokens
	}
	if c.IdempotencyTTL == 0 {
		c.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if c.MaxCaptureBytes == 0 {
		c.MaxCaptureBytes = DefaultMaxCaptureBytes
	}
	if c.BodyReadTimeout == 0 {
		c.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.ChannelMaxAttempts <= 0 {
		c.ChannelMaxAttempts = DefaultChannelMaxAttempts
	}
	c.ChannelMaxAttempts = min(c.ChannelMaxAttempts, MaxChannelAttempts)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
