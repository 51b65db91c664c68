package gateway

import (
	"strings"
	"sync/atomic"
	"testing"
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
