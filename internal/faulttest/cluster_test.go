package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// bins holds the controlplane and gateway binaries TestMain built.
var bins string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "oais-faulttest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if !isShort() {
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, "faulttest: build the binaries:", err)
			return 1
		}
	}
	bins = dir
	return m.Run()
}

// isShort reads -test.short before testing.Short may be called.
func isShort() bool {
	for _, a := range os.Args[1:] {
		if a == "-test.short" || a == "-test.short=true" || a == "--test.short" {
			return true
		}
	}
	return false
}

// build compiles both binaries once for the package. It tries three times:
// a dashboard rebuild running at the same moment can briefly leave
// web/dist without the files web.go embeds.
func build(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	var out []byte
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(10 * time.Second)
		}
		cmd := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator), "./cmd/controlplane", "./cmd/gateway")
		cmd.Dir = filepath.Join("..", "..")
		out, err = cmd.CombinedOutput()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w\n%s", err, out)
}

// needBinaries skips in -short mode, where TestMain builds nothing.
func needBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault tests run the real binaries; skipped with -short")
	}
}

const adminPassword = "faulttest-password-1"

// cluster is a control plane child process over one database, with the
// quickstart key its bootstrap printed.
type cluster struct {
	t     *testing.T
	dbURL string
	cp    *Process
	cpURL string
	key   string
}

var keyPattern = regexp.MustCompile(`sk-oais-[A-Za-z0-9]+`)

// clusterSecretsKey is every process's OAIS_SECRETS_KEY (required on
// PostgreSQL, the same on every binary); a test's extra environment may
// override it (the last value wins).
const clusterSecretsKey = "b2Fpcy1mYXVsdHRlc3QtY2x1c3Rlci1zZWNyZXRzLTE="

// startCluster starts a control plane on dbURL (which it migrates), with
// extra environment, and waits for its quickstart key and /readyz.
func startCluster(t *testing.T, dbURL string, extra ...string) *cluster {
	t.Helper()
	port := FreePort(t)
	c := &cluster{t: t, dbURL: dbURL, cpURL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	c.cp = Start(t, "controlplane", filepath.Join(bins, "controlplane"), append([]string{
		"OAIS_DATABASE_URL=" + dbURL,
		fmt.Sprintf("OAIS_CONTROLPLANE_ADDR=127.0.0.1:%d", port),
		"OAIS_BOOTSTRAP_ADMIN_PASSWORD=" + adminPassword,
		"OAIS_BILLING_INTERVAL=1h",
		// Required on PostgreSQL; extra may override it (the last wins).
		"OAIS_SECRETS_KEY=" + clusterSecretsKey,
	}, extra...), "serve")
	ok := WaitFor(30*time.Second, func() bool {
		if c.cp.Exited() {
			return true
		}
		c.key = keyPattern.FindString(c.cp.Stdout.String())
		return c.key != "" && httpStatus(c.cpURL+"/readyz") == 200
	})
	if !ok || c.cp.Exited() || c.key == "" {
		t.Fatalf("control plane did not become ready with a quickstart key (exited=%v):\n%s", c.cp.Exited(), tail(c.cp.Stderr.String(), 2048))
	}
	return c
}

// gw is a gateway child process; restart keeps its address and spool.
type gw struct {
	c     *cluster
	name  string
	url   string
	spool string
	env   []string
	proc  *Process
	pids  []int // every process that served as this gateway
}

// startGateway starts a gateway on the cluster's database with extra env
// and waits for /readyz.
func (c *cluster) startGateway(name string, extra ...string) *gw {
	c.t.Helper()
	port := FreePort(c.t)
	g := &gw{c: c, name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), spool: filepath.Join(c.t.TempDir(), "spool")}
	g.env = append([]string{
		"OAIS_DATABASE_URL=" + c.dbURL,
		fmt.Sprintf("OAIS_GATEWAY_ADDR=127.0.0.1:%d", port),
		"OAIS_SPOOL_DIR=" + g.spool,
		"OAIS_MIGRATE_WAIT=20s",
		"OAIS_SECRETS_KEY=" + clusterSecretsKey,
	}, extra...)
	g.start()
	return g
}

func (g *gw) start() {
	g.c.t.Helper()
	g.proc = Start(g.c.t, g.name, filepath.Join(bins, "gateway"), g.env, "serve")
	g.pids = append(g.pids, g.proc.Pid())
	ok := WaitFor(30*time.Second, func() bool { return g.proc.Exited() || httpStatus(g.url+"/readyz") == 200 })
	if !ok || g.proc.Exited() {
		g.c.t.Fatalf("gateway %s did not become ready (exited=%v):\n%s", g.name, g.proc.Exited(), tail(g.proc.Stderr.String(), 2048))
	}
}

// logs is everything every process of this gateway wrote to stderr.
func (g *gw) logs() string { return g.proc.Stderr.String() }

// stop ends the gateway with SIGTERM, which ships its spool before exit.
func (g *gw) stop() {
	g.c.t.Helper()
	if err := g.proc.Stop(30 * time.Second); err != nil {
		g.c.t.Fatalf("gateway %s: clean stop: %v\n%s", g.name, err, tail(g.logs(), 2048))
	}
}

// metric returns the value of an unlabelled series on the gateway's
// /metrics, or -1 if it is absent or /metrics fails.
func (g *gw) metric(name string) float64 {
	resp, err := http.Get(g.url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return -1
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func httpStatus(url string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// answer is what a client saw of one chat completion.
type answer struct {
	status int
	id     string // x-request-id
	// complete: a 2xx whose whole body arrived (a plain JSON completion, or
	// a stream through "data: [DONE]"), i.e. an answer the client accepted.
	complete bool
	body     []byte
	header   http.Header
	err      error // transport error (nothing answered, or the body was cut)
}

var apiClient = &http.Client{
	Timeout:   15 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short about reliability."}]}`
const streamBody = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say something short about reliability."}]}`

// chat sends one chat completion and reads the whole answer.
func chat(ctx context.Context, base, key string, stream bool, hdr map[string]string) answer {
	body := chatBody
	if stream {
		body = streamBody
	}
	return chatRaw(ctx, base, key, body, stream, hdr)
}

// chatRaw sends body as a chat completion (stream: it asks for a stream)
// and reads the whole answer.
func chatRaw(ctx context.Context, base, key, body string, stream bool, hdr map[string]string) answer {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, id: resp.Header.Get("X-Request-Id"), header: resp.Header}
	a.body, a.err = io.ReadAll(resp.Body)
	if a.err != nil || resp.StatusCode/100 != 2 {
		return a
	}
	if stream {
		a.complete = bytes.Contains(a.body, []byte("data: [DONE]"))
	} else {
		var v struct {
			Choices []json.RawMessage `json:"choices"`
		}
		a.complete = json.Unmarshal(a.body, &v) == nil && len(v.Choices) > 0
	}
	return a
}

// load is N client goroutines sending chat completions (alternately plain
// and streamed) to a gateway, bounded by a request count and by Stop.
type load struct {
	cancel   context.CancelFunc
	stopping atomic.Bool
	wg       sync.WaitGroup
	sent     atomic.Int64

	mu        sync.Mutex
	acked     map[string]int // request id of each complete 2xx -> times seen
	statuses  map[int]int    // every HTTP status answered
	transport int            // requests that got no HTTP answer, or a cut body
	firstErr  string         // the first non-2xx answer
	// firstTransport is the first transport error.
	firstTransport string
}

type loadOptions struct {
	workers int
	max     int64         // requests in all, at most
	pace    time.Duration // pause between one worker's requests
	targets []string      // gateway base URLs, used round-robin
	key     string
	keys    []string // if set, used round-robin instead of key
}

func startLoad(o loadOptions) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, acked: map[string]int{}, statuses: map[int]int{}}
	for w := range o.workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ctx.Err() == nil && !l.stopping.Load(); i++ {
				n := l.sent.Add(1)
				if n > o.max {
					return
				}
				key := o.key
				if len(o.keys) > 0 {
					key = o.keys[int(n/int64(len(o.targets)))%len(o.keys)]
				}
				a := chat(ctx, o.targets[int(n)%len(o.targets)], key, (w+i)%2 == 1, nil)
				if ctx.Err() != nil && a.err != nil {
					return // stopped mid-request: neither acked nor failed
				}
				l.record(a)
				if a.err != nil {
					time.Sleep(20 * time.Millisecond) // the gateway is down: do not spin
				} else if o.pace > 0 {
					time.Sleep(o.pace)
				}
			}
		}()
	}
	return l
}

func (l *load) record(a answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.err != nil {
		l.transport++
		if l.firstTransport == "" {
			l.firstTransport = a.err.Error()
		}
		return
	}
	l.statuses[a.status]++
	if a.complete {
		l.acked[a.id]++
	} else if l.firstErr == "" && a.status/100 != 2 {
		l.firstErr = fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body))
	}
}

// ackedCount is how many complete 2xx answers the clients got so far.
func (l *load) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.acked {
		n += c
	}
	return n
}

// non2xx is how many HTTP answers were not 2xx.
func (l *load) non2xx() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for s, c := range l.statuses {
		if s/100 != 2 {
			n += c
		}
	}
	return n
}

// stop lets every worker finish the request it is in (so no request is
// cut by the client) and waits for them.
func (l *load) stop() {
	l.stopping.Store(true)
	l.wg.Wait()
	l.cancel()
}

// waitAcked waits until the clients have n complete 2xx answers.
func (l *load) waitAcked(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	if !WaitFor(timeout, func() bool { return l.ackedCount() >= n }) {
		t.Fatalf("load: %d complete 2xx answers after %s, want %d (statuses %v, transport errors %d, first error %q)",
			l.ackedCount(), timeout, n, l.statuses, l.transport, l.firstErr)
	}
}

// ledgerRow is one usage_events row.
type ledgerRow struct {
	requestID        string
	keyID            string
	status           int
	costMicros       int64
	promptTokens     int64
	completionTokens int64
	source           string
	reason           string
	errorCode        string // a refused or failed request's
}

// ledger is what the database holds of usage: every row, and the sum of
// the keys' request_count.
type ledger struct {
	rows         []ledgerRow
	byID         map[string]int // request id -> rows
	requestCount int64          // sum of api_keys.request_count
}

// openRetrying opens the store, trying again for as long as ctx allows
// while the server refuses: the test PgBouncer (Debian's 1.18) can crash on
// the cancel request of a client that went away, and its supervisor
// restarts it within 100 ms (internal/pgbouncertest), so a lone dial can
// land in that window.
func openRetrying(ctx context.Context, dbURL string) (*store.Store, error) {
	for {
		st, err := store.Open(ctx, dbURL)
		if err == nil {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// readLedger reads every usage_events row and the keys' request counts,
// again from the start if the connection breaks meanwhile (through
// PgBouncer a read right after the gateways stopped has met an
// "unexpected EOF"): what is read is a finished ledger, so a retry reads
// the same.
func readLedger(t *testing.T, dbURL string) ledger {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		l, err := readLedgerOnce(ctx, dbURL)
		if err == nil {
			return l
		}
		if ctx.Err() != nil {
			t.Fatalf("read the ledger: %v", err)
		}
		t.Logf("read the ledger: %v; again", err)
		time.Sleep(200 * time.Millisecond)
	}
}

func readLedgerOnce(ctx context.Context, dbURL string) (ledger, error) {
	st, err := openRetrying(ctx, dbURL)
	if err != nil {
		return ledger{}, fmt.Errorf("open: %w", err)
	}
	defer st.Close()
	rs, err := st.DB.QueryContext(ctx, `SELECT request_id, api_key_id, status, cost_micros, prompt_tokens, completion_tokens, source,
		COALESCE(estimate_reason, ''), COALESCE(error_code, '') FROM usage_events`)
	if err != nil {
		return ledger{}, fmt.Errorf("read usage_events: %w", err)
	}
	defer rs.Close()
	l := ledger{byID: map[string]int{}}
	for rs.Next() {
		var r ledgerRow
		if err := rs.Scan(&r.requestID, &r.keyID, &r.status, &r.costMicros, &r.promptTokens, &r.completionTokens, &r.source, &r.reason, &r.errorCode); err != nil {
			return ledger{}, fmt.Errorf("read usage_events: %w", err)
		}
		l.rows = append(l.rows, r)
		l.byID[r.requestID]++
	}
	if err := rs.Err(); err != nil {
		return ledger{}, fmt.Errorf("read usage_events: %w", err)
	}
	if err := st.DB.QueryRowContext(ctx, `SELECT COALESCE(SUM(request_count), 0) FROM api_keys`).Scan(&l.requestCount); err != nil {
		return ledger{}, fmt.Errorf("read api_keys.request_count: %w", err)
	}
	return l, nil
}

// answered is how many rows count as requests (status < 400).
func (l ledger) answered() int64 {
	var n int64
	for _, r := range l.rows {
		if r.status < 400 {
			n++
		}
	}
	return n
}

// ledgerFigures is what checkLedger proved.
type ledgerFigures struct {
	acked, rows, duplicates, lost, extra int
}

// checkLedger asserts that every acknowledged request id has exactly one
// row, that no request id has two, that at most maxExtra rows belong to
// requests whose client saw no complete answer (in flight when a process
// died), and that the keys' request_count equals the answered rows. Rows
// of refused or failed requests (an error code, no cost) are not extra:
// they are the usage errors, and must cost nothing.
func checkLedger(t *testing.T, l ledger, acked map[string]int, maxExtra int) ledgerFigures {
	t.Helper()
	f := ledgerFigures{acked: len(acked), rows: len(l.rows)}
	for id, n := range acked {
		if n != 1 {
			t.Errorf("request id %s was answered %d times", id, n)
		}
		switch l.byID[id] {
		case 0:
			f.lost++
			if f.lost <= 5 {
				t.Errorf("lost: request %s got a complete 2xx but has no ledger row", id)
			}
		case 1:
		default:
			f.duplicates++
		}
	}
	for id, n := range l.byID {
		if n > 1 {
			f.duplicates++
			t.Errorf("duplicate: request %s has %d ledger rows", id, n)
		}
	}
	for _, r := range l.rows {
		if r.errorCode != "" {
			if r.costMicros != 0 || r.status < 400 {
				t.Errorf("error row %+v: want status >= 400 and no cost", r)
			}
			continue
		}
		if _, ok := acked[r.requestID]; !ok {
			f.extra++
		}
	}
	if f.lost > 0 {
		t.Errorf("%d of %d acknowledged requests lost", f.lost, f.acked)
	}
	if f.extra > maxExtra {
		t.Errorf("%d ledger rows for requests no client got a complete answer for; at most %d were in flight", f.extra, maxExtra)
	}
	if got := l.answered(); l.requestCount != got {
		t.Errorf("sum of api_keys.request_count = %d, want %d (answered rows): a key counter was double-counted or missed", l.requestCount, got)
	}
	return f
}

// setWorkspaceRPM sets every workspace's RPM limit through ent, as
// updateWorkspaceLimits would; gateways see it within one snapshot poll.
func setWorkspaceRPM(t *testing.T, dbURL string, rpm int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := openRetrying(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Ent.Workspace.Update().SetRpm(rpm).Save(viewer.SystemContext(ctx)); err != nil {
		t.Fatalf("set workspace rpm: %v", err)
	}
}

// graphql posts a query with a bearer token and returns the HTTP status
// and decoded body.
func graphql(url, token, query string, vars map[string]any) (int, gqlResponse, error) {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, gqlResponse{}, err
	}
	defer resp.Body.Close()
	var g gqlResponse
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &g); err != nil {
		return resp.StatusCode, g, fmt.Errorf("graphql answer is not JSON: %q", raw)
	}
	return resp.StatusCode, g, nil
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (g gqlResponse) code() string {
	if len(g.Errors) == 0 {
		return ""
	}
	s, _ := g.Errors[0].Extensions["code"].(string)
	return s
}

// signIn returns an access token for the bootstrap admin.
func (c *cluster) signIn(t *testing.T) string {
	t.Helper()
	status, g, err := graphql(c.cpURL, "", `mutation($e:String!,$p:String!){ signIn(email:$e, password:$p){ accessToken } }`,
		map[string]any{"e": "admin@localhost", "p": adminPassword})
	if err != nil || status != 200 || len(g.Errors) > 0 {
		t.Fatalf("signIn: status %d, %v, %+v", status, err, g.Errors)
	}
	var d struct {
		SignIn struct{ AccessToken string } `json:"signIn"`
	}
	if err := json.Unmarshal(g.Data, &d); err != nil || d.SignIn.AccessToken == "" {
		t.Fatalf("signIn: no access token in %s", g.Data)
	}
	return d.SignIn.AccessToken
}

// grepLines returns the lines of s that contain substr, at most 10.
func grepLines(s, substr string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) && len(out) < 10 {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
