package route

import (
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

var testBase = &url.URL{Scheme: "https", Host: "api.example.com", Path: "/v1"}

func ch(id string, prio, weight int) *Channel {
	return &Channel{ID: id, Name: id, Type: OpenAI, BaseURL: testBase, Priority: prio, Weight: weight, Enabled: true}
}

func TestPickPriorityAndWeights(t *testing.T) {
	r := NewRouter(BreakerConfig{})
	chs := []*Channel{ch("a", 1, 1), ch("b", 1, 3), ch("low", 0, 100)}
	counts := map[string]int{}
	const n = 10_000
	for i := 0; i < n; i++ {
		counts[r.Pick(chs, "gpt-4o", "/chat/completions", nil).ID]++
	}
	if counts["low"] != 0 {
		t.Fatalf("a lower priority served %d while higher ones were healthy", counts["low"])
	}
	if got := float64(counts["b"]) / n; got < 0.75-0.05 || got > 0.75+0.05 {
		t.Fatalf("weight 3 of 4 got %.3f of the traffic", got)
	}
}

func TestPickSkips(t *testing.T) {
	disabled := ch("off", 9, 1)
	disabled.Enabled = false
	other := ch("other", 9, 1)
	other.Models = []string{"claude"}
	a := ch("a", 1, 1)
	noURL := ch("nourl", 9, 1)
	noURL.BaseURL = nil
	r := NewRouter(BreakerConfig{})
	tests := []struct {
		name  string
		chs   []*Channel
		tried []*Channel
		want  *Channel
	}{
		{"disabled and other models", []*Channel{disabled, other, a}, nil, a},
		{"no base URL", []*Channel{noURL, a}, nil, a},
		{"tried", []*Channel{a}, []*Channel{a}, nil},
		{"tried by ID after a reload", []*Channel{a}, []*Channel{ch("a", 1, 1)}, nil},
		{"none", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Pick(tt.chs, "gpt-4o", "/chat/completions", tt.tried); got != tt.want {
				t.Fatalf("picked %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	ws := []*Channel{{ID: "w", Enabled: true, BaseURL: testBase, Models: []string{"gpt-4o"}}}
	site := []*Channel{{ID: "s", Enabled: true, BaseURL: testBase}}
	if got := Candidates(ws, site, "gpt-4o", "/chat/completions"); len(got) != 1 || got[0].ID != "w" {
		t.Fatalf("workspace channel not preferred: %v", got)
	}
	if got := Candidates(ws, site, "other", "/chat/completions"); len(got) != 1 || got[0].ID != "s" {
		t.Fatalf("site channel not the fallback: %v", got)
	}
	if got := Candidates(ws, nil, "other", "/chat/completions"); got != nil {
		t.Fatalf("no channel must mean the gateway's upstream: %v", got)
	}
	claude := []*Channel{{ID: "a", Enabled: true, BaseURL: testBase, Type: Anthropic}}
	if got := Candidates(claude, site, "claude", "/responses"); len(got) != 1 || got[0].ID != "s" {
		t.Fatalf("an Anthropic channel cannot serve /responses: %v", got)
	}
}

// TestBreaker drives one channel's breaker through its states, with a new
// *Channel of the same ID midway (a snapshot reload keeps the state).
func TestBreaker(t *testing.T) {
	clk := newClock()
	r := NewRouter(BreakerConfig{FailureThreshold: 3, Cooldown: 10 * time.Second, MaxRetryAfter: time.Minute, Now: clk.now})
	a := ch("a", 1, 1)
	for i := 0; i < 2; i++ {
		r.Failure(a, 0)
	}
	if r.Pick([]*Channel{a}, "m", "/chat/completions", nil) != a {
		t.Fatal("opened below the threshold")
	}
	r.Failure(a, 0)
	reloaded := ch("a", 1, 1)
	if r.Pick([]*Channel{reloaded}, "m", "/chat/completions", nil) != nil {
		t.Fatal("open breaker let a request through (or a reload forgot it)")
	}
	clk.advance(10 * time.Second)
	if r.Pick([]*Channel{reloaded}, "m", "/chat/completions", nil) != reloaded {
		t.Fatal("no half-open probe after the cooldown")
	}
	if r.Pick([]*Channel{reloaded}, "m", "/chat/completions", nil) != nil {
		t.Fatal("a second request while the probe is under way")
	}
	r.Failure(reloaded, 0)
	clk.advance(5 * time.Second)
	if r.Pick([]*Channel{reloaded}, "m", "/chat/completions", nil) != nil {
		t.Fatal("a failed probe must open the breaker again")
	}
	clk.advance(5 * time.Second)
	if r.Pick([]*Channel{reloaded}, "m", "/chat/completions", nil) != reloaded {
		t.Fatal("no probe after the second cooldown")
	}
	r.Success(reloaded)
	if r.Open(a) || r.Pick([]*Channel{a}, "m", "/chat/completions", nil) != a || r.Pick([]*Channel{a}, "m", "/chat/completions", nil) != a {
		t.Fatal("a successful probe must close the breaker")
	}

	t.Run("Retry-After", func(t *testing.T) {
		b := ch("b", 1, 1)
		r.Failure(b, 20*time.Second)
		clk.advance(19 * time.Second)
		if r.Pick([]*Channel{b}, "m", "/chat/completions", nil) != nil {
			t.Fatal("Retry-After not honoured")
		}
		clk.advance(time.Second)
		if r.Pick([]*Channel{b}, "m", "/chat/completions", nil) != b {
			t.Fatal("still out after Retry-After")
		}
		r.Success(b)
		r.Failure(b, 24*time.Hour)
		clk.advance(time.Minute)
		if r.Pick([]*Channel{b}, "m", "/chat/completions", nil) != b {
			t.Fatal("a huge Retry-After is bounded by MaxRetryAfter")
		}
	})
	t.Run("stuck probe expires", func(t *testing.T) {
		c := ch("c", 1, 1)
		for i := 0; i < 3; i++ {
			r.Failure(c, 0)
		}
		clk.advance(10 * time.Second)
		if r.Pick([]*Channel{c}, "m", "/chat/completions", nil) != c {
			t.Fatal("no probe")
		}
		// The probe's client left: it never reports.
		clk.advance(10 * time.Second)
		if r.Pick([]*Channel{c}, "m", "/chat/completions", nil) != c {
			t.Fatal("a probe that never reported holds the channel forever")
		}
	})
}

func TestChannelRPMAndTPM(t *testing.T) {
	clk := newClock()
	r := NewRouter(BreakerConfig{Now: clk.now})
	a, b := ch("a", 2, 1), ch("b", 1, 1)
	a.RPM = 2
	chs := []*Channel{a, b}
	got := []string{r.Pick(chs, "m", "/chat/completions", nil).ID, r.Pick(chs, "m", "/chat/completions", nil).ID, r.Pick(chs, "m", "/chat/completions", nil).ID}
	if got[0] != "a" || got[1] != "a" || got[2] != "b" {
		t.Fatalf("RPM 2 channel served %v", got)
	}
	clk.advance(time.Minute)
	if r.Pick(chs, "m", "/chat/completions", nil) != a {
		t.Fatal("the next minute must serve the channel again")
	}
	c := ch("c", 3, 1)
	c.TPM = 100
	r.Used(c, 100)
	if r.Pick([]*Channel{c, b}, "m", "/chat/completions", nil) != b {
		t.Fatal("a channel past its TPM was picked")
	}
}

func TestPickAllocs(t *testing.T) {
	r := NewRouter(BreakerConfig{})
	chs := []*Channel{ch("a", 1, 1), ch("b", 1, 2), ch("c", 0, 1)}
	r.Pick(chs, "m", "/chat/completions", nil)
	var tried [3]*Channel
	if n := testing.AllocsPerRun(1000, func() {
		c := r.Pick(chs, "m", "/chat/completions", tried[:0])
		r.Success(c)
	}); n != 0 {
		t.Fatalf("Pick allocates %v times per request", n)
	}
}

func BenchmarkPick(b *testing.B) {
	r := NewRouter(BreakerConfig{})
	chs := []*Channel{ch("a", 1, 1), ch("b", 1, 2), ch("c", 0, 1)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Success(r.Pick(chs, "m", "/chat/completions", nil))
		}
	})
}

// TestBreakerErrorRatio: a channel that fails every other request never
// reaches FailureThreshold consecutive failures, so only the error ratio
// can take it out.
func TestBreakerErrorRatio(t *testing.T) {
	pick := func(r *Router, c *Channel) bool {
		return r.Pick([]*Channel{c}, "m", "/chat/completions", nil) == c
	}
	// alternate reports n outcomes of c, failing every other one (the
	// first succeeds), and reports whether the breaker opened.
	alternate := func(r *Router, c *Channel, n int) bool {
		for i := 0; i < n; i++ {
			if !pick(r, c) {
				return true
			}
			if i%2 == 1 {
				r.Failure(c, 0)
			} else {
				r.Success(c)
			}
		}
		return !pick(r, c)
	}
	tests := []struct {
		name     string
		cfg      BreakerConfig
		outcomes int
		open     bool
	}{
		{"ratio off: every other failure never opens", BreakerConfig{}, 200, false},
		{"every other failure opens at 0.5", BreakerConfig{ErrorRatio: 0.5}, 200, true},
		{"not before the minimum requests", BreakerConfig{ErrorRatio: 0.5, ErrorMinRequests: 10}, 9, false},
		{"at the minimum requests", BreakerConfig{ErrorRatio: 0.5, ErrorMinRequests: 10}, 10, true},
		{"below the ratio", BreakerConfig{ErrorRatio: 0.6}, 200, false},
		{"a short window", BreakerConfig{ErrorRatio: 0.5, ErrorWindow: 4, ErrorMinRequests: 4}, 4, true},
		{"a window larger than the maximum is bounded", BreakerConfig{ErrorRatio: 0.5, ErrorWindow: 1000, ErrorMinRequests: 1000}, MaxErrorWindow, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			tt.cfg.Now = clk.now
			r := NewRouter(tt.cfg)
			c := ch("flaky", 1, 1)
			if got := alternate(r, c, tt.outcomes); got != tt.open {
				t.Fatalf("after %d alternating outcomes open = %v, want %v", tt.outcomes, got, tt.open)
			}
		})
	}

	t.Run("a closed breaker starts a fresh window", func(t *testing.T) {
		clk := newClock()
		r := NewRouter(BreakerConfig{ErrorRatio: 0.5, ErrorWindow: 10, ErrorMinRequests: 10, Cooldown: time.Second, Now: clk.now})
		c := ch("flaky", 1, 1)
		if !alternate(r, c, 10) {
			t.Fatal("did not open")
		}
		clk.advance(time.Second)
		if !pick(r, c) {
			t.Fatal("no probe after the cooldown")
		}
		r.Success(c)
		// One failure after the probe: the old failures are gone, so
		// the ratio does not reopen the breaker at once.
		r.Failure(c, 0)
		if !pick(r, c) {
			t.Fatal("the failures from before the cooldown reopened the breaker")
		}
	})

	t.Run("concurrent outcomes", func(t *testing.T) {
		r := NewRouter(BreakerConfig{ErrorRatio: 0.5, FailureThreshold: 1 << 30})
		c := ch("racy", 1, 1)
		done := make(chan struct{})
		for g := 0; g < 4; g++ {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := 0; i < 1000; i++ {
					if i%2 == 0 {
						r.Success(c)
					} else {
						r.Failure(c, 0)
					}
				}
			}()
		}
		for g := 0; g < 4; g++ {
			<-done
		}
		// Outcomes raced (go test -race) but the window's word stays
		// whole: at most a window of outcomes (fewer when an opening
		// reset it on the way), no outcome bit beyond their count.
		w := r.health(c).outcomes.Load()
		if n := w >> 32; n > DefaultErrorWindow || (w&0xffffffff)>>n != 0 {
			t.Fatalf("window word %#x after concurrent outcomes", w)
		}
		r.Failure(c, 0)
		r.Failure(c, 0)
		for i := 0; i < DefaultErrorWindow; i++ {
			r.Failure(c, 0)
		}
		if !r.Open(c) {
			t.Fatal("a window of failures did not open the breaker")
		}
	})
}

// TestPickAllocsErrorRatio: the error ratio's window allocates nothing
// either, and a healthy channel's full window is not written.
func TestPickAllocsErrorRatio(t *testing.T) {
	r := NewRouter(BreakerConfig{ErrorRatio: 0.5})
	chs := []*Channel{ch("a", 1, 1), ch("b", 1, 2)}
	var tried [2]*Channel
	if n := testing.AllocsPerRun(1000, func() {
		r.Success(r.Pick(chs, "m", "/chat/completions", tried[:0]))
	}); n != 0 {
		t.Fatalf("Pick with the error ratio allocates %v times per request", n)
	}
}
