package faulttest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRedisLossFallsBackToLocalLimits runs a gateway whose limits live in a
// private Redis, with a workspace RPM set, SIGKILLs Redis and starts it
// again. The documented fail mode (gateway/ratelimit: fail open to
// per-replica limits) is measured: while Redis is down requests keep being
// served, exactly up to the RPM on this replica's own counter, then 429
// rate_limit_exceeded; never a 5xx. The gateway logs both switches and
// /metrics shows oais_ratelimit_redis_up 1, 0, then 1 again.
func TestRedisLossFallsBackToLocalLimits(t *testing.T) {
	needBinaries(t)
	const rpm = 25
	r := StartRedis(t)
	c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db")
	g := c.startGateway("gateway", "OAIS_REDIS_URL="+r.URL())
	ctx := context.Background()

	setWorkspaceRPM(t, c.dbURL, rpm)
	var a answer
	if !WaitFor(15*time.Second, func() bool {
		a = chat(ctx, g.url, c.key, false, nil)
		return a.complete && a.header.Get("X-Ratelimit-Limit-Requests") == strconv.Itoa(rpm)
	}) {
		t.Fatalf("the gateway did not pick up workspace rpm %d within 15s: last answer %d %v; snapshot log: %s",
			rpm, a.status, a.header, grepLines(g.logs(), "key snapshot"))
	}
	if up := g.metric("oais_ratelimit_redis_up"); up != 1 {
		t.Fatalf("oais_ratelimit_redis_up with Redis running = %v, want 1", up)
	}

	r.Kill()
	// Requests go on: the first one finds Redis gone and switches to the
	// local limiter, whose counter for this replica starts empty.
	served, refused, other := 0, 0, map[int]int{}
	for i := 0; i < 2*rpm && refused == 0; i++ {
		a := chat(ctx, g.url, c.key, i%2 == 1, nil)
		switch {
		case a.err != nil:
			t.Fatalf("request %d while Redis is down: %v", i, a.err)
		case a.complete:
			served++
		case a.status == 429 && strings.Contains(string(a.body), `"rate_limit_exceeded"`) && a.header.Get("Retry-After") != "":
			refused++
		default:
			other[a.status]++
		}
	}
	if served != rpm || refused != 1 || len(other) != 0 {
		t.Errorf("while Redis is down: %d served, %d refused with 429 rate_limit_exceeded, others %v; want exactly %d served (the RPM, on this replica's local counter) and then a 429",
			served, refused, other, rpm)
	}
	downMetric := g.metric("oais_ratelimit_redis_up")
	if downMetric != 0 {
		t.Errorf("oais_ratelimit_redis_up while Redis is down = %v, want 0", downMetric)
	}
	const downLog = "rate limits: redis unreachable, enforcing per-replica local limits"
	if !strings.Contains(g.logs(), downLog) {
		t.Errorf("gateway log lacks %q", downLog)
	}

	r.Start() // empty: every shared counter starts again from zero
	restarted := time.Now()
	// The fallback re-probes Redis at most every 5 s, triggered by traffic.
	var recoverStatuses = map[int]int{}
	if !WaitFor(15*time.Second, func() bool {
		a := chat(ctx, g.url, c.key, false, nil)
		recoverStatuses[a.status]++
		return g.metric("oais_ratelimit_redis_up") == 1
	}) {
		t.Fatalf("oais_ratelimit_redis_up did not return to 1 within 15s of Redis's restart")
	}
	back := time.Since(restarted)
	const upLog = "rate limits: redis reachable again, enforcing shared limits"
	// The gauge moves just before the line is logged, and the log comes
	// through a pipe: wait for it rather than read it at once.
	if !WaitFor(5*time.Second, func() bool { return strings.Contains(g.logs(), upLog) }) {
		t.Errorf("gateway log lacks %q", upLog)
	}
	for s := range recoverStatuses {
		if s != 200 && s != 429 {
			t.Errorf("while waiting for the switch back: %d answers with status %d", recoverStatuses[s], s)
		}
	}
	// Back on Redis, whose counters were lost with it: served again.
	after := chat(ctx, g.url, c.key, true, nil)
	if !after.complete {
		t.Errorf("after Redis returned: status %d %s, want a complete 200", after.status, after.body)
	}
	if rem := after.header.Get("X-Ratelimit-Remaining-Requests"); rem == "" {
		t.Errorf("after Redis returned: no x-ratelimit-remaining-requests header")
	}
	g.stop()
	t.Logf("FIGURE redis-loss: workspace rpm %d; with Redis SIGKILLed %d requests served on the local limiter, then 429 rate_limit_exceeded (%d), 0 5xx; oais_ratelimit_redis_up 1 -> %v -> 1 (back %s after the restart, probe every 5s); both switches logged",
		rpm, served, refused, downMetric, back.Round(100*time.Millisecond))
}
