package faulttest

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestTwoGatewaysShareRPMThroughRedis: two gateway replicas on one Redis
// and one database, workspace RPM = N, 3N requests fired at both at once.
// Exactly N are answered within the window; the rest get 429
// rate_limit_exceeded. Figure: answered == N across the replicas. It runs
// on one Redis server and on a 3-master Redis Cluster
// (OAIS_REDIS_URL=redis+cluster://…), where every request's counters must
// hash to one slot for the limiter's script.
func TestTwoGatewaysShareRPMThroughRedis(t *testing.T) {
	needBinaries(t)
	for _, tc := range []struct {
		name  string
		redis func(t *testing.T) string
	}{
		{"server", func(t *testing.T) string { return StartRedis(t).URL() }},
		{"cluster", func(t *testing.T) string { return StartRedisCluster(t, 3).URL() }},
	} {
		t.Run(tc.name, func(t *testing.T) { twoGatewaysShareRPM(t, tc.name, tc.redis(t)) })
	}
}

func twoGatewaysShareRPM(t *testing.T, name, redisURL string) {
	const rpm = 30
	c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db")
	g1 := c.startGateway("gw1", "OAIS_REDIS_URL="+redisURL)
	g2 := c.startGateway("gw2", "OAIS_REDIS_URL="+redisURL)
	f := shareRPM(t, c, c.key, []*gw{g1, g2}, rpm)
	t.Logf("FIGURE %s: rpm %d over two replicas: %d probes + %d answered = %d (want %d), %d refused with 429, other %v",
		name, rpm, f.probes, f.served, f.probes+f.served, rpm, f.refused, f.other)
}

// rpmFigures is what shareRPM measured.
type rpmFigures struct {
	probes, served, refused int
	other                   map[int]int
}

// shareRPM sets every workspace's RPM to rpm, waits until each of gws
// enforces it (the probes count in the shared window too), then fires 3×rpm
// requests with key at all of them at once, round-robin. Exactly rpm must
// be answered in all (probes included), the rest refused with 429.
func shareRPM(t *testing.T, c *cluster, key string, gws []*gw, rpm int) rpmFigures {
	t.Helper()
	ctx := context.Background()
	setWorkspaceRPM(t, c.dbURL, int64(rpm))
	f := rpmFigures{other: map[int]int{}}
	for _, g := range gws {
		if !WaitFor(15*time.Second, func() bool {
			a := chat(ctx, g.url, key, false, nil)
			f.probes++
			return a.complete && a.header.Get("X-Ratelimit-Limit-Requests") == strconv.Itoa(rpm)
		}) {
			t.Fatalf("%s did not pick up workspace rpm %d", g.url, rpm)
		}
	}
	if f.probes >= rpm {
		t.Fatalf("needed %d probes; the window is already spent", f.probes)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 3*rpm; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a := chat(ctx, gws[i%len(gws)].url, key, false, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case a.complete:
				f.served++
			case a.status == 429:
				f.refused++
			default:
				f.other[a.status]++
			}
		}(i)
	}
	wg.Wait()
	// Probes that got 200 before the limit was known count against the
	// window only once the new limit is in force; every answer in the burst
	// is inside the same minute, so probes+served must be exactly rpm
	// whenever the burst was refused at all.
	if len(f.other) != 0 || f.refused == 0 || f.probes+f.served > rpm {
		t.Fatalf("admitted %d+%d with rpm %d over %d replicas (refused %d, other %v)", f.probes, f.served, rpm, len(gws), f.refused, f.other)
	}
	if f.probes+f.served < rpm-2 {
		t.Fatalf("admitted only %d+%d of rpm %d over %d replicas: the shared counter under-admits", f.probes, f.served, rpm, len(gws))
	}
	return f
}
