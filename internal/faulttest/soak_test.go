package faulttest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sample is one reading of a gateway process's resources.
type sample struct {
	rssKiB     int64
	fds        int
	goroutines float64
}

// readSample reads VmRSS and the open fds from /proc and go_goroutines
// from the gateway's /metrics.
func readSample(g *gw) (sample, error) {
	pid := g.proc.Pid()
	var s sample
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			s.rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	s.goroutines = g.metric("go_goroutines")
	if s.rssKiB == 0 || s.goroutines < 0 {
		return s, fmt.Errorf("incomplete sample %+v", s)
	}
	return s, nil
}

func median[T int | int64 | float64](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestSoakTwoReplicas sends a fixed rate of plain and streamed chat
// completions for a bounded time through two gateway replicas that share a
// private Redis and one database, sampling each replica's RSS, open fds
// and goroutines once a second. It is a leak check, not a timing test:
// the second half of the run must not sit above the first half by more
// than a tolerance, and at the end the clients' complete 2xx answers, the
// ledger's rows and the keys' request_count must agree exactly.
func TestSoakTwoReplicas(t *testing.T) {
	needBinaries(t)
	const (
		duration = 24 * time.Second
		rate     = 40 // requests per second, over both replicas
		warmup   = 3  // samples dropped while the processes settle
		maxInFly = 16
		// Tolerances of the second half's median over the first's.
		goroutineSlack = 10
		fdSlack        = 8
		rssSlackKiB    = 8 << 10
	)
	r := StartRedis(t)
	c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db")
	gws := []*gw{
		c.startGateway("gateway-a", "OAIS_REDIS_URL="+r.URL()),
		c.startGateway("gateway-b", "OAIS_REDIS_URL="+r.URL()),
	}

	l := &load{acked: map[string]int{}, statuses: map[int]int{}}
	// Warm up: the first requests load the tokenizer tables (tens of MiB),
	// which would read as growth. Then wait until RSS holds still.
	for _, g := range gws {
		for i := range 10 {
			a := chat(context.Background(), g.url, c.key, i%2 == 1, nil)
			if !a.complete {
				t.Fatalf("%s warm-up: %d %s %v", g.name, a.status, a.body, a.err)
			}
			l.record(a)
		}
		var last int64
		WaitFor(15*time.Second, func() bool {
			time.Sleep(500 * time.Millisecond)
			s, err := readSample(g)
			if err != nil {
				return false
			}
			still := last > 0 && s.rssKiB-last < 1024 && last-s.rssKiB < 1024
			last = s.rssKiB
			return still
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.cancel = cancel

	samples := make([][]sample, len(gws))
	var sampleErr error
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			for i, g := range gws {
				s, err := readSample(g)
				if err != nil {
					sampleErr = err
					continue
				}
				samples[i] = append(samples[i], s)
			}
		}
	}()

	// Fixed rate: one request per tick, bounded in flight, count and time.
	total := int(duration.Seconds()) * rate
	sem := make(chan struct{}, maxInFly)
	tick := time.NewTicker(time.Second / rate)
	start := time.Now()
	var sent, skipped int
	for sent < total && time.Since(start) < duration+5*time.Second {
		<-tick.C
		select {
		case sem <- struct{}{}:
		default:
			skipped++ // the replicas fell behind; do not queue without bound
			continue
		}
		i := sent
		sent++
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-sem }()
			l.record(chat(ctx, gws[i%len(gws)].url, c.key, (i/2)%2 == 1, nil))
		}()
	}
	tick.Stop()
	l.wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	sampling.Wait()
	if sampleErr != nil {
		t.Errorf("sampling: %v", sampleErr)
	}

	var report []string
	for i, g := range gws {
		ss := samples[i]
		if len(ss) < warmup+6 {
			t.Fatalf("%s: only %d samples", g.name, len(ss))
		}
		ss = ss[warmup:]
		first, second := ss[:len(ss)/2], ss[len(ss)/2:]
		col := func(s []sample, f func(sample) float64) []float64 {
			out := make([]float64, len(s))
			for i := range s {
				out[i] = f(s[i])
			}
			return out
		}
		gr := func(s sample) float64 { return s.goroutines }
		rss := func(s sample) float64 { return float64(s.rssKiB) }
		fd := func(s sample) float64 { return float64(s.fds) }
		g1, g2 := median(col(first, gr)), median(col(second, gr))
		r1, r2 := median(col(first, rss)), median(col(second, rss))
		f1, f2 := slices.Max(col(first, fd)), slices.Max(col(second, fd))
		if g2 > g1+goroutineSlack {
			t.Errorf("%s: goroutines grew: median %v in the first half, %v in the second (tolerance %d)", g.name, g1, g2, goroutineSlack)
		}
		if r2 > r1*1.25+rssSlackKiB {
			t.Errorf("%s: RSS grew: median %.0f KiB in the first half, %.0f KiB in the second (tolerance 25%% + %d KiB)", g.name, r1, r2, rssSlackKiB)
		}
		if f2 > f1+fdSlack {
			t.Errorf("%s: open fds grew: at most %v in the first half, %v in the second (tolerance %d)", g.name, f1, f2, fdSlack)
		}
		report = append(report, fmt.Sprintf("%s goroutines %v->%v, RSS %.1f->%.1f MiB, fds %v->%v", g.name, g1, g2, r1/1024, r2/1024, f1, f2))
	}
	for _, g := range gws {
		g.stop()
	}

	if n := l.non2xx(); n != 0 || l.transport != 0 {
		t.Errorf("%d non-2xx answers (first: %s) and %d transport errors (first: %s); want 0", n, l.firstErr, l.transport, l.firstTransport)
	}
	led := readLedger(t, c.dbURL)
	f := checkLedger(t, led, l.acked, 0)
	if int64(f.acked) != led.answered() || led.requestCount != led.answered() {
		t.Errorf("counters disagree: %d client 2xx, %d ledger rows answered, request_count sum %d", f.acked, led.answered(), led.requestCount)
	}
	t.Logf("FIGURE soak: %d paced requests (after 20 warm-up) in %s at %d/s over 2 replicas sharing Redis (%d ticks skipped as backpressure); %s; client 2xx %d = ledger rows %d = request_count sum %d; %d lost, %d duplicated",
		sent, elapsed.Round(100*time.Millisecond), rate, skipped, strings.Join(report, "; "), f.acked, led.answered(), led.requestCount, f.lost, f.duplicates)
}
