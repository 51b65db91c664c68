// Package spendalerts warns a workspace as its month's spend (or tokens)
// approaches its cap: when usage first crosses 50%, 80% and 100% of the
// spend cap or monthly token quota in a calendar month (UTC), it writes one
// audit line (audit.SpendAlert) and, if the workspace set a webhook, POSTs
// the alert there.
//
// The threshold already alerted lives in billing_accounts.last_alert_percent
// and last_alert_month, claimed by a conditional UPDATE in the same
// transaction as the audit line: two control planes ticking at once write
// one line between them, and a month that changes resets the state. The
// POST happens after the commit, never inside the transaction; a failed one
// is retried at the next tick by the replica that claimed it.
package spendalerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/bits"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/billingaccount"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/every"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/viewer"
)

// Defaults of Options.
const (
	// DefaultInterval is how often Run ticks.
	DefaultInterval = time.Minute
	// DefaultPostTimeout bounds one webhook POST, connection included.
	DefaultPostTimeout = 5 * time.Second
	// DefaultMaxAttempts is how many ticks a webhook is tried before it is
	// given up (an hour at DefaultInterval); the audit line stays.
	DefaultMaxAttempts = 60
	// DefaultParallel is how many webhooks are posted at once, so a tick
	// with many alerts lasts about DefaultPostTimeout, not n times it.
	DefaultParallel = 8
)

// Thresholds are the percentages of a cap that raise an alert, ascending.
var Thresholds = []int{50, 80, 100}

// centsToMicros turns a spend cap in cents into micro-dollars.
const centsToMicros = 10_000

// Totals is the part of the ledger the worker reads.
type Totals interface {
	MonthToDate(ctx context.Context, now time.Time) (ledger.MonthTotals, error)
}

var _ Totals = (*ledger.Ledger)(nil)

// Alert is one crossed threshold, and the JSON body of its webhook POST.
type Alert struct {
	Type string `json:"type"` // always "spend_alert"
	// ID is unique per workspace, month and threshold, so a receiver can
	// drop a repeat.
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	// Percent is the threshold crossed: 50, 80 or 100.
	Percent int `json:"percent"`
	// Metric is what crossed it: "spend" (SpendMicros of CapMicros) or
	// "tokens" (Tokens of TokenQuota); the higher share wins.
	Metric      string `json:"metric"`
	SpendMicros int64  `json:"spend_micros"`
	CapMicros   int64  `json:"cap_micros"` // 0: no spend cap
	Tokens      int64  `json:"tokens"`
	TokenQuota  int64  `json:"token_quota"` // 0: no token quota
	Month       string `json:"month"`       // "2006-01", UTC
}

// Options tunes New; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Egress is where webhooks may lead: the rule of tenants' upstreams
	// (public addresses, plus OAIS_UPSTREAM_ALLOWED_NETWORKS), checked at
	// every connection. nil allows public addresses only.
	Egress      *egress.Policy
	HTTPClient  *http.Client // default: PostTimeout, dialling only what Egress allows
	PostTimeout time.Duration
	MaxAttempts int
	Parallel    int
}

// Worker raises spend alerts. Create it with New; Run ticks it, tests call
// Tick.
type Worker struct {
	client *ent.Client
	totals Totals
	opts   Options

	mu sync.Mutex
	// pending holds the webhooks of claimed alerts not yet delivered, per
	// workspace, oldest first. It is this process's: a restart loses them
	// (the audit lines stay), which keeps "never posts twice" without a
	// delivery table.
	pending map[string][]*delivery
}

type delivery struct {
	alert    Alert
	attempts int
}

// New returns a Worker over the store's ent client and the ledger.
func New(c *ent.Client, totals Totals, o Options) *Worker {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PostTimeout <= 0 {
		o.PostTimeout = DefaultPostTimeout
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.HTTPClient == nil {
		o.HTTPClient = newHTTPClient(o.PostTimeout, o.Egress)
	}
	return &Worker{client: c, totals: totals, opts: o, pending: map[string][]*delivery{}}
}

// newHTTPClient dials only the addresses dest allows, checked on the
// address actually dialled (after DNS, so a name that rebinds to the
// metadata service or loopback gets no connection): a workspace admin
// chooses the URL, and the control plane's own network is not theirs. No
// proxy from the environment: it would dial for us, unchecked.
func newHTTPClient(timeout time.Duration, dest *egress.Policy) *http.Client {
	dial := dest.DialContext(&net.Dialer{Timeout: timeout})
	tr := &http.Transport{DialContext: dial, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout, MaxIdleConnsPerHost: 1}
	return &http.Client{Timeout: timeout, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a redirect is an answer, not an invitation
	}}
}

// Run ticks every interval (DefaultInterval if zero), first at once, until
// ctx ends. A failed tick is logged and the next one tries again.
func (w *Worker) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return every.Run(ctx, interval, func(ctx context.Context) {
		if err := w.Tick(ctx, time.Now()); err != nil && ctx.Err() == nil {
			w.opts.Logger.Warn("spend alerts: tick failed; retrying at the next one", "err", err)
		}
	}, every.Now())
}

// Tick checks every workspace with a spend cap or a token quota against the
// usage of now's month, records the thresholds crossed since the last
// tick, and posts the webhooks due (new ones and earlier failures). It
// returns once every post has answered or timed out.
func (w *Worker) Tick(ctx context.Context, now time.Time) error {
	ctx = viewer.SystemContext(ctx)
	month := now.UTC().Format("2006-01")
	wss, err := w.client.Workspace.Query().
		Where(workspace.Or(workspace.SpendCapCentsGT(0), workspace.MonthlyTokenQuotaGT(0))).
		All(ctx)
	if err != nil {
		return fmt.Errorf("spendalerts: list workspaces: %w", err)
	}
	var errs []error
	accts := map[string]*ent.BillingAccount{}
	if len(wss) > 0 {
		mt, err := w.totals.MonthToDate(ctx, now)
		if err != nil {
			return fmt.Errorf("spendalerts: %w", err)
		}
		if accts, err = w.accounts(ctx, wss); err != nil {
			return err
		}
		for _, ws := range wss {
			a, ok := check(ws, mt.Workspaces[ws.ID], accts[ws.ID], month)
			if !ok {
				continue
			}
			claimed, err := w.record(ctx, accts[ws.ID], a)
			if err != nil {
				errs = append(errs, fmt.Errorf("workspace %s: %w", ws.ID, err))
				continue
			}
			if claimed && accts[ws.ID] != nil && accts[ws.ID].AlertWebhookURL != "" {
				w.enqueue(a)
			}
		}
	}
	if err := w.deliver(ctx, accts); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// accounts returns the billing accounts of wss and of every workspace with
// a pending webhook, by workspace.
func (w *Worker) accounts(ctx context.Context, wss []*ent.Workspace) (map[string]*ent.BillingAccount, error) {
	ids := make([]string, 0, len(wss))
	for _, ws := range wss {
		ids = append(ids, ws.ID)
	}
	as, err := w.client.BillingAccount.Query().Where(billingaccount.WorkspaceIDIn(ids...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("spendalerts: billing accounts: %w", err)
	}
	out := make(map[string]*ent.BillingAccount, len(as))
	for _, a := range as {
		out[a.WorkspaceID] = a
	}
	return out, nil
}

// check returns the alert ws is due, if any: the highest threshold its
// spend or tokens reached that is above the one already alerted this month.
// A jump over several thresholds in one tick alerts once, for the highest.
func check(ws *ent.Workspace, t ledger.Totals, acct *ent.BillingAccount, month string) (Alert, bool) {
	var capMicros int64
	if ws.SpendCapCents != nil && *ws.SpendCapCents > 0 {
		capMicros = *ws.SpendCapCents * centsToMicros
	}
	a := Alert{Type: "spend_alert", WorkspaceID: ws.ID, SpendMicros: t.CostMicros, CapMicros: capMicros,
		Tokens: t.Tokens, TokenQuota: ws.MonthlyTokenQuota, Month: month}
	spend, tokens := reached(t.CostMicros, capMicros), reached(t.Tokens, ws.MonthlyTokenQuota)
	a.Percent, a.Metric = spend, "spend"
	if tokens > spend {
		a.Percent, a.Metric = tokens, "tokens"
	}
	last := 0
	if acct != nil && acct.LastAlertMonth == month {
		last = acct.LastAlertPercent
	}
	if a.Percent <= last {
		return Alert{}, false
	}
	a.ID = fmt.Sprintf("%s:%s:%d", ws.ID, month, a.Percent)
	return a, true
}

// reached returns the highest threshold that used has reached of limit, or
// 0 (also when there is no limit). used*100 >= limit*threshold is compared
// in 128 bits, so no value overflows.
func reached(used, limit int64) int {
	if limit <= 0 || used <= 0 {
		return 0
	}
	best := 0
	for _, th := range Thresholds {
		uh, ul := bits.Mul64(uint64(used), 100)
		lh, ll := bits.Mul64(uint64(limit), uint64(th))
		if uh > lh || (uh == lh && ul >= ll) {
			best = th
		}
	}
	return best
}

// record claims alert a and writes its audit line, in one transaction. It
// reports false when another tick (another replica) claimed it first.
func (w *Worker) record(ctx context.Context, acct *ent.BillingAccount, a Alert) (bool, error) {
	tx, err := w.client.Tx(ctx)
	if err != nil {
		return false, err
	}
	claimed, err := claim(ctx, tx.Client(), acct, a)
	if err == nil && claimed {
		err = audit.Record(ctx, tx.Client(), audit.Event{WorkspaceID: a.WorkspaceID, Action: audit.SpendAlert,
			TargetType: "workspace", TargetID: a.WorkspaceID, Details: map[string]string{
				"percent":      fmt.Sprint(a.Percent),
				"metric":       a.Metric,
				"spend_micros": fmt.Sprint(a.SpendMicros),
				"cap_micros":   fmt.Sprint(a.CapMicros),
				"tokens":       fmt.Sprint(a.Tokens),
				"token_quota":  fmt.Sprint(a.TokenQuota),
				"month":        a.Month,
			}})
	}
	if err != nil || !claimed {
		_ = tx.Rollback()
		return false, err
	}
	return true, tx.Commit()
}

// claim moves the account's alert state to a, only if it is still below a
// (the conditional UPDATE is what makes concurrent ticks alert once).
func claim(ctx context.Context, c *ent.Client, acct *ent.BillingAccount, a Alert) (bool, error) {
	if acct == nil {
		// No account yet: creating it is the claim; a concurrent create
		// fails on the unique workspace_id and that tick retries.
		err := c.BillingAccount.Create().SetWorkspaceID(a.WorkspaceID).
			SetLastAlertPercent(a.Percent).SetLastAlertMonth(a.Month).Exec(ctx)
		return err == nil, err
	}
	n, err := c.BillingAccount.Update().
		Where(billingaccount.WorkspaceID(a.WorkspaceID), billingaccount.Or(
			billingaccount.LastAlertMonthIsNil(),
			billingaccount.LastAlertMonthNEQ(a.Month),
			billingaccount.LastAlertPercentLT(a.Percent),
		)).
		SetLastAlertPercent(a.Percent).SetLastAlertMonth(a.Month).
		Save(ctx)
	return n == 1, err
}

func (w *Worker) enqueue(a Alert) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending[a.WorkspaceID] = append(w.pending[a.WorkspaceID], &delivery{alert: a})
}

// deliver posts every pending webhook, each workspace's in order, up to
// opts.Parallel workspaces at once. urls are the accounts read this tick;
// a workspace that has none there is looked up, so a URL changed or removed
// after a failure is respected.
func (w *Worker) deliver(ctx context.Context, accts map[string]*ent.BillingAccount) error {
	w.mu.Lock()
	var wsIDs []string
	for id := range w.pending {
		wsIDs = append(wsIDs, id)
	}
	w.mu.Unlock()
	if len(wsIDs) == 0 {
		return nil
	}
	sort.Strings(wsIDs)
	var missing []string
	for _, id := range wsIDs {
		if _, ok := accts[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		as, err := w.client.BillingAccount.Query().Where(billingaccount.WorkspaceIDIn(missing...)).All(ctx)
		if err != nil {
			return fmt.Errorf("spendalerts: billing accounts: %w", err)
		}
		accts = maps.Clone(accts)
		for _, a := range as {
			accts[a.WorkspaceID] = a
		}
	}
	sem := make(chan struct{}, w.opts.Parallel)
	var wg sync.WaitGroup
	for _, id := range wsIDs {
		url := ""
		if a := accts[id]; a != nil {
			url = a.AlertWebhookURL
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			w.deliverWorkspace(ctx, id, url)
		}()
	}
	wg.Wait()
	return nil
}

// deliverWorkspace posts one workspace's pending alerts in order, stopping
// at the first failure so they arrive in order.
func (w *Worker) deliverWorkspace(ctx context.Context, wsID, url string) {
	w.mu.Lock()
	queue := append([]*delivery(nil), w.pending[wsID]...)
	w.mu.Unlock()
	done := 0
	for _, d := range queue {
		if url == "" {
			done++ // the webhook was removed: nobody to tell
			continue
		}
		err := w.post(ctx, url, d.alert)
		if err == nil {
			done++
			continue
		}
		d.attempts++
		if d.attempts < w.opts.MaxAttempts {
			w.opts.Logger.Warn("spend alerts: webhook failed; retrying at the next tick",
				"workspace_id", wsID, "percent", d.alert.Percent, "attempt", d.attempts, "err", err)
			break
		}
		w.opts.Logger.Error("spend alerts: webhook failed too often; giving up (the audit log has the alert)",
			"workspace_id", wsID, "percent", d.alert.Percent, "attempts", d.attempts, "err", err)
		done++
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	rest := w.pending[wsID][done:] // only this goroutine removes from wsID's queue
	if len(rest) == 0 {
		delete(w.pending, wsID)
		return
	}
	w.pending[wsID] = rest
}

// post sends one alert; any 2xx answer is a delivery.
func (w *Worker) post(ctx context.Context, url string, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.PostTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "oais-spend-alerts/1")
	req.Header.Set("Idempotency-Key", a.ID)
	resp, err := w.opts.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// Pending returns how many webhooks wait for a retry.
func (w *Worker) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, q := range w.pending {
		n += len(q)
	}
	return n
}
