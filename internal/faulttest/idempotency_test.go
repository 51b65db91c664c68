package faulttest

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oais/oais/gateway/mockupstream"
)

// TestIdempotencyAcrossReplicas is the attack of issue 14 item 7: a client
// whose connection broke retries with the same Idempotency-Key, and the
// load balancer sends the retry to another replica; or a client fires the
// same key at both replicas at once. Two gateway processes share a private
// Redis and one database in front of an upstream that counts its calls.
// Every key must cost one upstream call and one ledger row, and every
// answer to it must be the same bytes.
func TestIdempotencyAcrossReplicas(t *testing.T) {
	needBinaries(t)
	var upstreamCalls atomic.Int64
	mock := mockupstream.New(mockupstream.Options{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/chat/completions" {
			upstreamCalls.Add(1)
		}
		mock.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	r := StartRedis(t)
	c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db")
	env := []string{"OAIS_REDIS_URL=" + r.URL(), "OAIS_UPSTREAM_BASE_URL=" + up.URL + "/v1"}
	g1 := c.startGateway("gw1", env...)
	g2 := c.startGateway("gw2", env...)
	ctx := context.Background()

	tests := []struct {
		name   string
		stream bool
		// targets get the key in this order; concurrent sends them all at once.
		targets    []*gw
		concurrent bool
	}{
		{name: "retry on the other replica", targets: []*gw{g1, g2}},
		{name: "streamed, retry on the other replica", stream: true, targets: []*gw{g2, g1}},
		{name: "both replicas at once", targets: []*gw{g1, g2, g1, g2, g1, g2, g1, g2}, concurrent: true},
	}
	firstIDs := map[string]bool{} // the x-request-id of each key's one real answer
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "idem-" + rand.Text()
			// The upstream takes a moment, so concurrent twins find the
			// first request still in flight.
			hdr := map[string]string{"Idempotency-Key": key, "X-Mock-Delay-Ms": "300"}
			before := upstreamCalls.Load()
			answers := make([]answer, len(tt.targets))
			if tt.concurrent {
				var wg sync.WaitGroup
				for i, g := range tt.targets {
					wg.Add(1)
					go func() {
						defer wg.Done()
						answers[i] = chat(ctx, g.url, c.key, tt.stream, hdr)
					}()
				}
				wg.Wait()
			} else {
				for i, g := range tt.targets {
					answers[i] = chat(ctx, g.url, c.key, tt.stream, hdr)
				}
			}
			calls := upstreamCalls.Load() - before
			fresh := 0
			for i, a := range answers {
				if !a.complete {
					t.Errorf("answer %d: %d %s %v", i, a.status, a.body, a.err)
					continue
				}
				if string(a.body) != string(answers[0].body) {
					t.Errorf("answer %d differs from answer 0:\n%.120s…\n%.120s…", i, a.body, answers[0].body)
				}
				if a.header.Get("Idempotent-Replayed") != "true" {
					fresh++
					firstIDs[a.id] = true
				}
			}
			t.Logf("FIGURE: %s: %d requests with one Idempotency-Key over two replicas: %d upstream calls, %d fresh answers, %d replays",
				tt.name, len(answers), calls, fresh, len(answers)-fresh)
			if calls != 1 || fresh != 1 {
				t.Errorf("%d upstream calls and %d fresh answers for one Idempotency-Key, want 1 and 1", calls, fresh)
			}
		})
	}

	// Stopping the gateways ships their spools: one ledger row per key,
	// the fresh answer's.
	g1.stop()
	g2.stop()
	l := readLedger(t, c.dbURL)
	t.Logf("FIGURE: %d keys, %d ledger rows, request_count %d", len(tests), len(l.rows), l.requestCount)
	if len(l.rows) != len(tests) || l.requestCount != int64(len(tests)) {
		t.Errorf("%d ledger rows and request_count %d for %d Idempotency-Keys, want %d", len(l.rows), l.requestCount, len(tests), len(tests))
	}
	for _, row := range l.rows {
		if !firstIDs[row.requestID] {
			t.Errorf("ledger row %s is not a fresh answer's", row.requestID)
		}
	}
}
