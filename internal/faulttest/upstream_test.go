package faulttest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oais/oais/gateway/mockupstream"
	"github.com/oais/oais/gateway/tokens"
)

// faultHeader asks the fake upstream for a fault the mock has no knob for.
// It is one of the mock's X-Mock-* knobs, the only test headers the gateway
// forwards (forwardRequestHeader).
const faultHeader = "X-Mock-Fault"

// fakeUpstream is the mock upstream behind a real listener, plus
// "X-Mock-Fault: reset": the upstream accepts the request and resets the
// connection without answering.
func fakeUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	// The mock counts prompt tokens before its first byte; loading the
	// tokenizer tables on that first request took 0.3 to 1 s on a busy
	// 2-CPU machine, past the 500 ms header timeout TestUpstreamFaults sets
	// for its slow-upstream case, and the cut stream became a 504.
	tokens.Warm()
	mock := mockupstream.New(mockupstream.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(faultHeader) == "reset" {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST, not FIN
			}
			conn.Close()
			return
		}
		mock.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestUpstreamFaults points a gateway at a fake upstream that fails in each
// way CONTRACT §3 names, and checks what the client gets and what is
// billed: transport failures become 502/504 with the contract's codes,
// upstream errors pass through with their status and body, every failed
// call leaves one usage row with its error code and no cost (a usage error,
// never billed) and counts as no request, and a stream the upstream
// cuts halfway is metered exactly once, with estimated usage of what was
// delivered.
func TestUpstreamFaults(t *testing.T) {
	needBinaries(t)
	up := fakeUpstream(t)
	c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db")
	g := c.startGateway("gateway", "OAIS_UPSTREAM_BASE_URL="+up.URL+"/v1", "OAIS_UPSTREAM_HEADER_TIMEOUT=500ms")
	ctx := context.Background()

	// direct is what the upstream itself answers, for pass-through checks.
	direct := func(hdr map[string]string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, up.URL+"/v1/chat/completions", strings.NewReader(chatBody))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	type failed struct{ id, code string }
	var failedIDs []failed
	for _, tc := range []struct {
		name     string
		hdr      map[string]string
		stream   bool
		status   int
		code     string // the gateway's error.code; "" for a pass-through
		passBody bool   // the body must be the upstream's own
		skip     string
	}{
		{name: "slow upstream", hdr: map[string]string{"X-Mock-Delay-Ms": "3000"}, status: 504, code: "upstream_timeout"},
		{name: "connection reset", hdr: map[string]string{faultHeader: "reset"}, status: 502, code: "upstream_unavailable"},
		{name: "connection reset, stream", hdr: map[string]string{faultHeader: "reset"}, stream: true, status: 502, code: "upstream_unavailable"},
		{name: "upstream 500", hdr: map[string]string{"X-Mock-Status": "500"}, status: 500, passBody: true},
		{name: "upstream 429", hdr: map[string]string{"X-Mock-Status": "429"}, status: 429, passBody: true},
		{name: "upstream 503, stream", hdr: map[string]string{"X-Mock-Status": "503"}, stream: true, status: 503, passBody: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != "" {
				t.Skip(tc.skip)
			}
			a := chat(ctx, g.url, c.key, tc.stream, tc.hdr)
			if a.err != nil {
				t.Fatalf("transport error: %v", a.err)
			}
			if a.status != tc.status {
				t.Fatalf("status %d (%s), want %d", a.status, a.body, tc.status)
			}
			if a.id == "" {
				t.Errorf("no x-request-id")
			}
			if tc.code != "" && !bytes.Contains(a.body, []byte(`"code":"`+tc.code+`"`)) {
				t.Errorf("body %s, want error.code %q", a.body, tc.code)
			}
			if tc.passBody {
				if _, want := direct(tc.hdr); !bytes.Equal(bytes.TrimSpace(a.body), bytes.TrimSpace(want)) {
					t.Errorf("body %s, want the upstream's own %s", a.body, want)
				}
			}
			code := tc.code
			if code == "" {
				code = "upstream_error" // an upstream's own error, passed through
			}
			failedIDs = append(failedIDs, failed{a.id, code})
		})
	}

	// A stream the upstream cuts after 3 of 8 words: the client gets a 200
	// whose body ends without [DONE] (the gateway cuts the connection too).
	cut := chat(ctx, g.url, c.key, true, map[string]string{"X-Mock-Chunks": "8", "X-Mock-Cut-After": "3"})
	if cut.status != 200 || cut.complete {
		t.Errorf("cut stream: status %d complete %v, want a 200 that does not complete", cut.status, cut.complete)
	}
	ok := chat(ctx, g.url, c.key, false, nil)
	if !ok.complete {
		t.Fatalf("healthy request: %d %s", ok.status, ok.body)
	}
	g.stop()

	led := readLedger(t, c.dbURL)
	rowOf := map[string]ledgerRow{}
	for _, r := range led.rows {
		rowOf[r.requestID] = r
	}
	for _, f := range failedIDs {
		r := rowOf[f.id]
		if n := led.byID[f.id]; n != 1 || r.errorCode != f.code || r.costMicros != 0 || r.promptTokens != 0 || r.completionTokens != 0 {
			t.Errorf("failed request %s has %d usage rows (%+v), want 1 error row %s without usage (failed calls are never billed)", f.id, n, r, f.code)
		}
	}
	var cutRow *ledgerRow
	for i, r := range led.rows {
		if r.status >= 400 && r.costMicros != 0 {
			t.Errorf("row %s with status %d costs %d micro-dollars, want 0", r.requestID, r.status, r.costMicros)
		}
		if r.requestID == cut.id {
			cutRow = &led.rows[i]
		}
	}
	if n := led.byID[cut.id]; n != 1 || cutRow == nil {
		t.Fatalf("cut stream %s has %d usage rows, want exactly 1", cut.id, n)
	}
	if cutRow.source != "estimated" || cutRow.reason != "no_upstream_usage" || cutRow.completionTokens < 1 || cutRow.completionTokens > 8 || cutRow.promptTokens < 1 {
		t.Errorf("cut stream row = %+v, want source estimated (no_upstream_usage), 1..8 completion tokens and the prompt", *cutRow)
	}
	if led.byID[ok.id] != 1 {
		t.Errorf("healthy request %s has %d rows, want 1", ok.id, led.byID[ok.id])
	}
	if len(led.rows) != 2+len(failedIDs) || led.answered() != 2 || led.requestCount != 2 {
		t.Errorf("ledger has %d rows, %d answered, request_count %d; want %d, 2 and 2 (the cut stream and the healthy request answered, each failure an error row)",
			len(led.rows), led.answered(), led.requestCount, 2+len(failedIDs))
	}
	t.Logf("FIGURE upstream-faults: reset -> 502 upstream_unavailable (plain and stream), upstream 500/429/503 passed through byte for byte, %d failed calls -> %d error rows of 0 micro-dollars and 0 requests counted; stream cut after 3 of 8 words -> 1 row, source %s (%s), %d completion tokens, %d micro-dollars; upstream slower than OAIS_UPSTREAM_HEADER_TIMEOUT -> 504 upstream_timeout",
		len(failedIDs), len(led.rows)-2, cutRow.source, cutRow.reason, cutRow.completionTokens, cutRow.costMicros)
}
