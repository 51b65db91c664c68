package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// countUsage counts the usage records the ledger at dbURL holds.
func countUsage(ctx context.Context, dbURL string) (int64, error) {
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	n, err := st.Ent.UsageEvent.Query().Count(viewer.SystemContext(ctx))
	return int64(n), err
}

type coldResult struct {
	Keys     int
	Insert   time.Duration
	Open     time.Duration
	RSS, HWM int64
	Loaded   int
	Base     *coldResult // the same process on the database before the bulk keys
}

// coldStart inserts o.keys keys into the PostgreSQL bench database and
// times a fresh gateway process's run.Open (migration check, spool,
// the whole key snapshot, prices), then reads its resident memory.
func coldStart(ctx context.Context, o options, pg *pgDatabase, env map[string]string) (*coldResult, error) {
	base, err := openOnce(ctx, env)
	if err != nil {
		return nil, err
	}
	fmt.Printf("oais-bench: cold start: inserting %d keys into PostgreSQL…\n", o.keys)
	ins, err := bulkKeys(ctx, pg.url, o.keys)
	if err != nil {
		return nil, err
	}
	r, err := openOnce(ctx, env)
	if err != nil {
		return nil, err
	}
	r.Keys, r.Insert, r.Base = o.keys, ins, base
	fmt.Printf("oais-bench: cold start with %d keys: open %v, RSS %d MiB (peak %d MiB); without them: open %v, RSS %d MiB\n",
		r.Loaded, r.Open, r.RSS>>20, r.HWM>>20, base.Open, base.RSS>>20)
	return r, nil
}

// runColdStart is `-only coldstart`: the cold-start measurement alone, on a
// fresh PostgreSQL bench database seeded as the full run seeds it, without
// the load phases (minutes shorter).
func runColdStart(ctx context.Context, o options) error {
	if o.postgres == "" || o.keys <= 0 {
		return fmt.Errorf("-only coldstart needs -postgres and -keys > 0")
	}
	pg, err := createPG(ctx, o.postgres)
	if err != nil {
		return err
	}
	defer func() {
		if err := pg.drop(); err != nil {
			fmt.Fprintln(os.Stderr, "oais-bench: drop", pg.name+":", err)
		}
	}()
	if _, err := seed(ctx, pg.url, nil); err != nil {
		return fmt.Errorf("seed the database: %w", err)
	}
	env := map[string]string{
		"OAIS_DATABASE_URL": pg.url,
		// Never called: the cold start does not serve. Set so the gateway
		// is configured as in the full run (not the built-in mock).
		"OAIS_UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1",
		"OAIS_LOG_FORMAT":        "json",
		"OAIS_LOG_LEVEL":         "info",
		"OAIS_MIGRATE_WAIT":      "10s",
	}
	if o.redis != "" {
		env["OAIS_REDIS_URL"] = o.redis
	}
	cold, err := coldStart(ctx, o, pg, env)
	if err != nil {
		return err
	}
	fmt.Print("\n" + coldReport(cold))
	return nil
}

// openOnce times run.Open in a fresh process.
func openOnce(ctx context.Context, env map[string]string) (*coldResult, error) {
	e := map[string]string{}
	for k, v := range env {
		e[k] = v
	}
	e["OAIS_SPOOL_DIR"] = filepath.Join(os.TempDir(), "oais-bench-cold-"+randHex(4))
	defer os.RemoveAll(e["OAIS_SPOOL_DIR"])
	delete(e, "BENCH_LOG_FILE")
	envJSON, _ := json.Marshal(e)
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, "-role", "coldstart", "-env", string(envJSON))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var st stats
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("%w: %q", err, out)
	}
	return &coldResult{Open: time.Duration(st.OpenMillis) * time.Millisecond, RSS: st.RSS, HWM: st.HWM, Loaded: st.Keys}, nil
}

func find(results []result, target, mode, load string) *result {
	for i := range results {
		r := &results[i]
		if r.Target == target && r.Mode == mode && r.Load == load {
			return r
		}
	}
	return nil
}

// us is d in microseconds.
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func metNot(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func report(o options, m, peer string, results []result, answered map[string]int, ledgers map[string]int64, cold *coldResult) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	flags := ""
	if o.quick {
		flags = " -quick"
	}
	p("Run `go run ./cmd/oais-bench%s` on %s.\n\n", flags, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("- Machine: %s.\n", m)
	p("- Each phase: %v of warm-up (not counted), then %v measured; open loop sends at a fixed rate whatever the answers do (no coordinated omission), closed loop keeps %d requests in flight.\n", o.warm, o.phase, o.conc)
	p("- Latency is from sending the request to the last byte of the answer; TTFB (streams) to the first byte of the body. Percentiles are exact (every latency kept and sorted). Added = target − direct at the same mode and rate.\n")
	p("- B/req and allocs/req: bytes and objects the target's process allocated during the phase (runtime.MemStats) ÷ requests, everything included: both bodies, logging, metrics, spool shipping. Requests are %d B (plain), answers ~560 B (plain) or 11 events (stream).\n", len(plainBody))
	p("- CPU µs/req: user + system CPU time of the target's process during the phase (getrusage) ÷ requests, shipping of the phase's usage included; less sensitive to what else the machine runs than req/s. It leaves out the PostgreSQL and Redis servers' own CPU.\n")
	p("- Bifrost peer: %s. vs Bifrost = the target's req/s (closed loop only: an open loop's rate is the offered one) and CPU µs/req, each ÷ the peer's at the same mode and load.\n\n", peer)

	p("| target | mode | load | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | added p50 / p99 / p99.9 ms | TTFB p50 / p99 ms | added TTFB p50 / p99 ms | B/req | allocs/req | CPU µs/req | vs Bifrost: req/s, CPU | errors |\n")
	p("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range results {
		added, ttfb, addedTTFB, vsPeer := "—", "—", "—", "—"
		d := find(results, "direct", r.Mode, r.Load)
		if r.Target != "direct" && r.Rate > 0 && d != nil {
			added = fmt.Sprintf("%s / %s / %s", ms(r.Lat[0]-d.Lat[0]), ms(r.Lat[2]-d.Lat[2]), ms(r.Lat[3]-d.Lat[3]))
			if r.Mode == "stream" {
				addedTTFB = fmt.Sprintf("%s / %s", ms(r.TTFB[0]-d.TTFB[0]), ms(r.TTFB[2]-d.TTFB[2]))
			}
		}
		if r.Mode == "stream" {
			ttfb = fmt.Sprintf("%s / %s", ms(r.TTFB[0]), ms(r.TTFB[2]))
		}
		if bf := find(results, peerName, r.Mode, r.Load); bf != nil && r.Target != peerName && bf.CPUPerReq > 0 {
			rps := "—" // an open loop's rate is the offered one
			if r.Rate == 0 {
				rps = ratio(r.RPS, bf.RPS)
			}
			vsPeer = rps + ", " + ratio(float64(r.CPUPerReq), float64(bf.CPUPerReq))
		}
		errs := fmt.Sprint(r.Errors)
		if r.Backlog > 0 {
			errs += fmt.Sprintf(" (spool backlog %d)", r.Backlog)
		}
		p("| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %.0f | %.1f | %.1f | %s | %s |\n",
			r.Target, r.Mode, r.Load, r.RPS, ms(r.Lat[0]), ms(r.Lat[1]), ms(r.Lat[2]), ms(r.Lat[3]),
			added, ttfb, addedTTFB, r.BytesPerReq, r.AllocsPerReq, us(r.CPUPerReq), vsPeer, errs)
	}

	sat := fmt.Sprintf("closed c=%d", o.conc)
	top := fmt.Sprintf("open %d/s", o.rates[len(o.rates)-1])
	b.WriteString(saturationTable(results, sat))
	b.WriteString(routingCost(results, sat, top))
	b.WriteString(scorecard(results, sat, top))

	p("\n#### Also measured\n\n")
	for _, gw := range []string{"gateway-sqlite", "gateway-postgres"} {
		g, x := find(results, gw, "plain", top), find(results, "bare proxy", "plain", top)
		if g != nil && x != nil {
			p("- %s: allocation per proxied plain request at %s: %.0f B in %.1f objects (bare proxy: %.0f B in %.1f objects); gateway minus proxy = %.0f B (target < 2 KB outside the body): %s.\n",
				gw, top, g.BytesPerReq, g.AllocsPerReq, x.BytesPerReq, x.AllocsPerReq, g.BytesPerReq-x.BytesPerReq, metNot(g.BytesPerReq-x.BytesPerReq < 2048))
		}
		if n, ok := ledgers[gw]; ok {
			p("- %s: metering: the ledger holds %d usage records for %d answered requests (warm-ups included).\n", gw, n, answered[gw])
		}
	}
	p("\n")
	if cold != nil {
		b.WriteString(coldReport(cold))
	}
	return b.String()
}

// coldReport is the cold-start paragraph of the report.
func coldReport(cold *coldResult) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	b0 := cold.Base
	open, rss := cold.Open, cold.RSS
	label := ""
	if cold.Keys < 1_000_000 {
		// Linear in the keys above the empty database's cost.
		f := 1e6 / float64(cold.Keys)
		open = b0.Open + time.Duration(float64(cold.Open-b0.Open)*f)
		rss = b0.RSS + int64(float64(cold.RSS-b0.RSS)*f)
		label = fmt.Sprintf(" **Extrapolated** linearly to 1,000,000 keys from this and the empty database: open ≈ %.1f s, RSS ≈ %d MiB.", open.Seconds(), rss>>20)
	}
	p("**Cold start** (PostgreSQL, %d active keys in %d workspaces, bulk-inserted in %v): a fresh gateway process's `run.Open` (migration check, spool, the whole key snapshot, prices) took **%.2f s** (%.2f s on the empty database); resident after a GC **%d MiB**, peak %d MiB (%d MiB empty).%s Targets (1,000,000 keys): open < 5 s: %s; < 300 MB resident: %s.\n",
		cold.Loaded, max(1, cold.Keys/100), cold.Insert.Round(time.Millisecond), cold.Open.Seconds(), b0.Open.Seconds(),
		cold.RSS>>20, cold.HWM>>20, b0.RSS>>20, label, metNot(open < 5*time.Second), metNot(rss < 300e6))
	return b.String()
}

const (
	beginMarker = "<!-- oais-bench:results:begin (written by `go run ./cmd/oais-bench -out docs/benchmarks.md`) -->"
	endMarker   = "<!-- oais-bench:results:end -->"
)

// writeResults replaces the results section of the markdown file at path
// (between the markers), creating the file or the section if needed.
func writeResults(path, rep string) error {
	section := beginMarker + "\n\n" + rep + "\n" + endMarker
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	switch {
	case i >= 0 && j > i:
		s = s[:i] + section + s[j+len(endMarker):]
	case len(s) == 0:
		s = "# Benchmarks\n\n## Results\n\n" + section + "\n"
	default:
		s = strings.TrimRight(s, "\n") + "\n\n## Results\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

// peerName is the Bifrost peer's target name.
const peerName = "bifrost"

// channelsTarget is the SQLite gateway with three channels (weights 1:2:1,
// one priority) in front of the mock: every request picked by the Router.
const channelsTarget = "gateway, 3 channels"

// routingCost puts the channels row beside gateway-sqlite, load by load,
// and states the difference in CPU per request: what routing costs.
func routingCost(results []result, sat, top string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	if find(results, channelsTarget, "plain", sat) == nil {
		return ""
	}
	p("\n#### The cost of routing: %s vs gateway-sqlite\n\n", channelsTarget)
	p("The same SQLite gateway, its bench workspace with three OpenAI-type channels at the mock (weights 1:2:1, one priority; created with `channels.Service.Create`), so every request is picked by the Router, retried nowhere (the mock never fails). docs/routing.md.\n\n")
	p("| mode | load | gateway-sqlite req/s | CPU µs/req | p99 ms | %s req/s | CPU µs/req | p99 ms | routing costs |\n", channelsTarget)
	p("|---|---|--:|--:|--:|--:|--:|--:|---|\n")
	for _, mode := range []string{"plain", "stream"} {
		for _, l := range []string{sat, top} {
			g, c := find(results, "gateway-sqlite", mode, l), find(results, channelsTarget, mode, l)
			if g == nil || c == nil {
				continue
			}
			d := us(c.CPUPerReq) - us(g.CPUPerReq)
			pct := 0.0
			if g.CPUPerReq > 0 {
				pct = 100 * d / us(g.CPUPerReq)
			}
			p("| %s | %s | %.0f | %.1f | %s | %.0f | %.1f | %s | %+.1f µs/req (%+.1f %%) |\n",
				mode, l, g.RPS, us(g.CPUPerReq), ms(g.Lat[2]), c.RPS, us(c.CPUPerReq), ms(c.Lat[2]), d, pct)
		}
	}
	if g, c := find(results, "gateway-sqlite", "plain", sat), find(results, channelsTarget, "plain", sat); g != nil && c != nil && g.CPUPerReq > 0 {
		d := us(c.CPUPerReq) - us(g.CPUPerReq)
		p("\nRouting costs **%.1f µs/req (%.1f %%)** of the gateway's CPU per plain request at saturation (%.1f vs %.1f µs/req; throughput %.2f× gateway-sqlite's).\n",
			d, 100*d/us(g.CPUPerReq), us(c.CPUPerReq), us(g.CPUPerReq), c.RPS/g.RPS)
	}
	return b.String()
}

// ratio is a/b as "1.23×", or "—" when b is 0.
func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// saturationTable puts every target's closed-loop figures side by side,
// with its throughput against the bare proxy and against the Bifrost peer.
func saturationTable(results []result, sat string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n#### At saturation (%s), side by side\n\n", sat)
	p("Throughput ratios are req/s ÷ req/s in this run; the CPU columns are each process's own; PG and Redis are the CPU of every PostgreSQL and every Redis server process on the machine (backends included, read from /proc around the phase, shipping of the phase's usage included) ÷ the target's requests: what the PostgreSQL gateway also costs, and the machine's background for the others.\n\n")
	p("| target | plain req/s | CPU µs/req | PG, Redis µs/req | vs bare proxy | vs Bifrost | stream req/s | CPU µs/req | PG, Redis µs/req | vs bare proxy | vs Bifrost |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, t := range []string{"direct", "bare proxy", "fasthttp proxy", "hybrid proxy", peerName, "gateway-sqlite", "gateway-postgres", channelsTarget} {
		if find(results, t, "plain", sat) == nil {
			continue
		}
		p("| %s", t)
		for _, mode := range []string{"plain", "stream"} {
			r, x, bf := find(results, t, mode, sat), find(results, "bare proxy", mode, sat), find(results, peerName, mode, sat)
			if r == nil {
				p(" | — | — | — | — | —")
				continue
			}
			vsX, vsB := "—", "—"
			if x != nil && t != "bare proxy" {
				vsX = ratio(r.RPS, x.RPS)
			}
			if bf != nil && t != peerName {
				vsB = ratio(r.RPS, bf.RPS)
			}
			p(" | %.0f | %.1f | %.1f, %.1f | %s | %s", r.RPS, us(r.CPUPerReq), us(r.PostgresCPUPerReq), us(r.RedisCPUPerReq), vsX, vsB)
		}
		p(" |\n")
	}
	return b.String()
}

// scorecard checks issue 18's targets against this run's figures: met, or
// the measured gap.
func scorecard(results []result, sat, top string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n#### Issue 18's targets (measured in this run)\n\n")
	p("| target | measured | status |\n|---|---|---|\n")
	// atLeast is a throughput target: a at least want × b.
	atLeast := func(what string, a, bb *result, aName, bName string, want float64) {
		if a == nil || bb == nil {
			p("| %s | not measured (%s or %s missing) | — |\n", what, aName, bName)
			return
		}
		r := a.RPS / bb.RPS
		status := "**met**"
		if r < want {
			status = fmt.Sprintf("**not met**: %.0f req/s short (+%.0f %%)", want*bb.RPS-a.RPS, 100*(want*bb.RPS/a.RPS-1))
		}
		p("| %s | %s %.0f vs %s %.0f req/s = **%.2f×** | %s |\n", what, aName, a.RPS, bName, bb.RPS, r, status)
	}
	sqlite, pg := "gateway-sqlite", "gateway-postgres"
	atLeast("SQLite gateway, plain, ≥ 1.0× Bifrost core", find(results, sqlite, "plain", sat), find(results, peerName, "plain", sat), sqlite, peerName, 1.0)
	atLeast("SQLite gateway, plain, ≥ 1.1× bare `net/http` proxy", find(results, sqlite, "plain", sat), find(results, "bare proxy", "plain", sat), sqlite, "bare proxy", 1.1)
	for _, gw := range []string{sqlite, pg} {
		if find(results, gw, "stream", sat) != nil {
			atLeast(gw+", streams, ≥ 1.0× bare proxy", find(results, gw, "stream", sat), find(results, "bare proxy", "stream", sat), gw, "bare proxy", 1.0)
		}
	}
	if find(results, pg, "plain", sat) != nil {
		for _, mode := range []string{"plain", "stream"} {
			atLeast("PostgreSQL + Redis gateway ≥ 0.9× SQLite gateway, "+mode, find(results, pg, mode, sat), find(results, sqlite, mode, sat), pg, sqlite, 0.9)
		}
	}
	const slack = 500 * time.Microsecond
	for _, gw := range []string{sqlite, pg} {
		for _, mode := range []string{"plain", "stream"} {
			g, x := find(results, gw, mode, top), find(results, "bare proxy", mode, top)
			if g == nil || x == nil {
				continue
			}
			var parts, over []string
			for _, q := range []struct {
				name string
				i    int
			}{{"p99", 2}, {"p99.9", 3}} {
				limit := x.Lat[q.i] + slack
				parts = append(parts, fmt.Sprintf("%s %s vs %s + 0.5 ms", q.name, ms(g.Lat[q.i]), ms(x.Lat[q.i])))
				if g.Lat[q.i] > limit {
					over = append(over, fmt.Sprintf("%s over by %s ms", q.name, ms(g.Lat[q.i]-limit)))
				}
			}
			status := "**met**"
			if len(over) > 0 {
				status = "**not met**: " + strings.Join(over, ", ")
			}
			p("| %s, %s: p99 and p99.9 at %s ≤ bare proxy + 0.5 ms | %s | %s |\n", gw, mode, top, strings.Join(parts, "; "), status)
		}
	}
	for _, gw := range []string{sqlite, pg} {
		for _, mode := range []string{"plain", "stream"} {
			g, x := find(results, gw, mode, sat), find(results, "bare proxy", mode, sat)
			if g == nil || x == nil || x.CPUPerReq == 0 {
				continue
			}
			r := float64(g.CPUPerReq) / float64(x.CPUPerReq)
			status := "**met**"
			if r > 1.2 {
				status = fmt.Sprintf("**not met**: %.1f µs/req over", us(g.CPUPerReq)-1.2*us(x.CPUPerReq))
			}
			note := ""
			if gw == pg {
				note = fmt.Sprintf(" (the gateway process only; the PostgreSQL and Redis servers spent %.1f and %.1f µs/req more)", us(g.PostgresCPUPerReq), us(g.RedisCPUPerReq))
			}
			p("| %s, %s: CPU µs/req at saturation ≤ 1.2× bare proxy | %.1f vs %.1f µs = **%.2f×**%s | %s |\n", gw, mode, us(g.CPUPerReq), us(x.CPUPerReq), r, note, status)
		}
	}
	return b.String()
}
