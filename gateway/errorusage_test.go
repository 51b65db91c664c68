package gateway

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tightRecorder is a fakeRecorder that says when it has no room to spare.
type tightRecorder struct {
	*fakeRecorder
	spare atomic.Bool
}

func (r *tightRecorder) Spare() bool { return r.spare.Load() }

// TestRefusalFloodCannotFillTheSpool: error records are best effort. While
// the spool has room to spare every refusal of a known key is recorded;
// past half its bound refusals are counted in
// oais_gateway_error_records_dropped_total and leave nothing, so a flood of
// 429s can never fill the spool (which would refuse every answer), while
// answered requests are still recorded.
func TestRefusalFloodCannotFillTheSpool(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	rec := &tightRecorder{fakeRecorder: h.rec}
	rec.spare.Store(true)
	h.gw.deps.Recorder = rec // before any request
	if resp, body := h.do(t, "rpm1", "POST", "/v1/chat/completions", chatBody, nil); resp.StatusCode != 200 {
		t.Fatalf("first request: %d %s", resp.StatusCode, body)
	}
	for range 3 {
		if resp, _ := h.do(t, "rpm1", "POST", "/v1/chat/completions", chatBody, nil); resp.StatusCode != 429 {
			t.Fatalf("status %d, want 429", resp.StatusCode)
		}
	}
	errs, answered := h.rec.errorRecords()
	if answered != 1 || len(errs) != 3 {
		t.Fatalf("%d answered and %d error records, want 1 and 3", answered, len(errs))
	}
	checkErrorRecord(t, errs[0], 429, "rate_limit_exceeded")

	rec.spare.Store(false)
	for range 5 {
		if resp, _ := h.do(t, "rpm1", "POST", "/v1/chat/completions", chatBody, nil); resp.StatusCode != 429 {
			t.Fatalf("status %d, want 429", resp.StatusCode)
		}
	}
	if resp, body := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, nil); resp.StatusCode != 200 {
		t.Fatalf("answered request: %d %s", resp.StatusCode, body)
	}
	errs, answered = h.rec.errorRecords()
	if answered != 2 || len(errs) != 3 {
		t.Fatalf("with no room to spare: %d answered and %d error records, want 2 and 3", answered, len(errs))
	}
	if _, metrics := h.do(t, "", "GET", "/metrics", "", nil); !strings.Contains(metrics, "oais_gateway_error_records_dropped_total 5\n") {
		t.Errorf("/metrics does not count 5 dropped error records")
	}
}

// TestAuthFailuresRecordedOncePerMinute: a known key refused with 401
// (revoked, expired, disabled) is a failed authentication its workspace's
// owners see (audit key.auth_failed, the request log), yet hammering a
// leaked revoked key writes at most one row a key and minute: the rest
// are counted as unattributed refusals. An unknown key writes none.
func TestAuthFailuresRecordedOncePerMinute(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 6, 12, 0, 5, 0, time.UTC).UnixNano())
	h := newHarness(t, harnessOpts{cfg: Config{Now: func() time.Time { return time.Unix(0, now.Load()) }}})
	hammer := func(who string, n int, code string) {
		t.Helper()
		for range n {
			resp, body := h.do(t, who, "POST", "/v1/chat/completions", chatBody, nil)
			if resp.StatusCode != 401 || !strings.Contains(body, code) {
				t.Fatalf("%s: %d %s, want 401 %s", who, resp.StatusCode, body, code)
			}
		}
	}
	hammer("revoked", 50, "api_key_revoked")
	hammer("expired", 5, "api_key_expired")
	for range 20 {
		if resp, _ := h.do(t, "", "POST", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + mustSecret(t)}); resp.StatusCode != 401 {
			t.Fatalf("unknown key: status %d", resp.StatusCode)
		}
	}
	errs, _ := h.rec.errorRecords()
	if len(errs) != 2 {
		t.Fatalf("%d error records in one minute, want 2 (one per known key)", len(errs))
	}
	checkErrorRecord(t, errs[0], 401, "api_key_revoked")
	checkErrorRecord(t, errs[1], 401, "api_key_expired")

	now.Add(int64(time.Minute))
	hammer("revoked", 10, "api_key_revoked")
	if errs, _ = h.rec.errorRecords(); len(errs) != 3 {
		t.Fatalf("%d error records after the next minute's refusals, want 3", len(errs))
	}
	_, metrics := h.do(t, "", "GET", "/metrics", "", nil)
	for _, line := range []string{
		`oais_gateway_unattributed_refusals_total{code="api_key_revoked"} 58`,
		`oais_gateway_unattributed_refusals_total{code="api_key_expired"} 4`,
		`oais_gateway_unattributed_refusals_total{code="invalid_api_key"} 20`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}
