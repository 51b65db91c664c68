package gateway

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/prices"
	"github.com/oais/oais/internal/pricing"
)

// requestSeries returns the label sets of oais_gateway_requests_total.
func requestSeries(t *testing.T, g *Gateway) []string {
	t.Helper()
	mfs, err := g.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "oais_gateway_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var l []string
			for _, lp := range m.GetLabel() {
				l = append(l, lp.GetName()+"="+lp.GetValue())
			}
			out = append(out, strings.Join(l, ","))
		}
	}
	return out
}

// TestModelLabelsBounded: model names are client input; 10,000 distinct
// ones (junk, dated-snapshot lookalikes of a priced model, case variants,
// and junk a restricted key is refused) answered by an upstream that takes
// any model must not mint a time series each. A model is a label only by
// the priced name it resolves to, or as a name an admin allowed; the rest
// is "other".
func TestModelLabelsBounded(t *testing.T) {
	free := &Principal{Key: KeyPolicy{ID: "key_free", WorkspaceID: "ws_free", State: keys.State{Status: keys.StatusActive}},
		Workspace: &WorkspacePolicy{ID: "ws_free"}}
	// Unpriced models are served at a site fallback price here, so junk
	// names reach the metrics instead of being refused at admission.
	fallback := pricing.Price{InputMicrosPerMTok: 1, OutputMicrosPerMTok: 1}
	h := newHarness(t, harnessOpts{pricer: prices.NewLive(pricing.Defaults(), &fallback), extra: map[string]*Principal{"free": free}})
	go func() { // the records are not looked at: keep the recorder from blocking
		for {
			select {
			case <-h.rec.ch:
			case <-t.Context().Done():
				return
			}
		}
	}()
	const total = 10_000
	model := func(i int) (who, m string) {
		switch i % 4 {
		case 0:
			return "free", fmt.Sprintf("junk-%d", i)
		case 1:
			return "free", fmt.Sprintf("gpt-4o-mini-%d", i) // priced by prefix, like a dated snapshot
		case 2:
			b := []byte("gpt-4o-mini")
			for j := range b {
				if i>>j&1 == 1 {
					b[j] = strings.ToUpper(string(b[j]))[0]
				}
			}
			return "free", string(b) + strings.Repeat(" ", i/2048) // case and padding variants
		}
		return "models", fmt.Sprintf("junk-%d", i) // refused: 403
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var failed sync.Once
	for range 8 {
		wg.Go(func() {
			for i := range work {
				who, m := model(i)
				resp, body := h.do(t, who, "POST", "/v1/chat/completions", `{"model":"`+m+`","messages":[{"role":"user","content":"hi"}]}`, nil)
				if resp.StatusCode != 200 && resp.StatusCode != 403 {
					failed.Do(func() { t.Errorf("%s: %d %s", m, resp.StatusCode, body) })
				}
			}
		})
	}
	for i := range total {
		if t.Failed() {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	series := requestSeries(t, h.gw)
	shown := series[:min(len(series), 8)]
	t.Logf("FIGURE %d distinct model names -> %d series of oais_gateway_requests_total: %v", total, len(series), shown)
	if len(series) > 6 {
		t.Fatalf("%d series for %d model names", len(series), total)
	}
}

func TestModelLabel(t *testing.T) {
	open := &Principal{Workspace: &WorkspacePolicy{}}
	keyList := &Principal{Key: KeyPolicy{AllowedModels: []string{"llama-local", "gpt-4o-2024-08-06"}}, Workspace: &WorkspacePolicy{}}
	wsList := &Principal{Workspace: &WorkspacePolicy{Models: []string{"llama-local"}}}
	tests := []struct {
		name   string
		p      *Principal
		priced bool // the Pricer can tell priced models
		model  string
		want   string
	}{
		{"no model read", open, true, "", ""},
		{"priced", open, true, "gpt-4o-mini", "gpt-4o-mini"},
		{"dated snapshot is its priced name", open, true, "gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"case variant is its priced name", open, true, "GPT-4o-Mini", "gpt-4o-mini"},
		{"unknown", open, true, "llama-local", "other"},
		{"pricer that cannot tell", open, false, "gpt-4o-mini", "other"},
		{"in the key's allow-list", keyList, true, "llama-local", "llama-local"},
		{"in the key's allow-list as written", keyList, true, "gpt-4o-2024-08-06", "gpt-4o-2024-08-06"},
		{"not in the key's allow-list, priced", keyList, true, "gpt-4o", "gpt-4o"},
		{"not in the key's allow-list, unknown", keyList, true, "llama-other", "other"},
		{"in the workspace's list", wsList, false, "llama-local", "llama-local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Gateway{}
			if tt.priced {
				g.priced = pricing.Defaults()
			}
			if got := g.modelLabel(tt.p, tt.model); got != tt.want {
				t.Fatalf("modelLabel(%q) = %q, want %q", tt.model, got, tt.want)
			}
		})
	}
}
