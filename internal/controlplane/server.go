package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/vektah/gqlparser/v2/ast"
	"golang.org/x/sync/errgroup"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/auth/mail"
	"github.com/oais/oais/billing"
	"github.com/oais/oais/billing/entstore"
	"github.com/oais/oais/billing/spendalerts"
	"github.com/oais/oais/graph"
	"github.com/oais/oais/graph/generated"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/changes"
	"github.com/oais/oais/internal/controlplane/restapi"
	"github.com/oais/oais/internal/drain"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/every"
	"github.com/oais/oais/internal/httpsecurity"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/secretscan"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/workspaces"
	"github.com/oais/oais/web"
)

// MaxRequestBody bounds a GraphQL request.
const MaxRequestBody = 1 << 20

// Server is a running control plane's parts, for tests that build one
// without booting a process.
type Server struct {
	Config   Config
	Store    *store.Store
	Handler  http.Handler
	Accounts *accounts.Accounts
	Issuer   *auth.Issuer
	Keys     *apikeys.Service
	// Invites invites people by e-mail; tests may change its budget
	// before the first request.
	Invites  *workspaces.Invitations
	Log      *slog.Logger
	stripe   *billing.Stripe
	metrics  *billing.Metrics
	oidc     *auth.OIDC
	egress   *egress.Policy        // where tenant-set URLs may lead
	redis    redis.UniversalClient // OAIS_REDIS_URL: shared throttles; nil without
	secrets  *secretbox.Box        // seals stored secrets; always has a key
	outbox   *mail.Outbox
	draining atomic.Bool // /readyz answers 503 once the drain began
}

// Open connects to the database, applies pending migrations and builds the
// HTTP handler. Close the result.
func Open(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) (*Server, error) {
	// First: a missing key is bad configuration, and nothing starts
	// half-configured.
	box, err := cfg.SecretsBox(log)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("OAIS_DATABASE_URL: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	n, err := st.MigrateVia(ctx, cfg.DatabaseListenURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", migrateVariable(cfg), err)
	}
	if n > 0 {
		log.Info("database migrated", "applied", n, "database", st.Redacted())
	}
	s := &Server{Config: cfg, Store: st, Log: log, Keys: &apikeys.Service{}, secrets: box}
	if err := s.build(ctx, out); err != nil {
		ok = true // s.Close closes the store, and the outbox build may have started
		_ = s.Close()
		return nil, err
	}
	ok = true
	return s, nil
}

// OutboxDrain bounds how long Close waits for queued mail to go out.
const OutboxDrain = 10 * time.Second

// Close delivers the mail still queued (at most OutboxDrain) and releases
// the server's resources.
func (s *Server) Close() error {
	if s.outbox != nil {
		ctx, cancel := context.WithTimeout(context.Background(), OutboxDrain)
		_ = s.outbox.Close(ctx) // what it could not deliver, it logged
		cancel()
	}
	if s.oidc != nil {
		s.oidc.Close()
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
	return s.Store.Close()
}

// mailer builds the outbox and the messages' sender: SMTP with
// OAIS_SMTP_URL, else the log, said loudly once.
func (s *Server) mailer() (*mail.Sender, error) {
	cfg := s.Config
	var t mail.Transport = mail.Log{Logger: s.Log}
	if cfg.SMTPURL != "" {
		smtp, err := mail.NewSMTP(cfg.SMTPURL.Reveal(), cfg.SMTPFrom)
		if err != nil {
			return nil, err
		}
		s.Log.Info("mail goes through SMTP", "server", smtp, "from", cfg.SMTPFrom)
		t = smtp
	} else {
		s.Log.Warn("e-mail is not configured (OAIS_SMTP_URL): invitations, address verification and password-reset messages are written to this log instead, links included, and anyone who reads the log can use those links. Fine for one machine; set OAIS_SMTP_URL and OAIS_SMTP_FROM to send them.")
	}
	s.outbox = mail.NewOutbox(t, mail.OutboxOptions{Logger: s.Log})
	return mail.NewSender(s.outbox, cfg.PublicURL), nil
}

func (s *Server) build(ctx context.Context, out io.Writer) error {
	cfg, log := s.Config, s.Log
	client := s.Store.Ent
	if s.Store.Dialect == dialect.Postgres {
		client.Use(changes.Hook())
	}
	box := s.secrets
	signingKeys := accounts.NewSigningKeyStore(client, box)
	// Keys stored in the clear by versions before sealing was required are
	// sealed now, not at their rotation: until then a copy of the database
	// could mint sessions.
	if n, err := signingKeys.SealStored(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	} else if n > 0 {
		log.Info("sealed signing keys stored before OAIS_SECRETS_KEY", "keys", n)
	}
	// Workspace upstreams stored before channels become their workspaces'
	// default channels (issue 17; setWorkspaceUpstream keeps them in step).
	if n, unopened, err := workspaces.MigrateUpstreams(ctx, client, box); err != nil {
		return fmt.Errorf("workspace upstreams to channels: %w", err)
	} else {
		if n > 0 {
			log.Info("made the default channel of workspaces with their own upstream", "channels", n)
		}
		if len(unopened) > 0 {
			log.Warn("workspace upstream keys do not open with OAIS_SECRETS_KEY; those workspaces get no default channel until the key is set again with setWorkspaceUpstream",
				"workspaces", strings.Join(unopened, ","))
		}
	}
	issuer, err := auth.NewIssuer(ctx, signingKeys, auth.IssuerConfig{Issuer: cfg.PublicURL.String(), Logger: log})
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	s.Issuer = issuer
	sender, err := s.mailer()
	if err != nil {
		return err
	}
	opts, err := s.throttles(ctx)
	if err != nil {
		return err
	}
	opts.AllowSignUp, opts.Mail, opts.SSODomains, opts.Logger = cfg.AllowSignUp, sender, cfg.SSODomains, log
	opts.IdleTimeout, opts.Secrets, opts.TOTPIssuer = cfg.SessionIdle, box, totpIssuer(cfg.PublicURL)
	acc, err := accounts.New(client, issuer, opts)
	if err != nil {
		return err
	}
	s.Accounts = acc
	if err := s.bootstrap(ctx, out); err != nil {
		return err
	}
	if cfg.StripeAPIKey != "" {
		s.stripe, err = billing.NewStripe(billing.Config{APIKey: cfg.StripeAPIKey.Reveal(), APIBase: cfg.StripeAPIBase, PriceID: cfg.StripePriceID, Logger: log})
		if err != nil {
			return fmt.Errorf("OAIS_STRIPE_API_KEY: %w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = billing.NewMetrics(reg)

	s.Invites = &workspaces.Invitations{Mail: sender}
	// Tenants set upstream and webhook URLs; both lead only where this allows.
	s.egress = &egress.Policy{Allowed: cfg.UpstreamAllowedNetworks}
	res := &graph.Resolver{Client: client, Keys: s.Keys, Accounts: acc, Invites: s.Invites,
		Ledger: ledger.New(s.Store), Secrets: box,
		Reconciler: entstore.Reconciler(s.Store, s.stripe), Egress: s.egress,
		PublicURL: cfg.PublicURL}
	if s.stripe != nil {
		res.Stripe = entstore.NewLinks(s.Store, s.stripe)
	}
	gql := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: res}))
	gql.AddTransport(transport.Options{})
	gql.AddTransport(transport.POST{})
	gql.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	gql.Use(extension.Introspection{})
	gql.Use(extension.FixedComplexityLimit(graph.MaxComplexity))
	gql.Use(graph.Limits{})
	gql.Use(graph.Principals{Client: client})
	gql.Use(graph.SessionCookies{})
	gql.Use(entgql.Transactioner{TxOpener: client, SkipTxFunc: graph.SkipTx})
	gql.SetErrorPresenter(graph.ErrorPresenter(log))
	gql.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql resolver panicked", "panic", fmt.Sprint(p))
		return errors.New("internal error")
	})

	mux := http.NewServeMux()
	// The one loader of every authenticated surface: session JWTs (idle
	// timeout included) and service tokens (/graphql, and /api/v1 through
	// the same middleware).
	authed := auth.Middleware(issuer, acc.Principals())
	cookies := auth.CookieOptions{Secure: cfg.PublicURL.Scheme == "https"}
	mux.Handle("POST /graphql", authed(auth.RefreshCookies(cookies)(http.MaxBytesHandler(gql, MaxRequestBody))))
	refresh, signout := accounts.SessionHandlers(acc, cfg.PublicURL)
	mux.Handle("POST "+auth.RefreshPath, http.MaxBytesHandler(refresh, 1<<10))
	mux.Handle("POST "+auth.SignOutPath, http.MaxBytesHandler(signout, 1<<10))
	mux.Handle("OPTIONS /graphql", gql)
	mux.Handle("GET /.well-known/jwks.json", issuer.JWKSHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if cfg.StripeWebhook != "" {
		mux.Handle("POST /webhooks/stripe", entstore.Webhook(s.Store, cfg.StripeWebhook.Reveal(), cfg.SuspendAfter, s.metrics, log))
	}
	if cfg.OIDCIssuer != "" {
		// The state cookie must verify on whichever replica the IdP's
		// redirect reaches: derive its secret from OAIS_SECRETS_KEY, shared
		// by every replica.
		secret := box.Derive("oidc state cookie")
		s.oidc, err = auth.NewOIDC(ctx, auth.OIDCConfig{
			Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCSecret.Reveal(),
			RedirectURL: cfg.PublicURL.JoinPath("/auth/oidc/callback").String(), CookieSecret: secret, Logger: log,
		})
		if err != nil {
			return fmt.Errorf("OAIS_OIDC_ISSUER: %w", err)
		}
		rules, err := accounts.ParseDomainRules(cfg.OIDCDomainRules)
		if err != nil {
			return fmt.Errorf("OAIS_OIDC_DOMAIN_WORKSPACES: %w", err)
		}
		login, callback := accounts.OIDCHandlers(s.oidc, acc, cfg.PublicURL.String(), rules...)
		mux.Handle("GET /auth/oidc/login", login)
		mux.Handle("GET /auth/oidc/callback", callback)
	} else {
		mux.HandleFunc("GET /auth/oidc/login", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/signin?error=sso_not_configured", http.StatusFound)
		})
	}
	// GitHub's secret-scanning partner program reports leaked sk-oais- keys here.
	ghKeys, err := secretscan.LoadKeys(cfg.SecretScanningKeys, nil)
	if err != nil {
		return fmt.Errorf("OAIS_SECRET_SCANNING_KEYS: %w", err)
	}
	// The REST face for automation (/api/v1): the same authentication,
	// domain calls and error codes as /graphql.
	rest := &restapi.API{Client: client, Keys: s.Keys, Log: log}
	rest.Register(mux, authed)
	mux.Handle("POST "+secretscan.Path, secretscan.Handler(client, s.Keys, ghKeys, log))
	mux.Handle("GET /", web.Handler())
	s.Handler = httpsecurity.Headers(s.withIP(mux), httpsecurity.Options{
		HTTPS: cfg.PublicURL.Scheme == "https", TrustedProxies: cfg.TrustedProxies,
	})
	return nil
}

// throttles makes the sign-in, sign-up and mail throttles, shared through
// Redis with OAIS_REDIS_URL. An unreachable Redis does not stop the start:
// each throttle uses this process's counters until it answers.
func (s *Server) throttles(ctx context.Context) (accounts.Options, error) {
	cfg := s.Config
	if cfg.redis != nil {
		s.redis = cfg.redis.Client()
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := s.redis.Ping(pctx).Err(); err != nil {
			s.Log.Warn("OAIS_REDIS_URL does not answer: sign-in and sign-up throttles count per replica until it does", "err", err)
		}
		cancel()
	}
	newThrottle := func(c auth.ThrottleConfig) (*auth.Throttle, error) {
		if s.redis != nil {
			c.Redis = s.redis
		}
		c.RedisPrefix, c.Logger = cfg.RedisPrefix, s.Log
		return auth.NewThrottle(c)
	}
	var o accounts.Options
	var err error
	if o.Throttle, err = newThrottle(auth.SignInLimits()); err != nil {
		return o, err
	}
	if o.SignUpThrottle, err = newThrottle(accounts.SignUpLimits(cfg.SignUpsPerAddress, cfg.SignUpsTotal)); err != nil {
		return o, err
	}
	o.MailThrottle, err = newThrottle(accounts.MailLimits())
	return o, err
}

// withIP puts the client's address in the context for the audit log, and
// its User-Agent for the sessions it starts (the viewer's session list).
func (s *Server) withIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := auth.ClientIP(r, s.Config.TrustedProxies)
		ctx := accounts.WithUserAgent(audit.WithIP(r.Context(), ip), r.UserAgent())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining", "reason": "this replica is shutting down"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.DB.PingContext(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "the database does not answer; requests will resume when it is back"})
		return
	}
	writeJSON(w, 200, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Run serves until ctx ends, then drains in-flight requests.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Config.Addr)
	if err != nil {
		return fmt.Errorf("OAIS_CONTROLPLANE_ADDR: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then drains: /readyz answers 503,
// the listener closes, requests in flight finish (bounded by
// Config.DrainTimeout). The periodic jobs stop with ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		s.Log.Info("control plane listening", "addr", ln.Addr().String(), "dashboard", s.Config.PublicURL.String())
		return drain.Serve(ctx, ln, s.Handler, drain.Options{
			Timeout: s.Config.DrainTimeout,
			OnDrain: func() { s.draining.Store(true) },
			// Nothing here streams: a whole request and its answer are
			// bounded too.
			ReadTimeout:  30 * time.Second,
			WriteTimeout: 2 * time.Minute,
			Logger:       s.Log,
			Name:         "control plane",
		})
	})
	g.Go(func() error {
		var sender *billing.Stripe
		if s.stripe != nil {
			sender = s.stripe
		}
		return entstore.StartWorker(ctx, s.Store, sender, s.Config.BillingInterval, s.metrics, s.Log)
	})
	g.Go(func() error { return s.maintainUsage(ctx, time.Hour) })
	g.Go(func() error { return s.sweepGraces(ctx) })
	g.Go(func() error { return s.auditAuthFailures(ctx) })
	g.Go(func() error { return s.rotateSigningKeys(ctx) })
	// Spend alerts: 50/80/100% of each workspace's cap, checked every minute.
	g.Go(func() error {
		alerts := spendalerts.New(s.Store.Ent, ledger.New(s.Store, ledger.WithLogger(s.Log)), spendalerts.Options{Logger: s.Log, Egress: s.egress})
		return alerts.Run(ctx, spendalerts.DefaultInterval)
	})
	return g.Wait()
}

// maintainUsage, at start and then every interval, makes the usage_events
// partitions of this month and the next ones (PostgreSQL) and, with
// OAIS_USAGE_RETENTION_DAYS set, prunes older raw events.
func (s *Server) maintainUsage(ctx context.Context, interval time.Duration) error {
	l := ledger.New(s.Store, ledger.WithLogger(s.Log))
	log := s.Log.With("component", "usage-retention")
	return every.Run(ctx, interval, func(ctx context.Context) {
		now := time.Now()
		if _, err := l.EnsurePartitions(ctx, now); err != nil && ctx.Err() == nil {
			log.Warn("cannot make next months' usage partitions; events go to the default partition meanwhile, retrying in an hour", "err", err)
		}
		if s.Config.UsageRetention <= 0 {
			return
		}
		p, err := l.Prune(ctx, now.Add(-s.Config.UsageRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("pruning old usage events failed; retrying in an hour", "err", err)
		case err == nil && (len(p.Partitions) > 0 || p.Rows > 0):
			log.Info("old usage events pruned (hourly rollups kept)", "partitions_dropped", p.Partitions, "rows_deleted", p.Rows)
		}
		if err == nil && p.Unbilled > 0 {
			log.Warn("old usage events kept past retention because billing has not claimed them yet", "events", p.Unbilled)
		}
	}, every.Now())
}

// sweepGraces writes down, every 30 s, the rotations whose grace ended.
func (s *Server) sweepGraces(ctx context.Context) error {
	return every.Run(ctx, 30*time.Second, func(ctx context.Context) {
		if n, err := s.Keys.EndGraces(ctx, s.Store.Ent); err != nil {
			s.Log.Warn("rotation sweeper: cannot revoke keys whose grace ended; retrying", "err", err)
		} else if n > 0 {
			s.Log.Info("rotation grace ended", "keys_revoked", n)
		}
	}, every.Now())
}

// auditAuthFailures writes, every 30 s, one key.auth_failed audit line per
// key and minute in which gateways refused it (audit.RecordAuthFailures).
func (s *Server) auditAuthFailures(ctx context.Context) error {
	return every.Run(ctx, 30*time.Second, func(ctx context.Context) {
		if n, err := audit.RecordAuthFailures(ctx, s.Store.Ent, time.Now()); err != nil && ctx.Err() == nil {
			s.Log.Warn("cannot audit failed key authentications; retrying in 30 s", "err", err)
		} else if n > 0 {
			s.Log.Debug("failed key authentications audited", "lines", n)
		}
	}, every.Now())
}

// rotateSigningKeys replaces the JWT signing key once it is older than
// auth.DefaultKeyMaxAge (checked hourly); retired keys keep verifying for
// the issuer's retention, so sessions are not cut.
func (s *Server) rotateSigningKeys(ctx context.Context) error {
	return every.Run(ctx, time.Hour, func(ctx context.Context) {
		if rotated, err := s.Issuer.RotateIfOlder(ctx, auth.DefaultKeyMaxAge); err != nil {
			s.Log.Warn("signing key rotation failed; the current key keeps signing", "err", err)
		} else if rotated {
			s.Log.Info("signing key rotated (older than 30 days)")
		}
	}, every.Now())
}

// totpIssuer names this installation in authenticator apps: "oais" and
// the public host, so two installations' entries can be told apart.
func totpIssuer(public *url.URL) string {
	if public == nil || public.Hostname() == "" {
		return "oais"
	}
	return "oais (" + public.Host + ")"
}

// migrateVariable names the variable whose database migrations go through.
func migrateVariable(cfg Config) string {
	if cfg.DatabaseListenURL != "" {
		return "OAIS_DATABASE_LISTEN_URL"
	}
	return "OAIS_DATABASE_URL"
}
