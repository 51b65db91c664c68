// Package controlplane runs the control plane: the GraphQL API, the
// dashboard, sign-in (local and OIDC SSO), the billing worker and Stripe's
// webhooks, over the shared database. cmd/controlplane only parses flags and
// calls Run.
package controlplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/auth/mail"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/drain"
	"github.com/oais/oais/internal/redisurl"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
)

// Defaults of the control plane's settings.
const (
	DefaultAddr            = ":8080"
	DefaultBillingInterval = time.Minute
	DefaultBootstrapEmail  = "admin@localhost"
	DefaultSuspendAfter    = 72 * time.Hour
)

// DefaultGatewayAddr is the gateway's default OAIS_GATEWAY_ADDR, for the
// printed curl when neither it nor OAIS_GATEWAY_PUBLIC_URL is set; keep it
// equal to gateway/run.DefaultAddr.
const DefaultGatewayAddr = ":8081"

// Config is every setting of the control plane. Secret fields are
// config.Secret, which never prints.
type Config struct {
	DatabaseURL string
	// DatabaseListenURL (OAIS_DATABASE_LISTEN_URL) is a direct connection
	// to the same PostgreSQL database for what needs one session: the
	// migration lock. Set it when OAIS_DATABASE_URL goes through a
	// transaction pooler (PgBouncer); unset, migrations use DatabaseURL.
	DatabaseListenURL string
	Addr              string
	PublicURL         *url.URL
	GatewayURL        string // for the ready-to-paste curl; informational: OAIS_GATEWAY_PUBLIC_URL, else from OAIS_GATEWAY_ADDR
	LogFormat         string
	LogLevel          string
	TrustedProxies    []netip.Prefix
	// UpstreamAllowedNetworks (OAIS_UPSTREAM_ALLOWED_NETWORKS) are the
	// networks besides public addresses that workspaces' own upstreams may
	// point at; the gateway reads the same variable.
	UpstreamAllowedNetworks []netip.Prefix
	AllowSignUp             bool
	BootstrapEmail          string
	BootstrapPass           config.Secret
	StripeAPIKey            config.Secret
	StripeAPIBase           string
	StripeWebhook           config.Secret
	StripePriceID           string
	BillingInterval         time.Duration
	SuspendAfter            time.Duration
	// UsageRetention is how long raw usage events (the per-request log)
	// are kept; 0 keeps them forever. Hourly rollups are always kept.
	UsageRetention  time.Duration
	OIDCIssuer      string
	OIDCClientID    string
	OIDCSecret      config.Secret
	OIDCDomainRules string
	// SecretsKey (OAIS_SECRETS_KEY) seals workspaces' upstream keys and the
	// JWT signing keys. Required on PostgreSQL; on the embedded SQLite
	// database, unset means the key kept beside it (see SecretsBox).
	SecretsKey config.Secret
	// SecretScanningKeys verifies GitHub secret-scanning reports: empty for
	// GitHub's published keys, or a URL, a file or inline JSON.
	SecretScanningKeys string
	// DrainTimeout (OAIS_DRAIN_TIMEOUT) bounds the drain on SIGTERM.
	DrainTimeout time.Duration
	// SMTPURL (OAIS_SMTP_URL, smtp:// or smtps://) is where mail goes;
	// empty writes messages to the log. It may carry a password.
	SMTPURL config.Secret
	// SMTPFrom (OAIS_SMTP_FROM) is the From of every message.
	SMTPFrom string
	// SSODomains (OAIS_OIDC_REQUIRE) are e-mail domains that sign in only
	// through SSO.
	SSODomains []string
	// SessionIdle (OAIS_SESSION_IDLE) ends a session neither refreshed nor
	// signed into for that long; sessions end 30 days after sign-in anyway.
	SessionIdle time.Duration
	// RedisURL (OAIS_REDIS_URL), when set, shares the sign-in, sign-up and
	// mail throttles between control-plane replicas; unset, each process
	// throttles on its own.
	RedisURL config.Secret // may carry a password
	redis    *redisurl.Target
	// RedisPrefix starts the control plane's keys in Redis; not read from
	// the environment (tests give each run its own).
	RedisPrefix string
	// SignUpsPerAddress and SignUpsTotal (OAIS_SIGNUP_LIMITS) bound
	// sign-ups per client address an hour and from everywhere a minute.
	SignUpsPerAddress int
	SignUpsTotal      int
}

// Load reads the Config from env and validates it; the error names the
// first bad variable.
func Load(env config.Env) (Config, error) {
	var errs []error
	c := Config{
		DatabaseURL:             env.String("OAIS_DATABASE_URL", store.DefaultURL),
		DatabaseListenURL:       env.String("OAIS_DATABASE_LISTEN_URL", ""),
		Addr:                    env.Addr("OAIS_CONTROLPLANE_ADDR", DefaultAddr, &errs),
		LogFormat:               env.String("OAIS_LOG_FORMAT", "json"),
		LogLevel:                env.String("OAIS_LOG_LEVEL", "info"),
		TrustedProxies:          env.Prefixes("OAIS_TRUSTED_PROXIES", &errs),
		UpstreamAllowedNetworks: env.Prefixes("OAIS_UPSTREAM_ALLOWED_NETWORKS", &errs),
		AllowSignUp:             env.Bool("OAIS_ALLOW_SIGNUP", true, &errs),
		BootstrapEmail:          env.String("OAIS_BOOTSTRAP_ADMIN_EMAIL", DefaultBootstrapEmail),
		BootstrapPass:           config.Secret(env.String("OAIS_BOOTSTRAP_ADMIN_PASSWORD", "")),
		StripeAPIKey:            config.Secret(env.String("OAIS_STRIPE_API_KEY", "")),
		StripeAPIBase:           env.String("OAIS_STRIPE_API_BASE", ""),
		StripeWebhook:           config.Secret(env.String("OAIS_STRIPE_WEBHOOK_SECRET", "")),
		StripePriceID:           env.String("OAIS_STRIPE_PRICE_ID", ""),
		BillingInterval:         env.Duration("OAIS_BILLING_INTERVAL", DefaultBillingInterval, &errs),
		SuspendAfter:            env.Duration("OAIS_SUSPEND_AFTER", DefaultSuspendAfter, &errs),
		OIDCIssuer:              env.String("OAIS_OIDC_ISSUER", ""),
		OIDCClientID:            env.String("OAIS_OIDC_CLIENT_ID", ""),
		OIDCSecret:              config.Secret(env.String("OAIS_OIDC_CLIENT_SECRET", "")),
		OIDCDomainRules:         env.String("OAIS_OIDC_DOMAIN_WORKSPACES", ""),
		GatewayURL:              env.String("OAIS_GATEWAY_PUBLIC_URL", ""),
		SecretsKey:              config.Secret(env.String("OAIS_SECRETS_KEY", "")),
		SecretScanningKeys:      env.String("OAIS_SECRET_SCANNING_KEYS", ""),
		DrainTimeout:            env.Duration("OAIS_DRAIN_TIMEOUT", drain.DefaultTimeout, &errs),
		SMTPURL:                 config.Secret(env.String("OAIS_SMTP_URL", "")),
		SMTPFrom:                env.String("OAIS_SMTP_FROM", ""),
		SessionIdle:             env.Duration("OAIS_SESSION_IDLE", auth.DefaultIdleTimeout, &errs),
		RedisURL:                config.Secret(env.String("OAIS_REDIS_URL", "")),
		RedisPrefix:             auth.DefaultRedisPrefix,
	}
	if c.SessionIdle <= 0 || c.SessionIdle > auth.DefaultRefreshTTL {
		errs = append(errs, config.Errorf("OAIS_SESSION_IDLE", "must be a duration from 1s to 720h (30 days, when every session ends anyway), e.g. 24h"))
	}
	if c.RedisURL != "" {
		t, err := redisurl.Parse(c.RedisURL.Reveal())
		if err != nil {
			errs = append(errs, config.Errorf("OAIS_REDIS_URL", "%v; want %s", err, redisurl.Forms))
		}
		c.redis = t
	}
	var err error
	if c.SignUpsPerAddress, c.SignUpsTotal, err = parseSignUpLimits(env.String("OAIS_SIGNUP_LIMITS", "")); err != nil {
		errs = append(errs, config.Errorf("OAIS_SIGNUP_LIMITS", "%v; want PER_ADDRESS,TOTAL: sign-ups per client address an hour and from everywhere a minute, e.g. %d,%d",
			err, accounts.DefaultSignUpsPerAddress, accounts.DefaultSignUpsTotal))
	}
	if c.SMTPURL != "" {
		var se *mail.SettingError
		if _, err := mail.NewSMTP(c.SMTPURL.Reveal(), c.SMTPFrom); errors.As(err, &se) {
			errs = append(errs, config.Errorf(se.Var, "%s", se.Msg))
		}
	} else if c.SMTPFrom != "" {
		errs = append(errs, config.Errorf("OAIS_SMTP_FROM", "set, but OAIS_SMTP_URL is not: set the mail server too (smtp://user:password@host:587)"))
	}
	if d, err := accounts.ParseSSODomains(env.String("OAIS_OIDC_REQUIRE", "")); err != nil {
		errs = append(errs, config.Errorf("OAIS_OIDC_REQUIRE", "%v", err))
	} else if c.SSODomains = d; len(d) > 0 && c.OIDCIssuer == "" {
		errs = append(errs, config.Errorf("OAIS_OIDC_REQUIRE", "requires OAIS_OIDC_ISSUER: without SSO, nobody at %s could sign in", strings.Join(d, ", ")))
	}
	if c.DrainTimeout <= 0 {
		errs = append(errs, config.Errorf("OAIS_DRAIN_TIMEOUT", "must be positive, e.g. 25s"))
	}
	switch days := env.Int("OAIS_USAGE_RETENTION_DAYS", 0, &errs); {
	case days < 0 || days > 36500:
		errs = append(errs, config.Errorf("OAIS_USAGE_RETENTION_DAYS", "must be a number of days from 1 to 36500, or 0 to keep raw usage events forever"))
	default:
		c.UsageRetention = time.Duration(days) * 24 * time.Hour
	}
	if _, err := secretbox.New(c.SecretsKey.Reveal()); err != nil {
		errs = append(errs, config.Errorf("OAIS_SECRETS_KEY", "must be 32 random bytes, base64-encoded (openssl rand -base64 32)"))
	}
	if _, _, _, _, err := store.ParseURL(c.DatabaseURL); err != nil {
		errs = append(errs, config.Errorf("OAIS_DATABASE_URL", "%v", err))
	}
	if err := store.CheckSessionURL(c.DatabaseURL, c.DatabaseListenURL); err != nil {
		errs = append(errs, config.Errorf("OAIS_DATABASE_LISTEN_URL", "%v", err))
	}
	c.PublicURL = env.URL("OAIS_PUBLIC_URL", &errs)
	if c.PublicURL == nil {
		c.PublicURL = config.LocalURL(c.Addr)
	}
	if c.GatewayURL == "" {
		// Only for the printed curl: a bad gateway address is the gateway's
		// error to report, so it falls back to the default here.
		var ignored []error
		c.GatewayURL = config.LocalURL(env.Addr("OAIS_GATEWAY_ADDR", DefaultGatewayAddr, &ignored)).String()
	}
	if env.String("OAIS_STRIPE_API_BASE", "") != "" {
		env.URL("OAIS_STRIPE_API_BASE", &errs)
	}
	if c.StripeAPIKey != "" && c.StripeWebhook == "" {
		errs = append(errs, config.Errorf("OAIS_STRIPE_WEBHOOK_SECRET", "required when OAIS_STRIPE_API_KEY is set (Stripe's webhooks suspend and reactivate workspaces); copy it from the Stripe dashboard's webhook endpoint"))
	}
	if c.OIDCIssuer != "" {
		env.URL("OAIS_OIDC_ISSUER", &errs)
		if c.OIDCClientID == "" {
			errs = append(errs, config.Errorf("OAIS_OIDC_CLIENT_ID", "required when OAIS_OIDC_ISSUER is set"))
		}
		if c.OIDCSecret == "" {
			errs = append(errs, config.Errorf("OAIS_OIDC_CLIENT_SECRET", "required when OAIS_OIDC_ISSUER is set"))
		}
		if env.String("OAIS_PUBLIC_URL", "") == "" {
			errs = append(errs, config.Errorf("OAIS_PUBLIC_URL", "required when OAIS_OIDC_ISSUER is set: the identity provider redirects the browser back to it"))
		}
	}
	if c.BootstrapEmail != DefaultBootstrapEmail && !strings.Contains(c.BootstrapEmail, "@") {
		errs = append(errs, config.Errorf("OAIS_BOOTSTRAP_ADMIN_EMAIL", "%q is not an e-mail address", c.BootstrapEmail))
	}
	if p := c.BootstrapPass.Reveal(); p != "" && len(p) < 8 {
		errs = append(errs, config.Errorf("OAIS_BOOTSTRAP_ADMIN_PASSWORD", "must be at least 8 characters"))
	}
	return c, config.Join(errs)
}

// SecretsBox returns the box that seals stored secrets: OAIS_SECRETS_KEY,
// or on the embedded SQLite database without it the key kept beside the
// database (secretbox.KeyBeside, which the gateway reads too), made at the
// first start with a warning to back it up. On PostgreSQL the variable is
// required: the error is a *config.Error naming it. Nothing touches the
// database.
func (c Config) SecretsBox(log *slog.Logger) (*secretbox.Box, error) {
	key := c.SecretsKey.Reveal()
	if key == "" {
		dbPath, ok := store.SQLitePath(c.DatabaseURL)
		if !ok {
			return nil, config.Errorf("OAIS_SECRETS_KEY", "required with a PostgreSQL database: it seals the signing keys and the workspaces' upstream keys stored there. "+
				"Make one with `openssl rand -base64 32` and give the same value to every control plane and gateway; keep a copy, it cannot be recovered")
		}
		var path string
		var created bool
		var err error
		if key, path, created, err = secretbox.KeyBeside(dbPath); err != nil {
			return nil, config.Errorf("OAIS_SECRETS_KEY", "unset, and the key beside the SQLite database cannot be used: %v", err)
		}
		switch {
		case path == "":
			log.Warn("OAIS_SECRETS_KEY is not set: the in-memory database's secrets are sealed with a key made for this process only")
		case created:
			log.Warn("OAIS_SECRETS_KEY is not set: generated a secrets key beside the SQLite database; back it up with the database, "+
				"without it the signing keys and the workspaces' upstream keys stored there cannot be opened (or set OAIS_SECRETS_KEY to its contents)", "path", path)
		default:
			log.Info("OAIS_SECRETS_KEY is not set: using the secrets key beside the SQLite database", "path", path)
		}
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, config.Errorf("OAIS_SECRETS_KEY", "must be 32 random bytes, base64-encoded (openssl rand -base64 32)")
	}
	return box, nil
}

// parseSignUpLimits reads OAIS_SIGNUP_LIMITS, "PER_ADDRESS,TOTAL"; empty is
// the defaults.
func parseSignUpLimits(v string) (perAddress, total int, err error) {
	if v == "" {
		return accounts.DefaultSignUpsPerAddress, accounts.DefaultSignUpsTotal, nil
	}
	a, b, ok := strings.Cut(v, ",")
	if !ok {
		return 0, 0, errors.New("two numbers")
	}
	if perAddress, err = strconv.Atoi(strings.TrimSpace(a)); err != nil || perAddress <= 0 {
		return 0, 0, fmt.Errorf("%q is not a positive whole number", strings.TrimSpace(a))
	}
	if total, err = strconv.Atoi(strings.TrimSpace(b)); err != nil || total <= 0 {
		return 0, 0, fmt.Errorf("%q is not a positive whole number", strings.TrimSpace(b))
	}
	return perAddress, total, nil
}
