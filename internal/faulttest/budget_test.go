package faulttest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oais/oais/internal/viewer"
)

// TestSpendCapSurvivesRedisLoss attacks the spend cap with a lost Redis:
// two gateway replicas share a private Redis without persistence, the
// workspace has a 2-cent cap, and clients keep sending until the cap
// refuses them. Then, with the load still running, the limiter's Redis
// loses every counter: FLUSHDB (an operator, or allkeys-lru evicting
// counters for cache entries), a SIGKILL and an empty restart, or FLUSHDB
// while both gateways are SIGKILLed and restarted (so they remember
// nothing: the ledger and their spools must say where the budget was). The
// load goes on for 4,000 more answers, enough to spend the cap twice over.
//
// The cap must hold within docs/billing.md's bound: past the cap by at
// most what the requests in flight at the loss cost (one per client).
// Before budget counters were reseeded, FLUSHDB let a second cap's worth
// through (263 more requests, 39,450 µ$ against 20,000 µ$).
//
// cluster-flushdb runs the cap on a 3-master Redis Cluster and loses every
// master's counters (FLUSHDB on each).
func TestSpendCapSurvivesRedisLoss(t *testing.T) {
	needBinaries(t)
	for _, tc := range []struct {
		name    string
		cluster bool
		lose    func(t *testing.T, r *Redis, rc *RedisCluster, gws []*gw)
	}{
		{"flushdb", false, func(t *testing.T, r *Redis, _ *RedisCluster, _ []*gw) { flushDB(t, r) }},
		{"restart", false, func(t *testing.T, r *Redis, _ *RedisCluster, _ []*gw) { r.Kill(); r.Start() }},
		{"flushdb-gateways-killed", false, func(t *testing.T, r *Redis, _ *RedisCluster, gws []*gw) {
			for _, g := range gws {
				g.proc.Kill()
			}
			flushDB(t, r)
			for _, g := range gws {
				g.start()
			}
		}},
		{"cluster-flushdb", true, func(t *testing.T, _ *Redis, rc *RedisCluster, _ []*gw) {
			for _, p := range rc.Ports {
				if out := rc.CLI(p, "flushdb"); !strings.Contains(out, "OK") {
					t.Fatalf("FLUSHDB on cluster node %d: %s", p, out)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const (
				workers  = 8
				capCents = 2
				capMicro = capCents * 10_000
				after    = 4000 // answers (any status) after the loss: more than a second cap's worth
			)
			var (
				r        *Redis
				rc       *RedisCluster
				redisURL string
			)
			if tc.cluster {
				rc = StartRedisCluster(t, 3)
				redisURL = rc.URL()
			} else {
				r = StartRedis(t)
				redisURL = r.URL()
			}
			c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db")
			setSpendCap(t, c.dbURL, capCents) // before the gateways load their snapshot
			g1 := c.startGateway("gw1", "OAIS_REDIS_URL="+redisURL)
			g2 := c.startGateway("gw2", "OAIS_REDIS_URL="+redisURL)

			l := startLoad(loadOptions{workers: workers, max: 50_000, targets: []string{g1.url, g2.url}, key: c.key})
			defer l.stop()
			if !WaitFor(30*time.Second, func() bool { return l.status(429) >= 20 }) {
				t.Fatalf("the cap never refused: statuses %v, first error %q", l.statusesCopy(), l.firstErr)
			}
			before := l.answers()
			servedBefore := l.ackedCount()
			tc.lose(t, r, rc, []*gw{g1, g2})
			if !WaitFor(60*time.Second, func() bool { return l.answers() >= before+after }) {
				t.Fatalf("load stalled after the loss: statuses %v", l.statusesCopy())
			}
			if tc.name == "restart" {
				// Past the switch back to Redis, which the fallback probes
				// for at most every 5 s.
				if !WaitFor(30*time.Second, func() bool {
					return g1.metric("oais_ratelimit_redis_up") == 1 && g2.metric("oais_ratelimit_redis_up") == 1
				}) {
					t.Fatalf("the gateways did not return to Redis")
				}
				n := l.answers()
				if !WaitFor(30*time.Second, func() bool { return l.answers() >= n+after }) {
					t.Fatalf("load stalled after Redis returned: statuses %v", l.statusesCopy())
				}
			}
			l.stop()
			servedAfter := l.ackedCount() - servedBefore
			g1.stop()
			g2.stop()

			led := readLedger(t, c.dbURL)
			var spent, most int64
			for _, row := range led.rows {
				spent += row.costMicros
				most = max(most, row.costMicros)
			}
			bound := int64(capMicro + workers*most)
			t.Logf("FIGURE budget-%s: cap %d µ$, two replicas, %d clients; %d answered before the loss, %d more after it (statuses %v); ledger %d µ$ over %d rows (bound cap + %d in flight × %d µ$ = %d µ$); first refusal: %s",
				tc.name, capMicro, workers, servedBefore, servedAfter, l.statusesCopy(), spent, len(led.rows), workers, most, bound, l.firstErr)
			if spent > bound {
				t.Errorf("ledger holds %d µ$ against a %d µ$ cap: %d µ$ over, more than the %d in flight at the loss could cost (%d µ$); %d requests served after the loss",
					spent, capMicro, spent-capMicro, workers, workers*most, servedAfter)
			}
			for s, n := range l.statusesCopy() {
				if s != 200 && s != 429 {
					t.Errorf("%d answers with status %d", n, s)
				}
			}
		})
	}
}

func flushDB(t *testing.T, r *Redis) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.Port)})
	defer c.Close()
	if err := c.FlushDB(t.Context()).Err(); err != nil {
		t.Fatalf("FLUSHDB: %v", err)
	}
}

// setSpendCap sets every workspace's monthly spend cap through ent, as
// setSpendCap would.
func setSpendCap(t *testing.T, dbURL string, cents int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := openRetrying(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Ent.Workspace.Update().SetSpendCapCents(cents).Save(viewer.SystemContext(ctx)); err != nil {
		t.Fatalf("set spend cap: %v", err)
	}
}

// status is how many answers had status s so far.
func (l *load) status(s int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statuses[s]
}

// answers is how many HTTP answers arrived so far, whatever their status.
func (l *load) answers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.statuses {
		n += c
	}
	return n
}

func (l *load) statusesCopy() map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[int]int, len(l.statuses))
	for s, n := range l.statuses {
		m[s] = n
	}
	return m
}
