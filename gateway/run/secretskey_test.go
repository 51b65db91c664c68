package run

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

// TestSecretsKeyFileShared: on the embedded SQLite database the control
// plane keeps its generated key in secrets.key beside the database; a
// gateway on the same database with no OAIS_SECRETS_KEY reads that file, so
// it opens the workspace upstream keys the control plane sealed.
func TestSecretsKeyFileShared(t *testing.T) {
	st := storetest.SQLite(t)
	raw := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	dbPath := strings.TrimPrefix(st.URL.String(), "sqlite://")
	if err := os.WriteFile(filepath.Join(filepath.Dir(dbPath), "secrets.key"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}

	var sawKey atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawKey.Store(r.Header.Get("Authorization"))
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	}))
	t.Cleanup(up.Close)

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
	ctx = viewer.NewContext(context.Background(), &viewer.Viewer{UserID: u.ID, Email: u.Email, Roles: map[string]viewer.Role{ws.ID: viewer.RoleOwner}})
	upstreamKey := "sk-upstream-of-acme"
	loopback := &egress.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if _, err := workspaces.SetUpstream(ctx, st.Ent, box, loopback, ws.ID, workspaces.UpstreamParams{BaseURL: up.URL + "/v1", APIKey: &upstreamKey, Models: []string{"gpt-4o-mini"}}); err != nil {
		t.Fatal(err)
	}
	created, err := (&apikeys.Service{}).Create(ctx, st.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "test"})
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := Load(config.Map(map[string]string{
		"OAIS_DATABASE_URL":              st.URL.String(),
		"OAIS_SPOOL_DIR":                 t.TempDir(),
		"OAIS_GATEWAY_ADDR":              "127.0.0.1:0",
		"OAIS_UPSTREAM_ALLOWED_NETWORKS": "127.0.0.0/8",
	}))
	if err != nil {
		t.Fatal(err)
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
	tg := &testGateway{Gateway: g, srv: srv, key: created.Secret.Reveal(), logs: logs}
	r := tg.chat(t.Context(), false, nil)
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("chat: %d %v %s\nlogs:\n%s", r.status, r.err, r.body, logs.String())
	}
	if got, _ := sawKey.Load().(string); got != "Bearer "+upstreamKey {
		t.Fatalf("the workspace's upstream got Authorization %q, want its own key opened with the key file", got)
	}
	if strings.Contains(logs.String(), key) {
		t.Fatal("the key reached the log")
	}
}
