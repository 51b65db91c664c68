// Command controlplane runs oais's control plane: the GraphQL API and
// dashboard, sign-in and SSO, the billing worker and Stripe's webhooks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/controlplane"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/version"
)

const usage = `controlplane: the oais control plane.

Usage:
  controlplane serve            serve the GraphQL API (POST /graphql), the dashboard (/),
                                SSO (/auth/oidc/*), Stripe webhooks and the billing worker
  controlplane migrate up       apply pending database migrations and exit
  controlplane migrate status   show applied and pending migrations
  controlplane billing reconcile [--period YYYY-MM]
                                compare each workspace's billed usage with what Stripe's
                                meter counted; exit 1 on a mismatch (billing --help)
  controlplane billing resolve PERIOD_ID --counted|--resend
                                settle a billing period held for review
  controlplane version          print the version and exit
  controlplane help             show this help

Configuration is read from the environment (CONTRACT §1):
  OAIS_DATABASE_URL            sqlite://PATH or postgres://…   (default sqlite://./data/oais.db)
                               through PgBouncer (pool_mode = transaction) add
                               ?default_query_exec_mode=cache_describe (pgx's prepared-statement
                               cache needs one server connection per client)
  OAIS_DATABASE_LISTEN_URL     a direct postgres://… to the same database, for migrations, whose
                               lock needs one session; set it when OAIS_DATABASE_URL goes through
                               a transaction pooler (default: OAIS_DATABASE_URL)
  OAIS_CONTROLPLANE_ADDR       listen address                   (default :8080)
  OAIS_PUBLIC_URL              the URL users reach the dashboard at (default http://localhost:8080)
  OAIS_GATEWAY_PUBLIC_URL      where clients reach the gateway, for the curl printed at first start
                               (default: from OAIS_GATEWAY_ADDR)
  OAIS_BOOTSTRAP_ADMIN_EMAIL   first admin, created once        (default admin@localhost)
  OAIS_BOOTSTRAP_ADMIN_PASSWORD  its password                   (default: random, printed once)
  OAIS_ALLOW_SIGNUP            self-service sign-up             (default true)
  OAIS_SIGNUP_LIMITS           PER_ADDRESS,TOTAL: sign-ups per client address an hour and from
                               everywhere a minute; past either signUp answers THROTTLED (default 10,20)
  OAIS_REDIS_URL               redis://… to share the sign-in, sign-up and password-reset throttles
                               between control-plane replicas (default: each process counts alone)
  OAIS_STRIPE_API_KEY, OAIS_STRIPE_API_BASE, OAIS_STRIPE_WEBHOOK_SECRET
                               Stripe billing (unset: local ledger only)
  OAIS_BILLING_INTERVAL        how often usage is sent to Stripe (default 1m)
  OAIS_USAGE_RETENTION_DAYS    keep raw usage events (the request log) this many days;
                               charts and totals read hourly rollups, which are kept
                               (default 0: keep forever; unbilled events are never pruned)
  OAIS_OIDC_ISSUER, OAIS_OIDC_CLIENT_ID, OAIS_OIDC_CLIENT_SECRET
                               one OIDC identity provider for SSO (unset: local sign-in only)
  OAIS_OIDC_DOMAIN_WORKSPACES  e.g. example.com=ws_…:DEVELOPER adds SSO users to a workspace
  OAIS_OIDC_REQUIRE            e-mail domains that must sign in with SSO, e.g. example.com,corp.example:
                               password sign-in, sign-up and reset are refused for them (unset: none)
  OAIS_SMTP_URL                outgoing mail (invitations, address verification, password reset):
                               smtp://user:password@host:587 (STARTTLS when offered) or smtps://…:465
                               (unset: each message, link included, is written to the log, with a
                               warning at start)
  OAIS_SMTP_FROM               the From of every message, e.g. "oais <noreply@example.com>"
                               (required with OAIS_SMTP_URL)
  OAIS_SECRETS_KEY             32 random bytes, base64: seals workspaces' upstream API keys and
                               JWT signing keys, signs SSO sign-in state (the same value on every gateway
                               and control-plane replica; openssl rand -base64 32). Required by serve
                               on PostgreSQL; on SQLite, unset means the key in secrets.key beside the
                               database, generated at first start (back it up with the database)
  OAIS_SECRET_SCANNING_KEYS    GitHub secret-scanning public keys (JSON, file or URL) for
                               POST /secret-scanning/github (default: GitHub's published keys)
  OAIS_SESSION_IDLE            a session neither signed into nor refreshed for this long ends, its
                               access tokens too; every session ends 30 days after sign-in anyway
                               (default 24h; 1s to 720h). An open dashboard tab refreshes, so it counts
                               as use. The dashboard's refresh cookie is Secure when OAIS_PUBLIC_URL
                               is https
  OAIS_TRUSTED_PROXIES         CIDRs whose X-Forwarded-For is believed
  OAIS_UPSTREAM_ALLOWED_NETWORKS
                               CIDRs a workspace's own upstream and spend-alert webhook may
                               point at besides public addresses; setWorkspaceUpstream and
                               setBillingAlertWebhook refuse loopback, private, link-local,
                               CGNAT, multicast and cloud metadata addresses otherwise (a
                               metadata address only by its own /32), and webhooks are checked
                               again at every connection. Set the same value on the gateways
                               (default: none)
  OAIS_DRAIN_TIMEOUT           on SIGTERM/SIGINT: /readyz answers 503, no new connections,
                               requests in flight get this long to finish (default 25s)
  OAIS_LOG_FORMAT              json (default) or text;  OAIS_LOG_LEVEL debug|info|warn|error

Bad configuration exits with status 2 and one line naming the variable.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("controlplane", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	args = fs.Args()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" && len(args) == 1 {
		fmt.Fprintln(stdout, "controlplane", version.String())
		return 0
	}
	for _, a := range args[1:] {
		if a == "-h" || a == "--help" || a == "help" {
			if args[0] == "billing" {
				fmt.Fprint(stdout, billingUsage)
			} else {
				fmt.Fprint(stdout, usage)
			}
			return 0
		}
	}
	cfg, err := controlplane.Load(config.OS)
	if err != nil {
		fmt.Fprintln(stderr, "controlplane: bad configuration:", err)
		return 2
	}
	log := config.Logger(stderr, cfg.LogFormat, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch {
	case args[0] == "serve" && len(args) == 1:
		srv, err := controlplane.Open(ctx, cfg, log, stdout)
		var bad *config.Error
		if errors.As(err, &bad) {
			fmt.Fprintln(stderr, "controlplane: bad configuration:", err)
			return 2
		} else if err != nil {
			fmt.Fprintln(stderr, "controlplane:", err)
			return 1
		}
		defer srv.Close()
		if err := srv.Run(ctx); err != nil {
			fmt.Fprintln(stderr, "controlplane:", err)
			return 1
		}
		return 0
	case args[0] == "billing":
		return runBilling(ctx, args[1:], cfg, stdout, stderr)
	case args[0] == "migrate" && len(args) == 2 && (args[1] == "up" || args[1] == "status"):
		st, err := store.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			fmt.Fprintln(stderr, "controlplane: OAIS_DATABASE_URL:", err)
			return 1
		}
		defer st.Close()
		if args[1] == "up" {
			n, err := st.MigrateVia(ctx, cfg.DatabaseListenURL)
			if err != nil {
				fmt.Fprintln(stderr, "controlplane:", err)
				return 1
			}
			fmt.Fprintf(stdout, "applied %d migration(s) to %s\n", n, st.Redacted())
			return 0
		}
		ms, err := st.MigrationStatus(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "controlplane:", err)
			return 1
		}
		fmt.Fprintf(stdout, "database: %s\ncurrent:  %d\nlatest:   %d\ndirty:    %v\npending:  %d %v\n", st.Redacted(), ms.Current, ms.Latest, ms.Dirty, len(ms.Pending), ms.Pending)
		return 0
	}
	fmt.Fprintf(stderr, "controlplane: unknown command %q\n\n%s", fmt.Sprint(args), usage)
	return 2
}
