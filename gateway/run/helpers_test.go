package run

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// waitBound bounds every wait for something that, when the code works,
// comes within a few spool ticks; it turns a hang into a failure naming
// what never came, and nothing asserts on it.
const waitBound = 30 * time.Second

// logBuffer is a log destination tests can read while the gateway writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testGateway is a gateway wired by Open on a fresh, migrated SQLite
// database holding one workspace and one API key, served by httptest.
type testGateway struct {
	*Gateway
	srv  *httptest.Server
	key  string
	logs *logBuffer
}

// openGateway opens a gateway on a fresh database; edit changes its Config
// before Open (env is read first).
func openGateway(t *testing.T, env map[string]string, edit func(*Config)) *testGateway {
	t.Helper()
	st := storetest.SQLite(t)
	sys := viewer.SystemContext(context.Background())
	u, err := st.Ent.User.Create().SetEmail("owner@example.com").Save(sys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: u.ID, Email: u.Email, Roles: map[string]viewer.Role{}})
	ws, err := workspaces.Create(ctx, st.Ent, "acme")
	if err != nil {
		t.Fatal(err)
	}
	created, err := (&apikeys.Service{}).Create(ctx, st.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "test"})
	if err != nil {
		t.Fatal(err)
	}

	all := map[string]string{
		"OAIS_DATABASE_URL": st.URL.String(),
		"OAIS_SPOOL_DIR":    t.TempDir(),
		"OAIS_GATEWAY_ADDR": "127.0.0.1:0",
	}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := Load(config.Map(all))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&cfg)
	}
	logs := &logBuffer{}
	g, err := Open(t.Context(), cfg, config.Logger(logs, "text", "info"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	srv := httptest.NewServer(g.Handler)
	t.Cleanup(srv.Close)
	srv.Client().Timeout = waitBound
	return &testGateway{Gateway: g, srv: srv, key: created.Secret.Reveal(), logs: logs}
}

const (
	chatBody   = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short."}]}`
	streamBody = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say something short."}]}`
)

// reply is what a client saw of one request.
type reply struct {
	status int
	id     string // x-request-id
	body   string
	err    error
}

// chat sends one chat completion (streamed or not) with extra headers and
// reads the whole answer.
func (g *testGateway) chat(ctx context.Context, stream bool, hdr map[string]string) reply {
	body := chatBody
	if stream {
		body = streamBody
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.srv.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return reply{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+g.key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := g.srv.Client().Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, id: resp.Header.Get("X-Request-Id"), body: string(b), err: err}
}

// get returns the status and body of a GET.
func (g *testGateway) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := g.srv.Client().Get(g.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// metric returns an unlabelled series of /metrics, or -1 when absent.
func (g *testGateway) metric(t *testing.T, name string) float64 {
	t.Helper()
	_, body := g.get(t, "/metrics")
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// waitUntil polls cond until it holds or waitBound passes.
func waitUntil(t *testing.T, what string, cond func() bool) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Errorf("waited %v for %s", waitBound, what)
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// ledgerRows ships the spool into the ledger and returns the rows of
// answered requests per request id; refusals' zero-cost error rows
// (usage.Record.ErrorCode) are left out.
func (g *testGateway) ledgerRows(t *testing.T) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	if err := g.Spool.Flush(ctx, g.Ledger); err != nil {
		t.Fatalf("ship the spool: %v", err)
	}
	rows, err := g.Store.DB.QueryContext(ctx, `SELECT request_id FROM usage_events WHERE COALESCE(error_code, '') = ''`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
