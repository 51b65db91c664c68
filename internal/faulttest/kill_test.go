package faulttest

import (
	"testing"
	"time"
)

// TestGatewaySIGKILLUnderLoad kills a gateway with SIGKILL while clients
// send plain and streamed chat completions, restarts it on the same spool,
// keeps the load going, then stops it cleanly (which ships the spool) and
// reconciles the ledger with what the clients saw: every complete 2xx has
// exactly one usage_events row (matched by x-request-id, which is the
// record's request id when the client sends none), no request id has two,
// and the keys' request_count equals the answered rows.
func TestGatewaySIGKILLUnderLoad(t *testing.T) {
	needBinaries(t)
	for _, tc := range []struct {
		name string
		db   func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/oais.db" }},
		{"postgres", func(t *testing.T) string { return StartPostgres(t).URL() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const (
				workers   = 6
				killAfter = 200 // complete 2xx answers before the SIGKILL
				moreAfter = 200 // and after the restart
			)
			c := startCluster(t, tc.db(t))
			g := c.startGateway("gateway")
			l := startLoad(loadOptions{workers: workers, max: 20_000, targets: []string{g.url}, key: c.key})
			defer l.stop()

			l.waitAcked(t, killAfter, 20*time.Second)
			g.proc.Kill()
			before := l.ackedCount()
			time.Sleep(200 * time.Millisecond) // clients hit a dead port meanwhile
			g.start()
			l.waitAcked(t, before+moreAfter, 20*time.Second)
			l.stop()
			g.stop()

			led := readLedger(t, c.dbURL)
			// Each worker had at most one request in flight at the kill; its
			// record may be in the spool although its client saw an error.
			f := checkLedger(t, led, l.acked, workers)
			t.Logf("FIGURE sigkill/%s: %d complete 2xx (%d before SIGKILL, %d after restart), %d ledger rows: %d lost, %d duplicated, %d extra (in flight at the kill, at most %d); request_count sum %d = answered rows %d; %d client requests failed at transport while the gateway was down",
				tc.name, f.acked, before, f.acked-before, f.rows, f.lost, f.duplicates, f.extra, workers, led.requestCount, led.answered(), l.transport)
		})
	}
}
