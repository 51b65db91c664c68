package faulttest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/billing/billingtest"
	"github.com/oais/oais/internal/pgbouncertest"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/stripetest"
)

// TestFourReplicas runs the deployment the scaling-out notes describe: two
// control planes and four gateways on one PostgreSQL (through PgBouncer in
// transaction pooling when it is installed, with OAIS_DATABASE_LISTEN_URL on
// the server itself) and one Redis, both control planes running the billing
// worker against one recording fake Stripe. In order:
//
//  1. exact RPM across all four gateways;
//  2. a key revoked through the second control plane is refused by all four
//     within 1 s of the mutation returning;
//  3. under load on all four, one gateway is SIGKILLed and another gets
//     SIGTERM; both are restarted (the killed one on its spool); every
//     acknowledged request has exactly one ledger row: 0 lost, 0 doubled;
//  4. once every spool has shipped and the last interval has closed, Stripe
//     received each billing period once (one request per meter-event
//     identifier, though both workers tick at the same interval
//     boundaries), and its totals equal the ledger's cost per workspace.
func TestFourReplicas(t *testing.T) {
	needBinaries(t)
	began := time.Now()
	pg := StartPostgres(t)
	r := StartRedis(t)
	direct := pg.URL()
	dbURL, via := direct, "directly"
	if b, err := pgbouncertest.Start(direct); err == nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("pgbouncer exited: %v; its log:\n%s", b.Exited(), tail(b.Log(), 4096))
			}
			b.Close()
		})
		dbURL, via = b.URL(direct)+"&default_query_exec_mode=cache_describe", "through PgBouncer (transaction pooling)"
	} else {
		t.Logf("PostgreSQL directly: %v", err)
	}
	fake := billingtest.NewStripe(t, time.Now)
	stripe := stripetest.NewProxy(t, fake.URL) // records what reached "Stripe"
	const interval = time.Second               // the least OAIS_BILLING_INTERVAL takes
	cpEnv := []string{
		// One public URL, as behind a load balancer: it is the sessions'
		// issuer, so a token from one control plane works on the other.
		"OAIS_PUBLIC_URL=http://controlplane.test",
		"OAIS_DATABASE_LISTEN_URL=" + direct,
		"OAIS_STRIPE_API_KEY=sk_test_oais", "OAIS_STRIPE_API_BASE=" + stripe.URL, "OAIS_STRIPE_WEBHOOK_SECRET=whsec_test_oais",
		"OAIS_BILLING_INTERVAL=" + interval.String(),
	}
	c := startCluster(t, dbURL, cpEnv...)
	cp2 := c.startControlPlane("controlplane-2", cpEnv...)
	gwEnv := []string{"OAIS_REDIS_URL=" + r.URL(), "OAIS_DATABASE_LISTEN_URL=" + direct}
	var gws []*gw
	for i := range 4 {
		gws = append(gws, c.startGateway(fmt.Sprintf("gw%d", i+1), gwEnv...))
	}
	t.Logf("2 control planes and 4 gateways on PostgreSQL %s and Redis, ready %v after the start", via, time.Since(began).Round(100*time.Millisecond))

	// 1. Exact RPM across the four.
	const rpm = 40
	f := shareRPM(t, c, c.key, gws, rpm)
	t.Logf("FIGURE four/rpm: rpm %d over four replicas: %d probes + %d answered = %d (want %d), %d refused with 429, other %v",
		rpm, f.probes, f.served, f.probes+f.served, rpm, f.refused, f.other)

	// More workspaces (no RPM) hold the keys of the next steps: the load
	// spreads over ten, so that every billing interval closes up to ten
	// periods, which both workers then find unsent at once.
	token := c.signIn(t)
	var loadKeyIDs, loadKeys, wss []string
	for i := range 10 {
		ws := createWorkspace(t, c, token, fmt.Sprintf("four-replicas-%d", i))
		id, secret := createKey(t, c, token, ws, "load")
		loadKeyIDs, loadKeys, wss = append(loadKeyIDs, id), append(loadKeys, secret), append(wss, ws)
	}
	victimID, victim := createKey(t, c, token, wss[0], "victim")
	ctx := t.Context()

	// 2. A revocation through the other control plane reaches all four.
	for _, g := range gws {
		if a := chat(ctx, g.url, victim, false, nil); !a.complete {
			t.Fatalf("%s: new key not served: %d %s", g.name, a.status, a.body)
		}
	}
	_, rev, err := graphql(cp2.url, token, `mutation($id:ID!){ revokeAPIKey(id:$id){ status } }`, map[string]any{"id": victimID})
	if err != nil || len(rev.Errors) > 0 {
		t.Fatalf("revokeAPIKey on the second control plane: %v %s", err, errorsText(rev))
	}
	revoked := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	took := make([]time.Duration, len(gws))
	for i, g := range gws {
		wg.Go(func() {
			d, _ := refusedWithin(ctx, t, g, victim, revoked, time.Second)
			mu.Lock()
			took[i] = d.Round(time.Millisecond)
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("FIGURE four/revocation: revoked through the second control plane; refused by the four gateways after %v (bound 1 s)", took)

	// 3. SIGKILL one gateway and SIGTERM another under load.
	const workers = 8
	targets := make([]string, len(gws))
	for i, g := range gws {
		targets[i] = g.url
	}
	l := startLoad(loadOptions{workers: workers, max: 50_000, targets: targets, keys: loadKeys})
	defer l.stop()
	l.waitAcked(t, 300, 30*time.Second)
	killed, termed := gws[1], gws[2]
	killed.proc.Kill()
	termed.stop() // drains: requests in flight finish, the spool ships
	atFaults := l.ackedCount()
	time.Sleep(300 * time.Millisecond) // clients meet two dead ports meanwhile
	killed.start()                     // on its spool, which ships at start
	termed.start()
	l.waitAcked(t, atFaults+300, 30*time.Second)
	l.stop()
	for _, g := range gws {
		g.stop()
	}
	led := readKeyLedger(t, c.dbURL, loadKeyIDs...)
	lf := checkLedger(t, led, l.acked, workers)
	t.Logf("FIGURE four/kill: %d complete 2xx over four gateways (%d before gw2's SIGKILL and gw3's SIGTERM), %d ledger rows: %d lost, %d duplicated, %d extra (in flight at the kill, at most %d); request_count %d = answered rows %d; %d requests failed at transport while the two were down",
		lf.acked, atFaults, lf.rows, lf.lost, lf.duplicates, lf.extra, workers, led.requestCount, led.answered(), l.transport)

	// 4. Billing: both workers, each period once.
	billingDone := func() (bool, string) {
		st, err := store.Open(ctx, direct)
		if err != nil {
			return false, err.Error()
		}
		defer st.Close()
		var unclaimed, unsent int
		_ = st.DB.QueryRowContext(ctx, `SELECT count(*) FROM usage_events WHERE cost_micros > 0 AND billing_period_id IS NULL`).Scan(&unclaimed)
		_ = st.DB.QueryRowContext(ctx, `SELECT count(*) FROM billing_periods WHERE sent_at IS NULL`).Scan(&unsent)
		return unclaimed == 0 && unsent == 0, fmt.Sprintf("%d priced rows unclaimed, %d periods unsent", unclaimed, unsent)
	}
	var why string
	if !WaitFor(30*time.Second, func() (ok bool) { ok, why = billingDone(); return ok }) {
		t.Fatalf("billing did not catch up within 30 s: %s", why)
	}
	periods, ledgerCost := billingFigures(t, direct)
	sends := map[string]int{}
	var duplicate []string
	for _, req := range stripe.Forwarded() {
		if req.Method != "POST" || req.Path != "/v1/billing/meter_events" {
			continue
		}
		id := req.Form.Get("identifier")
		if sends[id]++; sends[id] == 2 {
			duplicate = append(duplicate, id)
		}
	}
	counted := map[string]int64{} // workspace → Stripe's total
	customers := fake.Customers()
	for _, e := range fake.Events() {
		counted[customers[e.CustomerID]] += e.Value
	}
	t.Logf("FIGURE four/billing: %d periods closed by two workers ticking every %v; Stripe received %d meter events for %d identifiers, %d identifiers more than once %v; Stripe totals %v, ledger %v",
		periods, interval, sumValues(sends), len(sends), len(duplicate), duplicate, counted, ledgerCost)
	if len(duplicate) > 0 {
		t.Errorf("%d billing periods reached Stripe more than once", len(duplicate))
		for _, id := range duplicate {
			t.Logf("%s:\ncontrol plane 1:\n%s\ncontrol plane 2:\n%s", id, grepLines(c.cp.Stderr.String(), id), grepLines(cp2.proc.Stderr.String(), id))
		}
	}
	if len(sends) != periods {
		t.Errorf("Stripe received %d identifiers for %d periods", len(sends), periods)
	}
	for w, cost := range ledgerCost {
		if counted[w] != cost {
			t.Errorf("workspace %s: Stripe counted %d µ$, the ledger holds %d µ$", w, counted[w], cost)
		}
	}
	t.Logf("FIGURE four/time: %v in all", time.Since(began).Round(100*time.Millisecond))
}

// readKeyLedger is readLedger narrowed to some keys' rows and their
// request_count.
func readKeyLedger(t *testing.T, dbURL string, keyIDs ...string) ledger {
	t.Helper()
	all := readLedger(t, dbURL)
	l := ledger{byID: map[string]int{}}
	for _, r := range all.rows {
		if slices.Contains(keyIDs, r.keyID) {
			l.rows = append(l.rows, r)
			l.byID[r.requestID]++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		n, err := keyRequestCounts(ctx, dbURL, keyIDs)
		if err == nil {
			l.requestCount = n
			return l
		}
		if ctx.Err() != nil {
			t.Fatalf("read the keys' request counts: %v", err)
		}
		t.Logf("read the keys' request counts: %v; again", err) // as readLedger
		time.Sleep(200 * time.Millisecond)
	}
}

func keyRequestCounts(ctx context.Context, dbURL string, keyIDs []string) (int64, error) {
	st, err := openRetrying(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var sum int64
	for _, id := range keyIDs {
		var n int64
		if err := st.DB.QueryRowContext(ctx, `SELECT request_count FROM api_keys WHERE id = $1`, id).Scan(&n); err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// billingFigures returns how many billing periods there are and the
// ledger's cost per workspace.
func billingFigures(t *testing.T, dbURL string) (int, map[string]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := openRetrying(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var periods int
	if err := st.DB.QueryRowContext(ctx, `SELECT count(*) FROM billing_periods`).Scan(&periods); err != nil {
		t.Fatal(err)
	}
	rows, err := st.DB.QueryContext(ctx, `SELECT workspace_id, SUM(cost_micros) FROM usage_events GROUP BY workspace_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cost := map[string]int64{}
	for rows.Next() {
		var w string
		var c int64
		if err := rows.Scan(&w, &c); err != nil {
			t.Fatal(err)
		}
		cost[w] = c
	}
	return periods, cost
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// controlPlane is another control plane process on a cluster's database.
type controlPlane struct {
	url  string
	proc *Process
}

// startControlPlane starts one more control plane on c's database (it
// finds the database migrated and the admin made) and waits for /readyz.
func (c *cluster) startControlPlane(name string, extra ...string) *controlPlane {
	c.t.Helper()
	port := FreePort(c.t)
	cp := &controlPlane{url: "http://127.0.0.1:" + strconv.Itoa(port)}
	cp.proc = Start(c.t, name, filepath.Join(bins, "controlplane"), append([]string{
		"OAIS_DATABASE_URL=" + c.dbURL,
		fmt.Sprintf("OAIS_CONTROLPLANE_ADDR=127.0.0.1:%d", port),
		"OAIS_BOOTSTRAP_ADMIN_PASSWORD=" + adminPassword,
		"OAIS_BILLING_INTERVAL=1h",
		"OAIS_SECRETS_KEY=" + clusterSecretsKey,
	}, extra...), "serve")
	if !WaitFor(30*time.Second, func() bool { return cp.proc.Exited() || httpStatus(cp.url+"/readyz") == 200 }) || cp.proc.Exited() {
		c.t.Fatalf("%s did not become ready (exited=%v):\n%s", name, cp.proc.Exited(), tail(cp.proc.Stderr.String(), 2048))
	}
	return cp
}
