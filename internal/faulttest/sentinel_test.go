package faulttest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGatewayFollowsSentinelFailover runs a gateway whose OAIS_REDIS_URL
// names a Sentinel (redis+sentinel://…/master-name), not a server: it must
// find the master through the sentinel, keep its counters there, and when
// the master is SIGKILLed and the sentinel promotes the replica, keep
// serving (per-replica limits meanwhile, never a 5xx) and return to shared
// limits on the new master by itself. Figures: how long the gateway was on
// local limits, and the counter on the new master moving with its answers.
func TestGatewayFollowsSentinelFailover(t *testing.T) {
	needBinaries(t)
	s := StartRedisSentinel(t)
	c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db")
	g := c.startGateway("gateway", "OAIS_REDIS_URL="+s.URL())
	ctx := context.Background()

	for i := range 5 {
		if a := chat(ctx, g.url, c.key, i%2 == 1, nil); !a.complete {
			t.Fatalf("request %d through the sentinel's master: %d %s %v", i, a.status, a.body, a.err)
		}
	}
	if up := g.metric("oais_ratelimit_redis_up"); up != 1 {
		t.Fatalf("oais_ratelimit_redis_up = %v through the sentinel, want 1:\n%s", up, tail(g.logs(), 2048))
	}
	rpmKey := strings.TrimSpace(s.CLI(s.MasterPort, "--scan", "--pattern", "oais:rl:ws:*:rpm*"))
	if rpmKey == "" || strings.Contains(rpmKey, "\n") {
		t.Fatalf("want one workspace RPM counter on the master %d, found %q", s.MasterPort, rpmKey)
	}
	total := func(port int) int {
		n, _ := strconv.Atoi(strings.TrimSpace(s.CLI(port, "hget", rpmKey, "s")))
		return n
	}
	// Counted in the gateway's lease (the workspace has no RPM limit) and
	// added to Redis when the lease settles, within a second.
	if !WaitFor(5*time.Second, func() bool { return total(s.MasterPort) == 5 }) {
		t.Fatalf("RPM counter on the master holds %d, want the 5 answers", total(s.MasterPort))
	}

	replicated := total(s.ReplicaPort)
	s.KillMaster()
	killed := time.Now()
	newMaster := fmt.Sprintf("127.0.0.1:%d", s.ReplicaPort)
	served, other := 0, map[int]int{}
	var sawDown bool
	var promoted, upAgain time.Duration
	// Requests go on while the sentinel notices (1 s), promotes the
	// replica, and the gateway finds it; then until the gateway is on
	// shared limits again (go-redis's failover client may switch before
	// the limiter ever falls back).
	var slowest time.Duration
	for time.Since(killed) < 30*time.Second {
		start := time.Now()
		a := chat(ctx, g.url, c.key, served%2 == 1, nil)
		slowest = max(slowest, time.Since(start))
		switch {
		case a.err != nil:
			t.Fatalf("request after the master was killed: %v", a.err)
		case a.complete:
			served++
		default:
			other[a.status]++
		}
		up := g.metric("oais_ratelimit_redis_up")
		sawDown = sawDown || up == 0
		if promoted == 0 && s.MasterAddr() == newMaster {
			promoted = time.Since(killed)
		}
		if promoted > 0 && up == 1 {
			upAgain = time.Since(killed)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(other) > 0 {
		t.Errorf("answers other than 200 during the failover: %v", other)
	}
	if upAgain == 0 {
		t.Fatalf("no failover to shared limits within 30 s of the kill (sentinel names %s, want %s; saw redis_up 0: %v):\n%s",
			s.MasterAddr(), newMaster, sawDown, grepLines(g.logs(), "rate limits"))
	}
	before := total(s.ReplicaPort)
	for i := range 4 {
		if a := chat(ctx, g.url, c.key, i%2 == 1, nil); !a.complete {
			t.Fatalf("request on the promoted master: %d %s", a.status, a.body)
		}
	}
	// Counted in a lease, as above: in Redis within a second.
	WaitFor(5*time.Second, func() bool { return total(s.ReplicaPort) == before+4 })
	after := total(s.ReplicaPort)
	t.Logf("FIGURE sentinel: master SIGKILLed with the RPM counter at 5 (%d on the replica); %d answered meanwhile (slowest %v), %v other; the sentinel named %s %v after the kill, the gateway was on shared limits at %v (fell back to local limits meanwhile: %v); RPM counter on the new master %d → %d after 4 more answers",
		replicated, served, slowest.Round(100*time.Millisecond), other, newMaster, promoted.Round(100*time.Millisecond), upAgain.Round(100*time.Millisecond), sawDown, before, after)
	if after != before+4 {
		t.Errorf("the new master's RPM counter went %d → %d after 4 answers, want +4: the gateway does not count on the promoted master", before, after)
	}
}
