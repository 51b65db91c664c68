package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// shot is one request's outcome.
type shot struct {
	lat  time.Duration // send to last body byte
	ttfb time.Duration // send to first body byte
	err  bool
}

// recorder keeps every latency of a phase in a pre-sized slice: no
// histogram buckets, exact percentiles after a sort.
type recorder struct {
	mu    sync.Mutex
	shots []shot
}

func newRecorder(n int) *recorder { return &recorder{shots: make([]shot, 0, n)} }

func (r *recorder) add(s shot) {
	r.mu.Lock()
	r.shots = append(r.shots, s)
	r.mu.Unlock()
}

// result summarises a phase.
type result struct {
	Target, Mode, Load string
	Rate               int // open loop: the offered rate; closed loop: 0
	Conc               int // closed loop: workers
	OK, Errors         int
	Elapsed            time.Duration
	RPS                float64
	Lat, TTFB          [4]time.Duration // p50, p90, p99, p99.9
	BytesPerReq        float64          // allocated by the target process, per request (0 when unknown)
	AllocsPerReq       float64
	CPUPerReq          time.Duration // CPU time of the target process, per request
	PostgresCPUPerReq  time.Duration // CPU time of the PostgreSQL server processes, per request
	RedisCPUPerReq     time.Duration // CPU time of the Redis server processes, per request
	GCPerSec           float64       // the target process's garbage collections a second
	HeapMiB            float64       // its heap (HeapAlloc) at the end of the phase
	GCCPUPerReq        time.Duration // of CPUPerReq, what the garbage collector spent
	GCCPUPerGC         time.Duration // the garbage collector's CPU per collection
	Backlog            int64         // gateway: usage records still in the spool after the phase
}

var quantiles = [4]float64{0.50, 0.90, 0.99, 0.999}

func percentiles(d []time.Duration) (out [4]time.Duration) {
	if len(d) == 0 {
		return out
	}
	slices.Sort(d)
	for i, q := range quantiles {
		k := int(q*float64(len(d))+0.999999) - 1
		out[i] = d[max(0, min(k, len(d)-1))]
	}
	return out
}

// client is a load-generating HTTP client for one target.
type client struct {
	hc     *http.Client
	url    string
	body   []byte
	secret string
	stream bool
}

func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
}

var doneMarker = []byte("data: [DONE]")

// do sends one request and reads the whole answer.
func (c *client) do(ctx context.Context, buf []byte) shot {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(c.body))
	if err != nil {
		return shot{err: true}
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return shot{lat: time.Since(start), err: true}
	}
	defer resp.Body.Close()
	var s shot
	n, err := resp.Body.Read(buf)
	s.ttfb = time.Since(start)
	tail := make([]byte, 0, 32)
	total := n
	for err == nil {
		if n > 0 {
			tail = appendTail(tail, buf[:n])
		}
		n, err = resp.Body.Read(buf)
		total += n
	}
	if n > 0 {
		tail = appendTail(tail, buf[:n])
	}
	s.lat = time.Since(start)
	s.err = resp.StatusCode != http.StatusOK || !errors.Is(err, io.EOF) || total == 0 ||
		(c.stream && !bytes.Contains(tail, doneMarker))
	return s
}

// appendTail keeps the last 32 bytes seen, to check a stream's [DONE].
func appendTail(tail, b []byte) []byte {
	tail = append(tail, b[max(0, len(b)-32):]...)
	return tail[max(0, len(tail)-32):]
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

func (c *client) shoot(ctx context.Context) shot {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	return c.do(ctx, *bp)
}

// maxInFlight bounds an open-loop phase's outstanding requests; a request
// that would pass it counts as an error instead of piling up.
const maxInFlight = 4096

// openLoop offers rate requests per second for d, whatever the answers do
// (no coordinated omission: a slow answer does not delay the next send).
func openLoop(ctx context.Context, c *client, rate int, d time.Duration) ([]shot, time.Duration) {
	n := int(float64(rate) * d.Seconds())
	rec := newRecorder(n)
	interval := time.Second / time.Duration(rate)
	var inflight atomic.Int64
	var wg sync.WaitGroup
	rctx, cancel := context.WithTimeout(ctx, d+10*time.Second)
	defer cancel()
	start := time.Now()
	for i := 0; i < n; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		if ctx.Err() != nil {
			break
		}
		if inflight.Load() >= maxInFlight {
			rec.add(shot{err: true})
			continue
		}
		inflight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inflight.Add(-1)
			rec.add(c.shoot(rctx))
		}()
	}
	wg.Wait()
	return rec.shots, time.Since(start)
}

// closedLoop runs conc workers, each sending its next request when the
// previous one is answered, for d.
func closedLoop(ctx context.Context, c *client, conc int, d time.Duration) ([]shot, time.Duration) {
	per := make([][]shot, conc)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	rctx, cancel := context.WithTimeout(ctx, d+10*time.Second)
	defer cancel()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]shot, 0, 4096)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				local = append(local, c.shoot(rctx))
			}
			per[w] = local
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []shot
	for _, p := range per {
		all = append(all, p...)
	}
	return all, elapsed
}

// summarize turns a phase's shots into a result.
func summarize(shots []shot, elapsed time.Duration) (r result) {
	lat := make([]time.Duration, 0, len(shots))
	ttfb := make([]time.Duration, 0, len(shots))
	for _, s := range shots {
		if s.err {
			r.Errors++
			continue
		}
		r.OK++
		lat = append(lat, s.lat)
		ttfb = append(ttfb, s.ttfb)
	}
	r.Elapsed = elapsed
	if elapsed > 0 {
		r.RPS = float64(r.OK) / elapsed.Seconds()
	}
	r.Lat = percentiles(lat)
	r.TTFB = percentiles(ttfb)
	return r
}
