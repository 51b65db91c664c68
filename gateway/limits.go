package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oais/oais/gateway/ratelimit"
	"github.com/oais/oais/gateway/tokens"
	"github.com/oais/oais/internal/usage"
)

// settleTimeout bounds the book-keeping after an answer; it runs detached
// from the client, who may be gone.
const settleTimeout = 5 * time.Second

func (c *call) add(scope limitScope, key string, limit int64, window time.Duration, cost int64) {
	c.counters[c.nc] = ratelimit.Counter{Key: key, Limit: limit, Window: window, Cost: cost}
	c.scopes[c.nc] = scope
	c.nc++
}

// addBudget adds a cumulative counter that starts from (or is raised to)
// floor: what the ledger says it has used.
func (c *call) addBudget(scope limitScope, key string, limit, cost, floor int64) {
	c.add(scope, key, limit, 0, cost)
	c.counters[c.nc-1].Floor = floor
}

// BudgetFloors is what the ledger and the unshipped spool say the budgets
// have used so far: each workspace's tokens and cost in Month, each key's
// answered requests since its count was last reset (in the generation
// KeyRequestGens names, see KeyPolicy.RequestGen) and its cost (all
// time). A budget counter starts from its floor
// when it is missing (Redis flushed, evicted or restarted) and is raised
// to it when behind (a settlement dropped while Redis was unreachable,
// usage counted on another replica's local limiter during an outage).
// A floor must never exceed what was really used (see
// ratelimit.Counter.Floor); gateway/run computes them.
type BudgetFloors struct {
	Month          string // "2006-01", UTC
	Workspaces     map[string]MonthUsage
	KeyRequests    map[string]int64
	KeyRequestGens map[string]int64 // absent: 0, never reset
	KeyCostMicros  map[string]int64
}

// MonthUsage is what a workspace used in a month.
type MonthUsage struct {
	Tokens     int64 // prompt plus completion
	CostMicros int64
}

// SetBudgetFloors replaces the floors every later reservation passes on.
func (g *Gateway) SetBudgetFloors(f *BudgetFloors) { g.floors.Store(f) }

// keyFloor is a key's request budget's floor: the higher of the key
// snapshot's count and fl's, when fl counts the same generation (a floor
// read before a reset must not fill the new budget again).
func keyFloor(key *KeyPolicy, fl *BudgetFloors) int64 {
	if fl == nil || fl.KeyRequestGens[key.ID] != key.RequestGen {
		return key.State.RequestCount
	}
	return max(key.State.RequestCount, fl.KeyRequests[key.ID])
}

// creditFloor is a key's credit budget's floor: the higher of the key
// snapshot's spend and fl's.
func creditFloor(key *KeyPolicy, fl *BudgetFloors) int64 {
	if fl == nil {
		return key.CreditUsedMicros
	}
	return max(key.CreditUsedMicros, fl.KeyCostMicros[key.ID])
}

// monthFloor is a workspace's monthly budgets' floors for month: the
// higher of the key snapshot's totals and fl's.
func monthFloor(ws *WorkspacePolicy, month string, fl *BudgetFloors) MonthUsage {
	var used MonthUsage
	if ws.UsagePeriod == month {
		used = MonthUsage{Tokens: ws.TokensThisMonth, CostMicros: ws.SpendThisMonthMicros}
	}
	if fl != nil && fl.Month == month {
		u := fl.Workspaces[ws.ID]
		used = MonthUsage{Tokens: max(used.Tokens, u.Tokens), CostMicros: max(used.CostMicros, u.CostMicros)}
	}
	return used
}

// chargeCached counts an answer from the response cache (of tokens
// prompt and completion tokens) in the month's token budget, as the
// ledger does (it costs nothing), so that the counters stay a cache of the
// ledger; the key's request budget took the hit already, with its
// reservation. It does not wait: ChargeAsync copies what it needs from
// the one counter it is given, a slot of c's that the hit's reservation
// leaves unused.
func (g *Gateway) chargeCached(c *call, tokens int64) {
	ch, ok := g.deps.Limiter.(ratelimit.Charger)
	ws := c.p.Workspace
	if !ok || ws.MonthlyTokenQuota <= 0 || tokens <= 0 || c.nc >= len(c.counters) {
		return
	}
	wk := g.wsNames.of(ws.ID, "ws:", ws.ID, 0, c.now)
	floor := monthFloor(ws, wk.month, g.floors.Load()).Tokens
	c.counters[c.nc] = ratelimit.Counter{Key: wk.tokens, Limit: ws.MonthlyTokenQuota, Cost: tokens, Floor: floor}
	ch.ChargeAsync(c.counters[c.nc:c.nc+1], ignoreCharge)
}

// ignoreCharge drops a charge's error: a charge Redis did not take comes
// back with the ledger's floor.
func ignoreCharge(error) {}

// reserve is step 8: one Reserve over every limit that applies. A cache
// hit is a request that costs no tokens: it reserves the request counters
// only (RPM, and the key's maxRequests), never TPM, quota or spend.
func (g *Gateway) reserve(c *call, cacheHit bool) error {
	ws, key := c.p.Workspace, &c.p.Key
	costs := !cacheHit
	est := c.prompt + c.maxOut // both bounded (maxReservedTokens, body size): no overflow
	// Counter keys follow ratelimit.Counter's convention; the month is in
	// a budget's key, so a new month starts from zero. They are built once
	// per workspace, key and month, not per request.
	wk := g.wsNames.of(ws.ID, "ws:", ws.ID, 0, c.now)
	c.add(scopeWorkspaceRPM, wk.rpm, ws.RPM, time.Minute, 1)
	if costs {
		c.add(scopeWorkspaceTPM, wk.tpm, ws.TPM, time.Minute, est)
	}
	var kk *counterNames
	credit := costs && key.CreditQuotaMicros > 0 && c.priced
	if c.rpm > 0 || c.tpm > 0 || key.State.MaxRequests > 0 || credit {
		kk = g.keyNames.of(key.ID, "key:", ws.ID, key.RequestGen, c.now)
	}
	// c.rpm and c.tpm are the key's own limits, else its group's.
	if c.rpm > 0 {
		c.add(scopeKeyRPM, kk.rpm, c.rpm, time.Minute, 1)
	}
	if costs && c.tpm > 0 {
		c.add(scopeKeyTPM, kk.tpm, c.tpm, time.Minute, est)
	}
	ctx := c.client
	// Budgets carry their floors with the reservation, so a counter that
	// Redis lost starts again from the ledger in the same script that
	// decides the request: none is ever seen as 0.
	fl := g.floors.Load()
	if key.State.MaxRequests > 0 {
		c.addBudget(scopeKeyRequests, kk.req, key.State.MaxRequests, 1, keyFloor(key, fl))
	}
	// The key's credit quota is reserved and settled as the workspace's
	// spend cap is (worst case in, actual cost out), but all time: its
	// counter has no month, and its floor is the key's whole cost.
	if credit {
		c.addBudget(scopeKeyCredit, kk.credit, key.CreditQuotaMicros, c.worstCase(), creditFloor(key, fl))
	}
	if costs && (ws.MonthlyTokenQuota > 0 || (ws.MonthlySpendCapMicros > 0 && c.priced)) {
		used := monthFloor(ws, wk.month, fl)
		if ws.MonthlyTokenQuota > 0 {
			c.addBudget(scopeWorkspaceTokens, wk.tokens, ws.MonthlyTokenQuota, est, used.Tokens)
		}
		if ws.MonthlySpendCapMicros > 0 && c.priced {
			c.addBudget(scopeWorkspaceSpend, wk.spend, ws.MonthlySpendCapMicros, c.worstCase(), used.CostMicros)
		}
	}
	var err error
	if g.into != nil {
		// Into the call's own reservation: no allocation per request.
		if err = g.into.ReserveInto(ctx, c.counters[:c.nc], &c.resvBuf); err == nil {
			c.resv = &c.resvBuf
			return nil
		}
	} else if c.resv, err = g.deps.Limiter.Reserve(ctx, c.counters[:c.nc]); err == nil {
		return nil
	}
	var d *ratelimit.Denied
	if errors.As(err, &d) && d.Index >= 0 && d.Index < c.nc {
		scope := c.scopes[d.Index]
		g.metrics.ratelimited.WithLabelValues(string(scope)).Inc()
		return &limitError{scope: scope, denied: d}
	}
	if ctx.Err() != nil {
		return errClientGone
	}
	// Fail closed: a gateway that cannot count must not serve unmetered.
	g.log.LogAttrs(ctx, slog.LevelError, "rate limiter failed", slog.String("request_id", c.publicID), slog.Any("err", err))
	return ErrUnavailable
}

// setLimitHeaders writes OpenAI's x-ratelimit-* headers from the tightest
// windowed request and token counters that have a limit.
func (g *Gateway) setLimitHeaders(h http.Header, states []ratelimit.State, c *call) {
	req, tok := -1, -1
	for i := 0; i < c.nc && i < len(states); i++ {
		if states[i].Limit <= 0 {
			continue
		}
		switch c.scopes[i] {
		case scopeWorkspaceRPM, scopeKeyRPM:
			if req < 0 || states[i].Remaining < states[req].Remaining {
				req = i
			}
		case scopeWorkspaceTPM, scopeKeyTPM:
			if tok < 0 || states[i].Remaining < states[tok].Remaining {
				tok = i
			}
		}
	}
	// With no limit configured the headers are still sent (clients and
	// dashboards expect them on every answer), showing unlimitedHeader.
	// The numbers set here share one string and one backing array, instead
	// of a string and a slice per header.
	var buf [96]byte
	b := buf[:0]
	var ends [6]int
	if req >= 0 {
		b = appendLimitValues(b, states[req], ends[0:3])
	}
	if tok >= 0 {
		b = appendLimitValues(b, states[tok], ends[3:6])
	}
	var all string
	var vals *[6][1]string
	if len(b) > 0 {
		all = string(b)
		vals = new([6][1]string)
	}
	value := func(i int) []string {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		vals[i][0] = all[start:ends[i]]
		return vals[i][:]
	}
	if req >= 0 {
		h["X-Ratelimit-Limit-Requests"] = value(0)
		h["X-Ratelimit-Remaining-Requests"] = value(1)
		h["X-Ratelimit-Reset-Requests"] = value(2)
	} else {
		h["X-Ratelimit-Limit-Requests"] = unlimitedValue
		h["X-Ratelimit-Remaining-Requests"] = unlimitedValue
		h["X-Ratelimit-Reset-Requests"] = zeroReset
	}
	if tok >= 0 {
		h["X-Ratelimit-Limit-Tokens"] = value(3)
		h["X-Ratelimit-Remaining-Tokens"] = value(4)
		h["X-Ratelimit-Reset-Tokens"] = value(5)
	} else {
		h["X-Ratelimit-Limit-Tokens"] = unlimitedValue
		h["X-Ratelimit-Remaining-Tokens"] = unlimitedValue
		h["X-Ratelimit-Reset-Tokens"] = zeroReset
	}
}

// appendLimitValues appends s's limit, remaining and reset header values
// to b, recording in ends where each of them ends in b.
func appendLimitValues(b []byte, s ratelimit.State, ends []int) []byte {
	b = strconv.AppendInt(b, s.Limit, 10)
	ends[0] = len(b)
	b = strconv.AppendInt(b, max(s.Remaining, 0), 10)
	ends[1] = len(b)
	b = append(b, resetString(s.Reset)...)
	ends[2] = len(b)
	return b
}

// unlimitedHeader is what the x-ratelimit-* headers show when no limit of
// that kind applies: a number every client parses, and none will reach.
const unlimitedHeader = "2147483647"

// Shared, never modified: the header map takes them without allocating.
var (
	unlimitedValue = []string{unlimitedHeader}
	zeroReset      = []string{"0s"}
)

// resetString formats a reset the way OpenAI does ("1s", "6m0s", "20ms"),
// which is Go's Duration format at millisecond precision.
func resetString(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return d.Round(time.Millisecond).String()
}

// settle is step 10: it works out the usage of a proxied call, settles the
// reservation with it and appends the usage record.
func (g *Gateway) settle(c *call, w *respWriter, aborted bool) {
	clientGone := c.client.Err() != nil
	c.status = w.status
	if clientGone {
		c.err = errClientGone
	}
	actual := c.actual[:c.nc]
	// Every admitted request spends a request of the rates, answered or
	// not: one whose upstream refused or failed used the upstream (and its
	// shared key) too. Only tokens, money and the key's maxRequests (which
	// counts answers, as the ledger does) are given back below.
	for i := 0; i < c.nc; i++ {
		if s := c.scopes[i]; s == scopeWorkspaceRPM || s == scopeKeyRPM {
			actual[i] = 1
		}
	}
	defer g.settleReservation(c, actual)

	var prompt, completion, cached int64
	source, reason := usage.SourceUpstream, ""
	// The prompt as the gateway counted it: bounded by the body size, and
	// by usage.MaxTokens in case a gateway allows huge bodies.
	ownPrompt := min(c.prompt, usage.MaxTokens)
	switch {
	case c.upstreamStatus == 0:
		if c.proxyErr != nil && c.proxyErr != errClientGone {
			c.err = c.proxyErr
			return // 502/504: nothing was answered
		}
		if c.x == nil || !c.x.wrote.Load() {
			return // the client left before the upstream got the request
		}
		// The client left while the upstream was working on its prompt:
		// the prompt was paid for upstream, so it is billed.
		prompt, source, reason = ownPrompt, usage.SourceEstimated, usage.ReasonClientDisconnected
	case c.upstreamStatus < 200 || c.upstreamStatus >= 300:
		return // upstream errors pass through unbilled
	default:
		var res *meterResult
		if c.sse != nil {
			res = c.sse.result()
		} else if c.js != nil {
			res = c.js.result()
		}
		switch {
		case res != nil && res.hasUsage && res.usage.plausible():
			u := &res.usage
			// A cached count above the prompt is clamped, as Cost does.
			prompt, completion, cached = u.PromptTokens, u.CompletionTokens, min(u.cached(), u.PromptTokens)
		case res != nil && res.hasUsage:
			// Absurd counts: bill what the gateway can vouch for, the
			// prompt it sent and the text it relayed, and say so.
			source, reason = usage.SourceEstimated, usage.ReasonImplausibleUsage
			prompt, completion = ownPrompt, estimateText(c.req.Model, res.text, res.textBytes)
			g.implausibleUsage(c, &res.usage)
		default:
			source, reason = usage.SourceEstimated, usage.ReasonNoUpstreamUsage
			if clientGone {
				reason = usage.ReasonClientDisconnected
			}
			prompt = ownPrompt
			if res != nil {
				completion = estimateText(c.req.Model, res.text, res.textBytes)
			}
		}
	}
	if c.ch != nil {
		g.router.Used(c.ch, prompt+completion)
	}
	var cost int64
	if c.priced {
		cost = c.cost(prompt, cached, completion)
	}
	status := c.status
	if status == 0 {
		status = StatusClientClosed
	}
	for i := 0; i < c.nc; i++ {
		switch c.scopes[i] {
		case scopeWorkspaceRPM, scopeKeyRPM:
			actual[i] = 1
		case scopeKeyRequests:
			// As the ledger counts a key's requests: answered ones.
			if status < 400 {
				actual[i] = 1
			}
		case scopeWorkspaceTPM, scopeKeyTPM, scopeWorkspaceTokens:
			actual[i] = prompt + completion
		case scopeWorkspaceSpend, scopeKeyCredit:
			actual[i] = cost
		}
	}
	rec := g.newRecord(c, status)
	rec.PromptTokens, rec.CompletionTokens, rec.CachedTokens = prompt, completion, cached
	rec.CostMicros, rec.Source, rec.EstimateReason = cost, source, reason
	c.rec = rec
	if err := g.deps.Recorder.Append(rec); err != nil {
		g.recordFailed(c, err)
	}

	if source == usage.SourceUpstream && !aborted && !clientGone && w.captured() && c.status == http.StatusOK {
		ct := w.Header().Get("Content-Type")
		if c.cacheKey != "" && c.p.Key.CacheTTL > 0 {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.client), settleTimeout)
			defer cancel()
			e := StoredAnswer{Status: http.StatusOK, ContentType: ct, Body: w.capturedBody(), PromptTokens: prompt, CompletionTokens: completion}
			if err := g.deps.Cache.Set(ctx, c.cacheKey, e, c.p.Key.CacheTTL); err != nil {
				g.log.LogAttrs(ctx, slog.LevelWarn, "response cache set failed", slog.String("request_id", c.publicID), slog.Any("err", err))
			}
		}
		if c.finishID != nil {
			c.finishID(&StoredAnswer{Status: c.status, ContentType: ct, Body: w.capturedBody()})
			c.finishID = nil
		}
	}
}

// settleReservation settles c's reservation with actual. A shared
// limiter's settlement is a network round trip: it runs off the request
// path, a moment later, still exactly once; Close waits for the ones under
// way. It never keeps c: AsyncSettler copies what it needs.
func (g *Gateway) settleReservation(c *call, actual []int64) {
	if g.settler != nil {
		g.settling.Add(1)
		id := c.publicID
		g.settler.SettleAsync(c.resv, actual, func(err error) {
			if err != nil {
				g.settleFailed(context.Background(), id, err)
			}
			g.settling.Done()
		})
		return
	}
	ctx := context.WithoutCancel(c.client)
	if !g.localLimiter {
		// The in-process limiter needs no deadline; any other may do I/O.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, settleTimeout)
		defer cancel()
	}
	if err := g.deps.Limiter.Settle(ctx, c.resv, actual); err != nil {
		g.settleFailed(ctx, c.publicID, err)
	}
}

func (g *Gateway) settleFailed(ctx context.Context, id string, err error) {
	g.log.LogAttrs(ctx, slog.LevelWarn, "settling a reservation failed", slog.String("request_id", id), slog.Any("err", err))
}

// estimateText counts the tokens of relayed text kept JSON-escaped, scaled
// up when more was relayed than was kept, and at most usage.MaxTokens.
func estimateText(model string, escaped []byte, total int64) int64 {
	if len(escaped) == 0 {
		return 0
	}
	var s string
	quoted := make([]byte, 0, len(escaped)+2)
	quoted = append(append(append(quoted, '"'), escaped...), '"')
	if json.Unmarshal(quoted, &s) != nil {
		s = string(escaped) // cut inside an escape: close enough
	}
	n := int64(tokens.CountTextFor(model, s))
	if total > int64(len(escaped)) {
		n = scale(n, total, int64(len(escaped)))
	}
	return min(max(n, 1), usage.MaxTokens)
}

// implausibleUsage counts an upstream's absurd usage report and logs it,
// at most once a minute per workspace: a hostile upstream answers every
// request so, and one line a minute says as much as a line each.
func (g *Gateway) implausibleUsage(c *call, u *upstreamUsage) {
	ws := c.p.Workspace.ID
	g.metrics.implausible.WithLabelValues(ws).Inc()
	if !g.usageWarned.allow(ws, g.cfg.Now()) {
		return
	}
	upstream := "global"
	if c.p.Workspace.Upstream != nil {
		upstream = "workspace"
	}
	g.log.LogAttrs(context.Background(), slog.LevelWarn,
		"implausible upstream usage refused: billed the gateway's own estimate instead (more may follow this minute; see oais_gateway_implausible_usage_total)",
		slog.String("request_id", c.publicID), slog.String("workspace_id", ws), slog.String("model", c.req.Model),
		slog.String("upstream", upstream), slog.Int64("reported_prompt_tokens", u.PromptTokens),
		slog.Int64("reported_completion_tokens", u.CompletionTokens), slog.Int64("reported_cached_tokens", u.cached()),
		slog.Bool("reported_non_integer", u.malformed))
}

// minuteGate lets one event per key through per clock minute. It forgets
// everything when it holds maxCounterNames keys, so keys that come and go
// cannot grow it without bound (a forgotten key may log once more).
type minuteGate struct {
	m sync.Map // key -> *atomic.Int64: the minute last let through, plus one
	n atomic.Int64
}

func (mg *minuteGate) allow(key string, now time.Time) bool {
	minute := now.Unix()/60 + 1 // zero means never
	v, loaded := mg.m.LoadOrStore(key, new(atomic.Int64))
	if !loaded && mg.n.Add(1) > maxCounterNames {
		mg.m.Clear()
		mg.n.Store(0)
	}
	last := v.(*atomic.Int64)
	old := last.Load()
	return old != minute && last.CompareAndSwap(old, minute)
}

// newRecord fills c's own usage record: Recorder.Append does not keep it,
// so it needs no allocation of its own.
func (g *Gateway) newRecord(c *call, status int) *usage.Record {
	r := &c.recBuf
	*r = usage.Record{
		RequestID:     c.id,
		WorkspaceID:   c.p.Workspace.ID,
		KeyID:         c.p.Key.ID,
		Model:         c.req.Model,
		Endpoint:      c.ep.path,
		Stream:        c.stream,
		Status:        status,
		LatencyMillis: g.cfg.Now().Sub(c.start).Milliseconds(),
		Time:          g.cfg.Now().UTC(),
	}
	if c.clientIP.IsValid() {
		r.ClientIP = c.clientIP.String()
	}
	if c.ch != nil && c.upstreamStatus != 0 {
		r.Channel = c.ch.Name
	}
	return r
}

func (g *Gateway) recordFailed(c *call, err error) {
	g.metrics.recordErrors.Inc()
	g.log.LogAttrs(context.Background(), slog.LevelError, "usage record not kept",
		slog.String("request_id", c.publicID), slog.String("workspace_id", c.p.Workspace.ID),
		slog.String("key_id", c.p.Key.ID), slog.Any("err", err))
}

// finish is step 11: metrics and the access-log line. It runs deferred, so
// it sees refusals, answers and aborted streams alike.
func (g *Gateway) finish(c *call, w *respWriter, r *http.Request) {
	if c.finishID != nil {
		c.finishID(nil)
	}
	status := c.status
	if status == 0 {
		status = w.status
	}
	if c.client.Err() != nil || errors.Is(c.err, errClientGone) {
		status = StatusClientClosed
	}
	if status == 0 {
		status = http.StatusOK
	}
	var code string // the error.code the client got, once for the record and the log
	if c.err != nil {
		code = wireError(c.err).code
	}
	g.recordError(c, status, code)
	end := g.cfg.Now()
	total := end.Sub(c.start)
	var upstream time.Duration
	if !c.upstreamStart.IsZero() && !c.upstreamDone.IsZero() {
		upstream = c.upstreamDone.Sub(c.upstreamStart)
		g.metrics.upstream.Observe(upstream.Seconds())
	}
	g.metrics.added.Observe((total - upstream).Seconds())
	ws, model := "", ""
	if c.p != nil {
		ws = c.p.Workspace.ID
		model = g.modelLabel(c.p, c.req.Model)
	}
	g.metrics.requests.WithLabelValues(ws, model, statusLabel(status)).Inc()

	if !g.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	var buf [18]slog.Attr // on the stack: AddAttrs copies
	attrs := append(buf[:0],
		slog.String("request_id", c.publicID),
		slog.String("method", r.Method),
		slog.String("path", c.ep.path),
		slog.Int("status", status),
		slog.Duration("duration", total),
	)
	if c.id != c.publicID {
		attrs = append(attrs, slog.String("usage_id", c.id))
	}
	if c.p != nil {
		attrs = append(attrs, slog.String("workspace_id", ws), slog.String("key_id", c.p.Key.ID))
	}
	if c.req.Model != "" {
		attrs = append(attrs, slog.String("model", c.req.Model), slog.Bool("stream", c.stream))
	}
	if c.clientIP.IsValid() {
		attrs = append(attrs, slog.String("client_ip", c.clientIP.String()))
	}
	if upstream > 0 {
		attrs = append(attrs, slog.Duration("upstream", upstream), slog.Int("upstream_status", c.upstreamStatus))
	}
	if c.rec != nil {
		attrs = append(attrs, slog.Int64("prompt_tokens", c.rec.PromptTokens), slog.Int64("completion_tokens", c.rec.CompletionTokens),
			slog.String("usage_source", string(c.rec.Source)))
	}
	if c.cacheHit {
		attrs = append(attrs, slog.Bool("cache_hit", true))
	}
	if c.err != nil {
		attrs = append(attrs, slog.String("error_code", code))
	}
	// Handed to the handler directly: Logger.LogAttrs would take the
	// caller's stack (runtime.Callers) for a source the line never prints,
	// ~0.6 % of the gateway's CPU.
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	rec.AddAttrs(attrs...)
	_ = g.log.Handler().Handle(r.Context(), rec)
}

var statusLabels = func() map[int]string {
	m := make(map[int]string)
	for s := 100; s < 600; s++ {
		m[s] = strconv.Itoa(s)
	}
	return m
}()

func statusLabel(s int) string {
	if l, ok := statusLabels[s]; ok {
		return l
	}
	return strconv.Itoa(s)
}

// counterNames are the limiter's counter keys of one workspace or key for
// one month (and, for a key, one generation of its request budget), built
// once instead of on every request. Every key carries its workspace's id
// as a Redis Cluster hash tag ("ws:{ws_…}:rpm", "key:{ws_…}:key_…:req"),
// so that all the counters of one request hash to one slot and can be one
// script call (gateway/ratelimit), while workspaces spread over the
// cluster's masters.
type counterNames struct {
	month                        string // "2006-01", UTC
	gen                          int64  // KeyPolicy.RequestGen
	rpm, tpm, req, tokens, spend string
	credit                       string // all time: no month
}

// counterNameCache maps a workspace's or a key's id to its *counterNames. It is
// dropped whole when it grows past maxCounterNames, so ids that come and
// go cannot grow it without bound.
type counterNameCache struct {
	m sync.Map
	n atomic.Int64
}

const maxCounterNames = 1 << 16

// of returns the counter keys of id (a workspace's or a key's) in the
// month of now and generation gen of a key's request budget: prefix, then
// ws, the workspace's id, as the hash tag, then id unless it is ws.
func (cc *counterNameCache) of(id, prefix, ws string, gen int64, now time.Time) *counterNames {
	y, mo, _ := now.UTC().Date()
	var mk [7]byte
	month := appendMonth(mk[:0], y, mo)
	if v, ok := cc.m.Load(id); ok {
		if n := v.(*counterNames); n.month == string(month) && n.gen == gen {
			return n
		}
	}
	base := prefix + "{" + ws + "}"
	if id != ws {
		base += ":" + id
	}
	n := &counterNames{
		month:  string(month),
		gen:    gen,
		rpm:    base + ":rpm",
		tpm:    base + ":tpm",
		req:    base + ":req",
		tokens: base + ":tokens:" + string(month),
		spend:  base + ":spend:" + string(month),
		credit: base + ":credit",
	}
	if gen != 0 {
		// A reset request count: a budget of a new name, starting from the
		// floor of the new generation (the old one stays behind, unused).
		n.req += ":" + strconv.FormatInt(gen, 10)
	}
	if _, loaded := cc.m.Swap(id, n); !loaded && cc.n.Add(1) > maxCounterNames {
		cc.m.Clear()
		cc.n.Store(0)
	}
	return n
}

// appendMonth appends y-m as "2006-01".
func appendMonth(b []byte, y int, m time.Month) []byte {
	if y < 1000 || y > 9999 {
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).AppendFormat(b, "2006-01")
	}
	b = strconv.AppendInt(b, int64(y), 10)
	return append(b, '-', byte('0'+m/10), byte('0'+m%10))
}

// maxReservedTokens caps the completion tokens a request reserves: far above
// any model's output limit, and small enough that times maxChoices and plus
// any prompt it stays far from overflowing int64.
const maxReservedTokens = 1 << 31

// cost is what the call's usage costs at its group's multiplier, rounded up
// once (pricing.CostAt), within usage.MaxCostMicros: a record above it would
// be quarantined by the ledger, and only a multiplier above 1 on a request
// of the largest counts at the highest rate reaches it.
func (c *call) cost(prompt, cached, completion int64) int64 {
	return min(c.price.CostAt(c.bps, prompt, cached, completion), usage.MaxCostMicros)
}

// worstCase is what admission reserves against a spend cap or a credit
// quota: the most the call can cost, at the same multiplier as its cost.
func (c *call) worstCase() int64 {
	return min(c.price.WorstCaseAt(c.bps, c.prompt, c.maxOut), usage.MaxCostMicros)
}
