package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestChannelPaths: the mock serves the channels' base paths as /v1 and
// leaves every other path as it is.
func TestChannelPaths(t *testing.T) {
	var got string
	h := channelPaths(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.URL.Path }))
	for in, want := range map[string]string{
		"/a/v1/chat/completions": "/v1/chat/completions",
		"/b/v1/responses":        "/v1/responses",
		"/c/v1/embeddings":       "/v1/embeddings",
		"/v1/chat/completions":   "/v1/chat/completions",
		"/d/v1/chat/completions": "/d/v1/chat/completions",
		"/a/v2/chat/completions": "/a/v2/chat/completions",
		"/a":                     "/a",
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, in, nil))
		if got != want {
			t.Errorf("%s reached the mock as %s, want %s", in, got, want)
		}
	}
}

func TestTargetSkips(t *testing.T) {
	top, sat := load{name: "open 2000/s", rate: 2000}, load{name: "closed c=64", conc: 64}
	low := load{name: "open 500/s", rate: 500}
	tests := []struct {
		name string
		t    target
		want [3]bool // skips low, top, sat
	}{
		{"every load", target{}, [3]bool{false, false, false}},
		{"saturation only", target{saturationOnly: true}, [3]bool{true, true, false}},
		{"top and saturation", target{topAndSaturation: true}, [3]bool{true, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := [3]bool{tt.t.skips(low, 2000), tt.t.skips(top, 2000), tt.t.skips(sat, 2000)}
			if got != tt.want {
				t.Fatalf("skips %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRoutingCost: the channels row beside gateway-sqlite, and the line
// that states the difference.
func TestRoutingCost(t *testing.T) {
	sat, top := "closed c=64", "open 2000/s"
	results := []result{
		{Target: "gateway-sqlite", Mode: "plain", Load: sat, RPS: 4000, CPUPerReq: 200 * time.Microsecond},
		{Target: channelsTarget, Mode: "plain", Load: sat, RPS: 3800, CPUPerReq: 210 * time.Microsecond},
	}
	out := routingCost(results, sat, top)
	for _, want := range []string{"| plain | closed c=64 | 4000 | 200.0 |", "+10.0 µs/req (+5.0 %)", "Routing costs **10.0 µs/req (5.0 %)**"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if routingCost(results[:1], sat, top) != "" {
		t.Error("a run without the channels row printed its section")
	}
}
