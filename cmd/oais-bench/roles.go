package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/run"
	"github.com/oais/oais/gateway/tokens"
	"github.com/oais/oais/internal/config"
)

// A child process runs one role: it serves on a loopback port, prints
// "READY <addr> <control addr>" on stdout, and exits when its stdin closes
// (so it never outlives the bench), writing its profiles on the way out.
// The control listener answers GET /stats with the process's allocation
// counters (and the gateway's spool backlog), read between phases.

type roleFlags struct {
	role       string
	upstream   string
	env        string // gateway: the OAIS_* settings, as JSON
	cpuprofile string
	memprofile string
}

type stats struct {
	TotalAlloc uint64 `json:"total_alloc"`
	Mallocs    uint64 `json:"mallocs"`
	CPUNanos   int64  `json:"cpu_ns"` // user + system time of the process
	Pending    int64  `json:"pending"`
	RSS        int64  `json:"rss"`
	HWM        int64  `json:"hwm"`
	Keys       int    `json:"keys"`
	OpenMillis int64  `json:"open_ms"`
	NumGC      uint32 `json:"num_gc"`
	HeapAlloc  uint64 `json:"heap_alloc"` // bytes, live and not yet swept, when read
	GCCPUNanos int64  `json:"gc_cpu_ns"`  // CPU the garbage collector spent (runtime/metrics), all Ps
}

func runRole(f roleFlags) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if f.role != "coldstart" {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}
	var (
		h       http.Handler
		pending func() int64
		extra   stats
		serve   func(ctx context.Context, ln net.Listener) error
	)
	switch f.role {
	case "upstream":
		tokens.Warm()
		h = channelPaths(mockupstream.New(mockupstream.Options{}))
	case "proxy":
		u, err := url.Parse(f.upstream)
		if err != nil {
			return err
		}
		h = bareProxy(u)
	case "fastproxy":
		u, err := url.Parse(f.upstream)
		if err != nil {
			return err
		}
		serve = fastProxy(u)
	case "hybridproxy":
		u, err := url.Parse(f.upstream)
		if err != nil {
			return err
		}
		serve = hybridProxy(u)
	case "gateway", "coldstart":
		tokens.Warm()
		var env map[string]string
		if err := json.Unmarshal([]byte(f.env), &env); err != nil {
			return err
		}
		if v, ok := env["BENCH_GOGC"]; ok {
			n, err := strconv.Atoi(v)
			if v == "off" {
				n, err = -1, nil
			}
			if err != nil {
				return fmt.Errorf("BENCH_GOGC %q: %w", v, err)
			}
			debug.SetGCPercent(n)
		}
		cfg, err := run.Load(config.Map(env))
		if err != nil {
			return err
		}
		logw := io.Discard
		if p := env["BENCH_LOG_FILE"]; p != "" {
			lf, err := os.Create(p)
			if err != nil {
				return err
			}
			defer lf.Close()
			logw = lf
		}
		log, logBuf := config.BufferedLogger(logw, cfg.LogFormat, cfg.LogLevel, cfg.LogFlushInterval)
		defer logBuf.Close()
		start := time.Now()
		g, err := run.Open(ctx, cfg, log)
		if err != nil {
			return err
		}
		extra.OpenMillis = time.Since(start).Milliseconds()
		defer g.Close()
		extra.Keys = g.Snapshot.Len()
		if f.role == "coldstart" {
			runtime.GC()
			st := readStats()
			st.Keys, st.OpenMillis = extra.Keys, extra.OpenMillis
			return json.NewEncoder(os.Stdout).Encode(st)
		}
		pending = func() int64 { return g.Spool.Stats().PendingRecords }
		serve = g.Serve
	default:
		return fmt.Errorf("unknown role %q", f.role)
	}
	if serve == nil {
		serve = func(ctx context.Context, ln net.Listener) error {
			hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
			go func() { <-ctx.Done(); _ = hs.Close() }()
			if err := hs.Serve(ln); err != http.ErrServerClosed {
				return err
			}
			return nil
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	// /trace?seconds=N: a runtime/trace of the next N seconds (-trace).
	mux.HandleFunc("/trace", func(w http.ResponseWriter, r *http.Request) {
		sec, err := strconv.ParseFloat(r.URL.Query().Get("seconds"), 64)
		if err != nil || sec <= 0 || sec > 60 {
			http.Error(w, "seconds: 0 to 60", http.StatusBadRequest)
			return
		}
		if err := trace.Start(w); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		time.Sleep(time.Duration(sec * float64(time.Second)))
		trace.Stop()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		st := readStats()
		st.Keys, st.OpenMillis = extra.Keys, extra.OpenMillis
		if pending != nil {
			st.Pending = pending()
		}
		_ = json.NewEncoder(w).Encode(st)
	})
	control := &http.Server{Handler: mux}
	go func() { _ = control.Serve(cl) }()
	defer control.Close()

	if f.cpuprofile != "" {
		pf, err := os.Create(f.cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	if f.memprofile != "" {
		defer func() {
			mf, err := os.Create(f.memprofile)
			if err != nil {
				return
			}
			defer mf.Close()
			_ = pprof.Lookup("allocs").WriteTo(mf, 0)
		}()
	}
	fmt.Printf("READY %s %s\n", ln.Addr(), cl.Addr())
	return serve(ctx, ln)
}

func readStats() stats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := stats{TotalAlloc: ms.TotalAlloc, Mallocs: ms.Mallocs, NumGC: ms.NumGC, HeapAlloc: ms.HeapAlloc}
	gm := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(gm)
	if gm[0].Value.Kind() == metrics.KindFloat64 {
		st.GCCPUNanos = int64(gm[0].Value.Float64() * 1e9)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		st.CPUNanos = ru.Utime.Nano() + ru.Stime.Nano()
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "VmRSS":
				st.RSS = kb << 10
			case "VmHWM":
				st.HWM = kb << 10
			}
		}
	}
	return st
}

// bareProxy is the reference: net/http/httputil.ReverseProxy with a tuned
// transport, the request body buffered before it is forwarded (STYLE rule
// 13, golang/go#40747) and responses flushed as they come.
func bareProxy(up *url.URL) http.Handler {
	tr := proxyTransport()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = up.Host
		},
		Transport:     tr,
		FlushInterval: -1,
		BufferPool:    proxyBufPool{},
		ErrorLog:      nil,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bp := bodyPool.Get().(*bytes.Buffer)
		bp.Reset()
		defer bodyPool.Put(bp)
		if _, err := io.Copy(bp, io.LimitReader(r.Body, 1<<20)); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(bp.Bytes()))
		r.ContentLength = int64(bp.Len())
		rp.ServeHTTP(w, r)
	})
}

// proxyTransport is the bare and hybrid proxies' tuned transport to the
// upstream.
func proxyTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

type proxyBufPool struct{}

var proxyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (proxyBufPool) Get() []byte  { return *proxyBufs.Get().(*[]byte) }
func (proxyBufPool) Put(b []byte) { proxyBufs.Put(&b) }

// channelPaths serves h under the base paths of benchChannels as well
// ("/a/v1/…" is "/v1/…"): three channels on one mock, so that every
// target shares the one upstream process. Other paths reach h unchanged.
func channelPaths(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) > 5 && p[0] == '/' && p[2] == '/' && p[1] >= 'a' && p[1] <= 'c' && strings.HasPrefix(p[2:], "/v1/") {
			r.URL.Path = p[2:]
		}
		h.ServeHTTP(w, r)
	})
}
