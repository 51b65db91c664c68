// Command oais-bench measures the gateway against a bare reverse proxy,
// against Bifrost and against the upstream itself, side by side, in one run
// (`make bench`).
//
// It starts, as child processes of its own binary (so that they share the
// machine's CPUs the way real processes do), a fast mock upstream
// (gateway/mockupstream), a bare net/http/httputil.ReverseProxy with a tuned
// transport (the reference), a bare fasthttp proxy (fastproxy.go), the
// Bifrost peer (bench/peers/bifrost, a module of its own that it builds with
// the go command first: peer.go), and the real gateway (gateway/run, every
// feature on: key auth from the snapshot, workspace and key RPM/TPM, quota
// and spend cap set high enough never to refuse, metering to the durable
// spool shipped to the database, Prometheus metrics, the access log) — once
// on SQLite with in-process limits and once on PostgreSQL with Redis limits.
// It drives each with open-loop fixed rates and closed-loop saturation,
// plain and streamed, and prints one table and the ratios the performance
// targets are stated in. Timing never fails the run: it prints, it does not
// assert. Everything runs on loopback and stops by itself.
//
//	go run ./cmd/oais-bench [-quick] [-bifrost=false] [-cpuprofile DIR] [-memprofile DIR] [-out docs/benchmarks.md]
//	go run ./cmd/oais-bench -only coldstart [-keys N]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

type options struct {
	quick      bool
	phase      time.Duration
	warm       time.Duration
	rates      []int
	conc       int
	keys       int
	cpuprofile string
	memprofile string
	trace      string // directory for execution traces of the top open-loop rate
	out        string
	postgres   string
	redis      string
	only       string            // "coldstart": skip the load phases
	bifrost    bool              // build and run the Bifrost peer
	targets    map[string]bool   // if set, the only targets measured
	gwEnv      map[string]string // added to every gateway's settings
}

func main() {
	var rf roleFlags
	var o options
	var rates, targets, gwEnv string
	flag.StringVar(&rf.role, "role", "", "internal: run as a child process (upstream, proxy, gateway, coldstart)")
	flag.StringVar(&rf.upstream, "upstream", "", "internal: the proxy's upstream")
	flag.StringVar(&rf.env, "env", "", "internal: the gateway's settings as JSON")
	flag.StringVar(&rf.cpuprofile, "cpuprofile-file", "", "internal: write a CPU profile here")
	flag.StringVar(&rf.memprofile, "memprofile-file", "", "internal: write an allocation profile here")
	flag.BoolVar(&o.quick, "quick", false, "short phases and a small key count: a smoke run")
	flag.DurationVar(&o.phase, "phase", 0, "how long each measured phase runs (default 5s, -quick 1s)")
	flag.StringVar(&rates, "rates", "500,1000,2000", "open-loop rates, requests per second")
	flag.IntVar(&o.conc, "c", 64, "closed-loop concurrency (saturation); 0 skips the closed loop")
	flag.IntVar(&o.keys, "keys", -1, "active keys for the cold-start measurement on PostgreSQL (default 200000, extrapolated to 1M; -quick 20000; 0 skips)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "directory to write the gateways' and the proxy's CPU profiles to")
	flag.StringVar(&o.memprofile, "memprofile", "", "directory to write the gateways' and the proxy's allocation profiles to")
	flag.StringVar(&o.trace, "trace", "", "directory to write execution traces to: 3 s of each gateway and the bare proxy in the middle of the top open-loop rate's phases (go tool trace -pprof=sched|syscall|sync DIR/<target>.<mode>.trace); tracing slows the traced phases, so their figures are not comparable")
	flag.StringVar(&o.out, "out", "", "markdown file whose results section to (re)write, e.g. docs/benchmarks.md")
	flag.StringVar(&o.postgres, "postgres", firstEnv("OAIS_BENCH_POSTGRES_URL", "OAIS_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server to create the bench database on (empty skips PostgreSQL)")
	flag.BoolVar(&o.bifrost, "bifrost", true, "build and run the Bifrost peer ("+peerModuleDir+"), skipped with a note if it does not build")
	flag.StringVar(&o.only, "only", "", "run one part only: coldstart (the cold-start measurement, no load phases)")
	flag.StringVar(&o.redis, "redis", firstEnv("OAIS_BENCH_REDIS_URL", "", "redis://127.0.0.1:6379/0"), "Redis for the PostgreSQL gateway's limits")
	flag.StringVar(&targets, "targets", "", "comma-separated targets to measure (e.g. \"bare proxy,gateway-sqlite\"); default all. For A/B runs of one suspect: not for docs/benchmarks.md")
	flag.StringVar(&gwEnv, "gateway-env", "", "comma-separated NAME=value settings added to every gateway's (e.g. OAIS_LOG_LEVEL=warn; BENCH_GOGC=off sets the gateway process's GOGC alone)")
	flag.Parse()

	if rf.role != "" {
		if err := runRole(rf); err != nil {
			fmt.Fprintln(os.Stderr, "oais-bench", rf.role+":", err)
			os.Exit(1)
		}
		return
	}
	for _, s := range strings.Split(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "oais-bench: bad -rates:", rates)
			os.Exit(2)
		}
		o.rates = append(o.rates, n)
	}
	if targets != "" {
		o.targets = map[string]bool{}
		for _, t := range strings.Split(targets, ",") {
			o.targets[strings.TrimSpace(t)] = true
		}
	}
	if gwEnv != "" {
		o.gwEnv = map[string]string{}
		for _, kv := range strings.Split(gwEnv, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				fmt.Fprintln(os.Stderr, "oais-bench: bad -gateway-env (want NAME=value,…):", kv)
				os.Exit(2)
			}
			o.gwEnv[strings.TrimSpace(k)] = v
		}
	}
	if o.phase == 0 {
		o.phase = 5 * time.Second
		if o.quick {
			o.phase = time.Second
		}
	}
	o.warm = min(time.Second, o.phase/8+200*time.Millisecond)
	if o.keys < 0 {
		o.keys = 200_000
		if o.quick {
			o.keys = 20_000
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runner := bench
	if o.only == "coldstart" {
		runner = runColdStart
	} else if o.only != "" {
		fmt.Fprintln(os.Stderr, "oais-bench: bad -only:", o.only)
		os.Exit(2)
	}
	if err := runner(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "oais-bench:", err)
		os.Exit(1)
	}
}

func firstEnv(a, b, def string) string {
	for _, k := range []string{a, b} {
		if v := os.Getenv(k); k != "" && v != "" {
			return v
		}
	}
	return def
}

// child is a running child process.
type child struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	addr    string
	control string
	stderr  *bytes.Buffer
}

// startChild runs this binary again in a role (-role …).
func startChild(ctx context.Context, name string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startProc(ctx, name, exe, args...)
}

// startProc runs exe, which speaks the child protocol (roles.go), and waits
// for its READY line.
func startProc(ctx context.Context, name, exe string, args ...string) (*child, error) {
	cmd := exec.Command(exe, args...)
	c := &child{name: name, cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "READY" {
				c.addr, c.control = f[1], f[2]
				ready <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- fmt.Errorf("%s exited before it was ready: %s", name, strings.TrimSpace(c.stderr.String()))
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Wait()
			return nil, err
		}
	case <-time.After(90 * time.Second):
		c.stop()
		return nil, fmt.Errorf("%s did not start in 90s", name)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
	return c, nil
}

// stop closes the child's stdin (it drains and writes its profiles) and
// kills it if it takes longer than 20s.
func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// trace writes a runtime/trace of the child's next d to path.
func (c *child) trace(path string, d time.Duration) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/trace?seconds=%g", c.control, d.Seconds()))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c *child) stats() (stats, error) {
	var st stats
	resp, err := http.Get("http://" + c.control + "/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// target is one thing the load is sent to.
type target struct {
	name string
	url  string // base, up to /v1
	proc *child // whose allocations are counted
	gw   bool
	// saturationOnly: a reference measured in the closed-loop phases only.
	saturationOnly bool
	// topAndSaturation: measured at saturation and at the highest open-loop
	// rate only (the channels row: what it adds to gateway-sqlite, kept
	// cheap in time).
	topAndSaturation bool
}

// skips reports whether t sits out load l (top is the highest open-loop rate).
func (t *target) skips(l load, top int) bool {
	switch {
	case t.saturationOnly:
		return l.rate > 0
	case t.topAndSaturation:
		return l.rate > 0 && l.rate != top
	}
	return false
}

var (
	plainBody  = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in eight words."}]}`)
	streamBody = []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in eight words."}]}`)
)

type load struct {
	name string
	rate int // open loop; 0 = closed loop
	conc int
}

func bench(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "oais-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{o.cpuprofile, o.memprofile, o.trace} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	m := machine()
	fmt.Printf("oais-bench: %s\n", m)
	// Build the peer before anything runs, so the compiler does not share
	// the CPUs with a measurement.
	peerBin, peerNote := "", "not run (-bifrost=false)"
	if o.bifrost {
		bin := filepath.Join(tmp, "bifrost-peer")
		took, err := buildPeer(ctx, bin)
		if err != nil {
			peerNote = fmt.Sprintf("skipped: %v", err)
		} else {
			peerBin = bin
			peerNote = fmt.Sprintf("`%s` (github.com/maximhq/bifrost/core %s on fasthttp), built in %.1f s", peerModuleDir, peerCoreVersion(), took.Seconds())
		}
		fmt.Printf("oais-bench: Bifrost peer %s\n", peerNote)
	}

	var children []*child
	defer func() {
		for _, c := range children {
			c.stop()
		}
	}()
	profArgs := func(name string) []string {
		var a []string
		if o.cpuprofile != "" {
			a = append(a, "-cpuprofile-file", filepath.Join(o.cpuprofile, name+".cpu.pprof"))
		}
		if o.memprofile != "" {
			a = append(a, "-memprofile-file", filepath.Join(o.memprofile, name+".alloc.pprof"))
		}
		return a
	}
	up, err := startChild(ctx, "upstream", "-role", "upstream")
	if err != nil {
		return err
	}
	children = append(children, up)
	upURL := "http://" + up.addr
	px, err := startChild(ctx, "proxy", append([]string{"-role", "proxy", "-upstream", upURL}, profArgs("proxy")...)...)
	if err != nil {
		return err
	}
	children = append(children, px)
	fx, err := startChild(ctx, "fasthttp proxy", append([]string{"-role", "fastproxy", "-upstream", upURL}, profArgs("fastproxy")...)...)
	if err != nil {
		return err
	}
	children = append(children, fx)
	hx, err := startChild(ctx, "hybrid proxy", append([]string{"-role", "hybridproxy", "-upstream", upURL}, profArgs("hybridproxy")...)...)
	if err != nil {
		return err
	}
	children = append(children, hx)
	targets := []*target{
		{name: "direct", url: upURL + "/v1", proc: up},
		{name: "bare proxy", url: "http://" + px.addr + "/v1", proc: px},
		{name: "fasthttp proxy", url: "http://" + fx.addr + "/v1", proc: fx, saturationOnly: true},
		{name: "hybrid proxy", url: "http://" + hx.addr + "/v1", proc: hx, saturationOnly: true},
	}
	if peerBin != "" {
		bf, err := startProc(ctx, "bifrost", peerBin, append([]string{"-upstream", upURL}, profArgs("bifrost")...)...)
		if err != nil {
			peerNote = fmt.Sprintf("skipped: %v", err)
			fmt.Printf("oais-bench: Bifrost peer %s\n", peerNote)
		} else {
			children = append(children, bf)
			targets = append(targets, &target{name: peerName, url: "http://" + bf.addr + "/v1", proc: bf})
		}
	}

	// The gateways: SQLite with in-process limits, PostgreSQL with Redis,
	// and SQLite again with three channels in front of the mock, so that
	// every request goes through the channel router (docs/routing.md).
	type gwSpec struct {
		name, db, redis string
		channels        []benchChannel
	}
	specs := []gwSpec{{name: "gateway-sqlite", db: "sqlite://" + filepath.Join(tmp, "oais.db")}}
	var pg *pgDatabase
	if o.postgres != "" {
		pg, err = createPG(ctx, o.postgres)
		if err != nil {
			fmt.Printf("oais-bench: PostgreSQL at %s unavailable, skipping it: %v\n", redactURL(o.postgres), err)
		} else {
			defer func() {
				if err := pg.drop(); err != nil {
					fmt.Fprintln(os.Stderr, "oais-bench: drop", pg.name+":", err)
				}
			}()
			ro, err := redis.ParseURL(o.redis)
			if err == nil {
				rc := redis.NewClient(ro)
				err = rc.Ping(ctx).Err()
				rc.Close()
			}
			if err != nil {
				fmt.Printf("oais-bench: Redis at %s unavailable (%v): the PostgreSQL gateway falls back to in-process limits\n", o.redis, err)
			}
			specs = append(specs, gwSpec{name: "gateway-postgres", db: pg.url, redis: o.redis})
		}
	}
	specs = append(specs, gwSpec{name: channelsTarget, db: "sqlite://" + filepath.Join(tmp, "oais-channels.db"), channels: benchChannels(upURL)})
	gwEnvs := map[string]map[string]string{}
	secrets := map[string]string{}
	for _, s := range specs {
		sec, err := seed(ctx, s.db, s.channels)
		if err != nil {
			return fmt.Errorf("%s: seed the database: %w", s.name, err)
		}
		// direct and the bare proxy get a key too (the mock ignores it),
		// so every target receives the same request bytes.
		secrets[s.name], secrets["direct"], secrets["bare proxy"], secrets["fasthttp proxy"], secrets["hybrid proxy"], secrets[peerName] = sec, sec, sec, sec, sec, sec
		env := map[string]string{
			"OAIS_DATABASE_URL":      s.db,
			"OAIS_UPSTREAM_BASE_URL": upURL + "/v1",
			"OAIS_SPOOL_DIR":         filepath.Join(tmp, s.name+"-spool"),
			"OAIS_LOG_FORMAT":        "json",
			"OAIS_LOG_LEVEL":         "info",
			"OAIS_MIGRATE_WAIT":      "10s",
			"BENCH_LOG_FILE":         filepath.Join(tmp, s.name+".log"),
		}
		if s.redis != "" {
			env["OAIS_REDIS_URL"] = s.redis
		}
		for k, v := range o.gwEnv {
			env[k] = v
		}
		if s.channels != nil {
			// The channels are on the mock's loopback address, which the
			// egress rule forbids unless the operator allows it.
			env["OAIS_UPSTREAM_ALLOWED_NETWORKS"] = loopback.String()
		}
		gwEnvs[s.name] = env
		envJSON, _ := json.Marshal(env)
		c, err := startChild(ctx, s.name, append([]string{"-role", "gateway", "-env", string(envJSON)}, profArgs(s.name)...)...)
		if err != nil {
			return err
		}
		children = append(children, c)
		targets = append(targets, &target{name: s.name, url: "http://" + c.addr + "/v1", proc: c, gw: true, topAndSaturation: s.channels != nil})
		if s.channels != nil {
			if err := checkRouted(ctx, "http://"+c.addr+"/v1/chat/completions", sec); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	loads := []load{}
	for _, r := range o.rates {
		loads = append(loads, load{name: fmt.Sprintf("open %d/s", r), rate: r})
	}
	if o.conc > 0 {
		loads = append(loads, load{name: fmt.Sprintf("closed c=%d", o.conc), conc: o.conc})
	}
	if o.targets != nil {
		var keep []*target
		for _, t := range targets {
			if o.targets[t.name] {
				keep = append(keep, t)
			}
		}
		targets = keep
	}
	top := o.rates[len(o.rates)-1]
	phases := 0
	for _, t := range targets {
		for _, l := range loads {
			if !t.skips(l, top) {
				phases += 2
			}
		}
	}
	fmt.Printf("oais-bench: %d targets × %d loads × plain/stream = %d phases of %v (+%v warm-up; the fasthttp proxy at saturation only, %s at saturation and %d/s)\n",
		len(targets), len(loads), phases, o.phase, o.warm, channelsTarget, top)

	var results []result
	answered := map[string]int{} // every 200, warm-ups included: what the ledger should hold
	for _, mode := range []string{"plain", "stream"} {
		body := plainBody
		if mode == "stream" {
			body = streamBody
		}
		for _, l := range loads {
			for _, t := range targets {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if t.skips(l, top) {
					continue
				}
				c := &client{hc: &http.Client{Transport: newTransport()}, url: t.url + "/chat/completions",
					body: body, secret: secrets[t.name], stream: mode == "stream"}
				runPhase := func(d time.Duration) ([]shot, time.Duration) {
					if l.rate > 0 {
						return openLoop(ctx, c, l.rate, d)
					}
					return closedLoop(ctx, c, l.conc, d)
				}
				warm, _ := runPhase(o.warm)
				for _, s := range warm {
					if !s.err {
						answered[t.name]++
					}
				}
				drain(t)
				before, err := t.proc.stats()
				if err != nil {
					return fmt.Errorf("%s: stats: %w", t.name, err)
				}
				pgBefore, redisBefore := serverCPU()
				traced := make(chan struct{})
				if o.trace != "" && l.rate == top && (t.gw || t.name == "bare proxy") {
					go func() {
						defer close(traced)
						time.Sleep(o.phase / 4)
						path := filepath.Join(o.trace, strings.ReplaceAll(t.name, " ", "-")+"."+mode+".trace")
						if err := t.proc.trace(path, min(3*time.Second, o.phase/2)); err != nil {
							fmt.Printf("oais-bench: %s: trace: %v\n", t.name, err)
						}
					}()
				} else {
					close(traced)
				}
				shots, elapsed := runPhase(o.phase)
				<-traced
				backlog := drain(t)
				pgAfter, redisAfter := serverCPU()
				after, err := t.proc.stats()
				if err != nil {
					return fmt.Errorf("%s: stats: %w", t.name, err)
				}
				c.hc.CloseIdleConnections()
				r := summarize(shots, elapsed)
				r.Target, r.Mode, r.Load, r.Rate, r.Conc, r.Backlog = t.name, mode, l.name, l.rate, l.conc, backlog
				if n := r.OK + r.Errors; n > 0 {
					r.BytesPerReq = float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
					r.AllocsPerReq = float64(after.Mallocs-before.Mallocs) / float64(n)
					r.CPUPerReq = time.Duration((after.CPUNanos - before.CPUNanos) / int64(n))
					r.PostgresCPUPerReq = max(0, (pgAfter-pgBefore)/time.Duration(n))
					r.RedisCPUPerReq = max(0, (redisAfter-redisBefore)/time.Duration(n))
					r.GCCPUPerReq = time.Duration((after.GCCPUNanos - before.GCCPUNanos) / int64(n))
				}
				r.GCPerSec = float64(after.NumGC-before.NumGC) / elapsed.Seconds()
				r.HeapMiB = float64(after.HeapAlloc) / (1 << 20)
				if n := after.NumGC - before.NumGC; n > 0 {
					r.GCCPUPerGC = time.Duration((after.GCCPUNanos - before.GCCPUNanos) / int64(n))
				}
				results = append(results, r)
				answered[t.name] += r.OK
				fmt.Printf("  %-16s %-6s %-12s %8.0f req/s  p50 %s  p99 %s  p99.9 %s  errors %d  CPU µs/req %.1f (PostgreSQL %.1f, Redis %.1f)  GC/s %.1f (%.1f ms CPU each, %.1f µs/req)  heap %.0f MiB\n",
					t.name, mode, l.name, r.RPS, ms(r.Lat[0]), ms(r.Lat[2]), ms(r.Lat[3]), r.Errors, us(r.CPUPerReq), us(r.PostgresCPUPerReq), us(r.RedisCPUPerReq), r.GCPerSec, float64(r.GCCPUPerGC)/1e6, us(r.GCCPUPerReq), r.HeapMiB)
			}
		}
	}

	// Stop the gateways (profiles are written on the way out), then count
	// what reached the ledgers.
	for _, c := range children {
		c.stop()
	}
	children = nil
	ledgers := map[string]int64{}
	for _, s := range specs {
		n, err := countUsage(ctx, s.db)
		if err != nil {
			fmt.Printf("oais-bench: %s: count usage rows: %v\n", s.name, err)
		}
		ledgers[s.name] = n
	}

	var cold *coldResult
	if pg != nil && o.keys > 0 {
		cold, err = coldStart(ctx, o, pg, gwEnvs["gateway-postgres"])
		if err != nil {
			fmt.Printf("oais-bench: cold start: %v\n", err)
		}
	}

	rep := report(o, m, peerNote, results, answered, ledgers, cold)
	fmt.Print("\n" + rep)
	if o.out != "" {
		if err := writeResults(o.out, rep); err != nil {
			return err
		}
		fmt.Printf("oais-bench: wrote the results section of %s\n", o.out)
	}
	return nil
}

// checkRouted sends one request to the channels gateway and checks that a
// channel answered it (x-oais-channel), so the row measures routing and
// not the gateway's global upstream. The key snapshot follows the database
// every 200 ms: the channels may take that long to arrive.
func checkRouted(ctx context.Context, url, secret string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(plainBody))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		ch := res.Header.Get("X-Oais-Channel")
		if res.StatusCode == http.StatusOK && ch != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no channel answered: status %d, x-oais-channel %q", res.StatusCode, ch)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// drain waits (at most 5s) until a gateway's spool has shipped everything
// to the ledger, so one phase's metering does not run in the next one's
// time; it returns the records still pending.
func drain(t *target) int64 {
	if !t.gw {
		return 0
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := t.proc.stats()
		if err != nil || st.Pending == 0 || time.Now().After(deadline) {
			return st.Pending
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }

func redactURL(s string) string {
	if i := strings.Index(s, "@"); i > 0 {
		if j := strings.Index(s, "://"); j > 0 && j < i {
			return s[:j+3] + "…" + s[i:]
		}
	}
	return s
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d CPUs (nproc), %s, %s %s/%s; load average at start %s", runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH, load)
}
