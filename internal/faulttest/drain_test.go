package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// openStream starts a streamed chat completion on g and returns once its
// first event arrived, so the stream is surely in flight. The result
// channel gets the request id and the whole body once the stream ends.
func openStream(t *testing.T, g *gw, key string, words, delayMs int) (id string, done <-chan streamEnd) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, g.url+"/v1/chat/completions", strings.NewReader(streamBody))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Mock-Chunks", fmt.Sprint(words))
	req.Header.Set("X-Mock-Chunk-Delay-Ms", fmt.Sprint(delayMs))
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("open a stream on %s: %v", g.name, err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("stream on %s: %d %s", g.name, resp.StatusCode, b)
	}
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadBytes('\n')
	if err != nil {
		t.Fatalf("first event of a stream on %s: %v", g.name, err)
	}
	ch := make(chan streamEnd, 1)
	go func() {
		defer resp.Body.Close()
		rest, err := io.ReadAll(br)
		ch <- streamEnd{body: append(first, rest...), err: err}
	}()
	return resp.Header.Get("X-Request-Id"), ch
}

type streamEnd struct {
	body []byte
	err  error
}

func (e streamEnd) complete() bool {
	return e.err == nil && bytes.Contains(e.body, []byte("data: [DONE]"))
}

// exitCode waits up to timeout for p to exit and returns its status.
func exitCode(t *testing.T, p *Process, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running %s after SIGTERM", p.Name, timeout)
	case <-t.Context().Done():
		t.Fatalf("test ended waiting for %s to exit", p.Name)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// TestGatewayDrainsOnSIGTERM is a rolling restart of the real binary: six
// 2-second streams are open when the gateway gets SIGTERM (what Kubernetes,
// systemd and docker stop send). /readyz stops answering 200 at once and
// new connections are refused, every stream still runs to its [DONE], the
// process exits 0, the ledger holds exactly one record per stream, with
// the upstream's usage, and the gateway's output its access line.
func TestGatewayDrainsOnSIGTERM(t *testing.T) {
	needBinaries(t)
	// Both inbound servers (OAIS_GATEWAY_HTTP_SERVER) drain alike.
	for _, server := range []string{"net/http", "fasthttp"} {
		t.Run(server, func(t *testing.T) { testGatewayDrainsOnSIGTERM(t, server) })
	}
}

func testGatewayDrainsOnSIGTERM(t *testing.T, server string) {
	c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db")
	// Access lines wait for the exit: only the drain's last flush writes them.
	g := c.startGateway("gw", "OAIS_LOG_FLUSH_INTERVAL=1h", "OAIS_GATEWAY_HTTP_SERVER="+server)
	const streams, words = 6, 20
	ids := map[string]<-chan streamEnd{}
	for range streams {
		id, done := openStream(t, g, c.key, words, 100) // 20 words, 100 ms apart
		ids[id] = done
	}
	signalled := time.Now()
	if err := g.proc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !WaitFor(time.Second, func() bool { return httpStatus(g.url+"/readyz") != 200 }) {
		t.Fatal("/readyz still answers 200 a second after SIGTERM")
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(g.url, "http://"), time.Second); err == nil {
		conn.Close()
		t.Error("the draining gateway still accepts new connections")
	}
	for id, done := range ids {
		select {
		case e := <-done:
			if !e.complete() {
				t.Errorf("stream %s cut by the drain (err %v): ...%s", id, e.err, tail(string(e.body), 200))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("stream %s still open 30 s after SIGTERM", id)
		}
	}
	if code := exitCode(t, g.proc, 30*time.Second); code != 0 {
		t.Fatalf("gateway exited %d after draining, want 0:\n%s", code, tail(g.logs(), 2048))
	}
	t.Logf("FIGURE: %d streams of %d words finished during the drain; exit 0 %v after SIGTERM", streams, words, time.Since(signalled).Round(time.Millisecond))
	l := readLedger(t, c.dbURL)
	for id := range ids {
		if n := l.byID[id]; n != 1 {
			t.Errorf("ledger holds %d records of stream %s, want exactly 1", n, id)
		}
	}
	for _, r := range l.rows {
		if _, ok := ids[r.requestID]; ok && (r.source != "upstream" || r.completionTokens != words) {
			t.Errorf("stream %s metered as %s (%s) with %d completion tokens, want upstream usage with %d", r.requestID, r.source, r.reason, r.completionTokens, words)
		}
	}
	// Access lines are written in batches (OAIS_LOG_FLUSH_INTERVAL, an
	// hour here): the exit must write what is still buffered.
	logs := g.logs()
	for id := range ids {
		if !strings.Contains(logs, `"msg":"request","request_id":"`+id+`"`) {
			t.Errorf("no access line for stream %s in the drained gateway's output:\n%s", id, tail(logs, 2048))
		}
	}
}

// TestGatewayDrainCutsAtDeadline: a stream longer than OAIS_DRAIN_TIMEOUT
// is cut when the drain gives up, metered once by the stream-cut policy
// (an estimate of what was sent), and the process still exits 0.
func TestGatewayDrainCutsAtDeadline(t *testing.T) {
	needBinaries(t)
	c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db")
	g := c.startGateway("gw", "OAIS_DRAIN_TIMEOUT=1s")
	id, done := openStream(t, g, c.key, 100, 100) // 10 s: outlasts the drain
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := g.proc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-done:
		if e.complete() {
			t.Fatal("a 10 s stream completed within a 1 s drain")
		}
	case <-ctx.Done():
		t.Fatal("stream still open 30 s after SIGTERM with a 1 s drain")
	}
	if code := exitCode(t, g.proc, 30*time.Second); code != 0 {
		t.Fatalf("gateway exited %d after cutting its streams, want 0:\n%s", code, tail(g.logs(), 2048))
	}
	l := readLedger(t, c.dbURL)
	if n := l.byID[id]; n != 1 {
		t.Fatalf("ledger holds %d records of the cut stream, want exactly 1", n)
	}
	for _, r := range l.rows {
		if r.requestID == id {
			if r.source != "estimated" || r.completionTokens <= 0 {
				t.Errorf("cut stream metered as %s (%s) with %d completion tokens, want an estimate of what was sent", r.source, r.reason, r.completionTokens)
			}
			t.Logf("FIGURE: the cut stream was metered as %s (%s): %d completion tokens of the 100 it would have had", r.source, r.reason, r.completionTokens)
		}
	}
}

// TestGatewayDrainReturnsLeases: a gateway deciding most requests from
// Redis leases (a workspace RPM of 1,000,000: leases of 10,000 requests,
// far more than a second of this load uses) gets SIGTERM right after the
// load stops, with its leases' units unused. A second gateway then asks
// Redis: the workspace's window must hold exactly the requests the ledger
// metered, no more (units the drained gateway kept reserved until its
// window or the reservation's TTL ended: refusals for nobody's traffic)
// and no fewer (requests counted in process and never settled).
func TestGatewayDrainReturnsLeases(t *testing.T) {
	needBinaries(t)
	const rpm = 1_000_000
	r := StartRedis(t)
	c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db")
	setWorkspaceRPM(t, c.dbURL, rpm) // before the gateways load their snapshot
	g1 := c.startGateway("gw1", "OAIS_REDIS_URL="+r.URL())
	l := startLoad(loadOptions{workers: 8, max: 50_000, targets: []string{g1.url}, key: c.key})
	admitted := func() float64 { return g1.metric(`oais_ratelimit_leases_total{event="admitted"}`) }
	if !WaitFor(30*time.Second, func() bool { return admitted() >= 200 }) {
		l.stop()
		t.Fatalf("no requests decided from leases: %v admitted, statuses %v, first error %q", admitted(), l.statusesCopy(), l.firstErr)
	}
	l.stop()
	fromLeases := admitted()
	if err := g1.proc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, g1.proc, 30*time.Second); code != 0 {
		t.Fatalf("gateway exited %d after draining, want 0:\n%s", code, tail(g1.logs(), 2048))
	}
	if logs := g1.logs(); strings.Contains(logs, "leases not all handed back") {
		t.Errorf("the drain did not hand every lease back:\n%s", grepLines(logs, "leases"))
	}
	metered := len(readLedger(t, c.dbURL).rows)
	if metered != l.answers() {
		t.Fatalf("ledger holds %d records for %d answers (statuses %v)", metered, l.answers(), l.statusesCopy())
	}
	g2 := c.startGateway("gw2", "OAIS_REDIS_URL="+r.URL())
	a := chat(t.Context(), g2.url, c.key, false, nil)
	if a.err != nil || a.status != 200 {
		t.Fatalf("request on the second gateway: %d %v %s", a.status, a.err, a.body)
	}
	rem, err := strconv.Atoi(a.header.Get("X-Ratelimit-Remaining-Requests"))
	if err != nil {
		t.Fatalf("x-ratelimit-remaining-requests %q: %v", a.header.Get("X-Ratelimit-Remaining-Requests"), err)
	}
	counted := rpm - rem - 1 // less the second gateway's own request
	t.Logf("FIGURE drain-leases: %d requests metered through %.0f lease admissions; Redis's window holds %d after the drain", metered, fromLeases, counted)
	if counted != metered {
		t.Errorf("after the drain Redis counts %d requests in the workspace's minute, the ledger %d: %+d units the drained gateway did not hand back", counted, metered, counted-metered)
	}
}
