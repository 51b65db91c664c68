// Command gateway runs oais's /v1 data plane: the OpenAI-compatible API that
// SDKs call with sk-oais-… keys.
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

	"github.com/oais/oais/gateway/run"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/version"
)

const usage = `gateway: the oais /v1 data plane (OpenAI-compatible).

Usage:
  gateway serve     serve POST /v1/chat/completions and /v1/responses (plain and streaming),
                    /v1/completions, /v1/embeddings, GET /v1/models, /healthz, /readyz, /metrics
  gateway version   print the version and exit
  gateway help      show this help

Clients send "Authorization: Bearer sk-oais-…". Keys are checked against an in-memory
snapshot that follows the database; usage is written to a durable spool before each
answer completes and shipped to the ledger.

Configuration is read from the environment (CONTRACT §1):
  OAIS_DATABASE_URL        sqlite://PATH or postgres://…  (default sqlite://./data/oais.db)
                           through PgBouncer (pool_mode = transaction) add
                           ?default_query_exec_mode=cache_describe
  OAIS_DATABASE_LISTEN_URL a direct postgres://… to the same database for LISTEN (changes reach
                           the gateway at once; a pooler lends LISTEN's session to others, and
                           then the gateway says so and follows changes by its 200 ms poll)
                           (default: OAIS_DATABASE_URL)
  OAIS_GATEWAY_ADDR        listen address                  (default :8081)
  OAIS_UPSTREAM_BASE_URL   OpenAI-compatible upstream, e.g. https://api.openai.com/v1
                           (unset: the built-in mock upstream, announced at start)
  OAIS_UPSTREAM_API_KEY    the upstream's secret (never logged)
  OAIS_REDIS_URL           Redis to share rate limits, the cache and Idempotency-Key answers
                           between replicas, one of
                             redis://[user:pass@]host:6379/0     (rediss:// for TLS)
                             redis+cluster://[user:pass@]host:6379,host:6379,…/
                             redis+sentinel://[user:pass@]host:26379,host:26379,…/master-name[/db]
                           (go-redis options in the query, e.g. ?dial_timeout=3s; a sentinel's own
                           password as sentinel_password=…). Unset: in-process; if Redis is lost,
                           per-replica limits apply; use maxmemory-policy volatile-lru so budgets
                           are never evicted
  OAIS_REDIS_CACHE_URL     the same forms, for the response cache alone (default: OAIS_REDIS_URL)
  OAIS_SPOOL_DIR           the durable usage spool            (default ./data/spool)
  OAIS_SPOOL_MAX_BYTES     spool bound; past it new requests get 503 (default 1 GiB)
  OAIS_MAX_BODY_BYTES      request body limit, 413 beyond     (default 1 MiB)
  OAIS_CACHE_TTL           response-cache lifetime            (default 1h)
  OAIS_UPSTREAM_TIMEOUT, OAIS_UPSTREAM_HEADER_TIMEOUT
                           bound an upstream call / its first byte (default 10m / 60s); past: 504
  OAIS_SEND_TIMEOUT        how long one write may wait for a client that stops reading; past it
                           the request ends as if the client hung up (default 2m)
  OAIS_SECRETS_KEY         opens workspaces' own upstream keys (same value as the control plane);
                           on SQLite, unset means the control plane's secrets.key beside the database
  OAIS_TRUSTED_PROXIES     CIDRs whose X-Forwarded-For is believed for IP allow-lists
  OAIS_UNPRICED_MODEL_PRICE
                           input,cached,output micro-dollars per million tokens charged for
                           models no price lists, e.g. 15000000,7500000,60000000
                           (unset: such models are refused, 400 model_not_priced)
  OAIS_UPSTREAM_ALLOWED_NETWORKS
                           CIDRs a workspace's own upstream may reach besides public addresses;
                           every connection to one is checked after DNS, and loopback, private,
                           link-local, CGNAT, multicast and cloud metadata addresses are refused
                           otherwise (502 upstream_unavailable; a metadata address only by its
                           own /32). OAIS_UPSTREAM_BASE_URL and the mock are not restricted
                           (default: none)
  OAIS_CHANNEL_BREAKER_FAILURES
                           consecutive failed attempts (connect error, timeout before the
                           headers, 429, 5xx) that open a channel's breaker (default 3)
  OAIS_CHANNEL_BREAKER_COOLDOWN
                           how long an open breaker keeps its channel out before one
                           half-open probe (default 30s; 1s to 1h)
  OAIS_CHANNEL_BREAKER_MAX_RETRY_AFTER
                           the longest a provider's Retry-After keeps a channel out (default 5m)
  OAIS_CHANNEL_BREAKER_ERROR_RATIO
                           also open the breaker when failures are at least this share of a
                           channel's last OAIS_CHANNEL_BREAKER_WINDOW outcomes (default 20, at
                           most 32), once OAIS_CHANNEL_BREAKER_MIN_REQUESTS (default 10) are
                           known; e.g. 0.5 (default 0: off)
  OAIS_CHANNEL_MAX_ATTEMPTS
                           channels one request tries before its error reaches the client
                           (default 3; 1 to 10)
  OAIS_DRAIN_TIMEOUT       on SIGTERM/SIGINT: /readyz answers 503, no new connections, and
                           requests and streams in flight get this long to finish, each
                           metered, before they are cut (default 25s); then the spool is
                           shipped and fsynced and the process exits 0. A second signal
                           exits at once
  OAIS_GATEWAY_HTTP_SERVER net/http (default) or fasthttp: the same handler, drain and CPU a
                           request; on fasthttp a stream's headers go out with its first event
                           and request headers are limited to 16 KiB (net/http: 64 KiB)
  OAIS_LOG_FORMAT          json (default) or text;  OAIS_LOG_LEVEL debug|info|warn|error
  OAIS_LOG_FLUSH_INTERVAL  lines below warn (the access log) are written in batches this often
                           (default 100ms; 0 writes each at once); warnings and errors at once

The gateway never migrates the database; it waits (OAIS_MIGRATE_WAIT, default 60s) for the
control plane to do it. Bad configuration exits with status 2 and one line naming the variable.
`

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

func cli(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	args = fs.Args()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "help" || (len(args) > 1 && (args[1] == "-h" || args[1] == "--help")) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if args[0] == "version" && len(args) == 1 {
		fmt.Fprintln(stdout, "gateway", version.String())
		return 0
	}
	if args[0] != "serve" || len(args) != 1 {
		fmt.Fprintf(stderr, "gateway: unknown command %q\n\n%s", fmt.Sprint(args), usage)
		return 2
	}
	cfg, err := run.Load(config.OS)
	if err != nil {
		fmt.Fprintln(stderr, "gateway: bad configuration:", err)
		return 2
	}
	log, logBuf := config.BufferedLogger(stderr, cfg.LogFormat, cfg.LogLevel, cfg.LogFlushInterval)
	defer logBuf.Close() // after g.Close: the drain's last lines too
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal drains; a second one ends the process at once (what
	// was spooled ships at the next start).
	go func() { <-ctx.Done(); stop() }()
	g, err := run.Open(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "gateway:", err)
		return 1
	}
	defer g.Close()
	if err := g.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "gateway:", err)
		return 1
	}
	return 0
}
