package faulttest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSecretsNeverEscape runs both binaries for real with every kind of
// secret in play — API keys (created, quickstart, guessed), the admin's
// password, session tokens, the upstream's API key, OAIS_SECRETS_KEY — and
// scans everything they print (logs on stderr, /metrics, error bodies,
// GraphQL errors). The only place a secret may appear is the control
// plane's start-up banner on stdout, which shows the quickstart key once.
// Figure: 0 secrets found in any output.
func TestSecretsNeverEscape(t *testing.T) {
	needBinaries(t)
	const upstreamKey = "sk-upstream-should-never-print-0123456789"
	const secretsKey = "c2VjcmV0c2tleS1zaG91bGQtbmV2ZXItcHJpbnQtMDE=" // 32 bytes, base64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Authorization") != "Bearer "+upstreamKey {
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"error":{"message":"bad upstream key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`)
	}))
	defer upstream.Close()

	// Both binaries get the secrets key: the control plane seals the
	// workspace's upstream key with it, the gateway opens it.
	c := startCluster(t, "sqlite://"+t.TempDir()+"/oais.db", "OAIS_SECRETS_KEY="+secretsKey)
	g := c.startGateway("gateway", "OAIS_UPSTREAM_BASE_URL="+upstream.URL+"/v1", "OAIS_UPSTREAM_API_KEY="+upstreamKey, "OAIS_SECRETS_KEY="+secretsKey)
	ctx := context.Background()
	var outputs []string // everything a user or operator could see, but the banner

	// A session: its tokens are secrets too.
	status, signIn, err := graphql(c.cpURL, "", `mutation($e:String!,$p:String!){ signIn(email:$e, password:$p){ accessToken refreshToken } }`,
		map[string]any{"e": "admin@localhost", "p": adminPassword})
	if err != nil || status != 200 {
		t.Fatalf("signIn: %d %v", status, err)
	}
	var s struct {
		SignIn struct{ AccessToken, RefreshToken string } `json:"signIn"`
	}
	_ = json.Unmarshal(signIn.Data, &s)
	// A wrong password, and a refresh-token reuse, produce logged errors.
	_, bad, _ := graphql(c.cpURL, "", `mutation{ signIn(email:"admin@localhost", password:"wrong-`+adminPassword+`"){ accessToken } }`, nil)
	outputs = append(outputs, string(bad.Data), errorsText(bad))
	_, r1, _ := graphql(c.cpURL, "", `mutation($r:String!){ refreshSession(refreshToken:$r){ accessToken } }`, map[string]any{"r": s.SignIn.RefreshToken})
	_, r2, _ := graphql(c.cpURL, "", `mutation($r:String!){ refreshSession(refreshToken:$r){ accessToken } }`, map[string]any{"r": s.SignIn.RefreshToken})
	outputs = append(outputs, errorsText(r1), errorsText(r2))
	// The reuse revoked that session, and its access token with it: sign in
	// again for the rest.
	if status, signIn, err = graphql(c.cpURL, "", `mutation($e:String!,$p:String!){ signIn(email:$e, password:$p){ accessToken refreshToken } }`,
		map[string]any{"e": "admin@localhost", "p": adminPassword}); err != nil || status != 200 {
		t.Fatalf("second signIn: %d %v", status, err)
	}
	_ = json.Unmarshal(signIn.Data, &s)

	// A key created through the API, used, revoked and used again.
	_, ws, _ := graphql(c.cpURL, s.SignIn.AccessToken, `{ viewer { memberships { workspace { id } } } }`, nil)
	var v struct {
		Viewer struct {
			Memberships []struct{ Workspace struct{ ID string } }
		} `json:"viewer"`
	}
	_ = json.Unmarshal(ws.Data, &v)
	if len(v.Viewer.Memberships) == 0 {
		t.Fatalf("no workspace: %s", ws.Data)
	}
	wsID := v.Viewer.Memberships[0].Workspace.ID
	_, created, _ := graphql(c.cpURL, s.SignIn.AccessToken, `mutation($w:ID!){ createAPIKey(input:{workspaceID:$w, label:"scan"}){ secret apiKey { id } } }`, map[string]any{"w": wsID})
	var ck struct {
		CreateAPIKey struct {
			Secret string
			APIKey struct{ ID string } `json:"apiKey"`
		} `json:"createAPIKey"`
	}
	_ = json.Unmarshal(created.Data, &ck)
	secret := ck.CreateAPIKey.Secret
	if !strings.HasPrefix(secret, "sk-oais-") {
		t.Fatalf("createAPIKey: %s %s", created.Data, errorsText(created))
	}
	// An upstream key for the workspace, sealed with OAIS_SECRETS_KEY.
	wsUpstreamKey := "sk-workspace-upstream-never-print-42"
	_, setUp, _ := graphql(c.cpURL, s.SignIn.AccessToken, `mutation($w:ID!,$k:String!){ setWorkspaceUpstream(workspaceID:$w, input:{baseURL:"https://upstream.example.com/v1", apiKey:$k}){ id } }`,
		map[string]any{"w": wsID, "k": wsUpstreamKey})
	if len(setUp.Errors) > 0 {
		t.Fatalf("setWorkspaceUpstream: %s", errorsText(setUp))
	}
	outputs = append(outputs, errorsText(setUp))
	_, clr, _ := graphql(c.cpURL, s.SignIn.AccessToken, `mutation($w:ID!){ clearWorkspaceUpstream(workspaceID:$w){ id } }`, map[string]any{"w": wsID})
	outputs = append(outputs, errorsText(clr))

	waitKnown := func(key string) answer {
		var a answer
		WaitFor(10*time.Second, func() bool { a = chat(ctx, g.url, key, false, nil); return a.status != 401 })
		return a
	}
	for _, a := range []answer{
		waitKnown(secret),
		chat(ctx, g.url, secret, true, nil),
		chat(ctx, g.url, c.key, false, nil),
		chat(ctx, g.url, c.key[:len(c.key)-1]+"x", false, nil), // well-formed prefix, bad checksum
		chat(ctx, g.url, "sk-oais-"+strings.Repeat("A", 46), false, nil),
	} {
		outputs = append(outputs, string(a.body))
	}
	_, rev, _ := graphql(c.cpURL, s.SignIn.AccessToken, `mutation($id:ID!){ revokeAPIKey(id:$id){ status } }`, map[string]any{"id": ck.CreateAPIKey.APIKey.ID})
	outputs = append(outputs, errorsText(rev))
	WaitFor(10*time.Second, func() bool { return chat(ctx, g.url, secret, false, nil).status == 401 })
	outputs = append(outputs, string(chat(ctx, g.url, secret, false, nil).body))
	_, leak, _ := graphql(c.cpURL, s.SignIn.AccessToken, `mutation($s:String!){ reportLeakedKey(secret:$s, source:"scan"){ status } }`, map[string]any{"s": secret})
	outputs = append(outputs, errorsText(leak))

	for _, url := range []string{g.url + "/metrics", c.cpURL + "/metrics", g.url + "/readyz", c.cpURL + "/readyz", c.cpURL + "/.well-known/jwks.json"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		outputs = append(outputs, string(b))
	}
	g.stop()
	outputs = append(outputs, c.cp.Stderr.String(), g.logs())

	secrets := map[string]string{
		"created API key": secret, "quickstart API key": c.key, "admin password": adminPassword,
		"access token": s.SignIn.AccessToken, "refresh token": s.SignIn.RefreshToken,
		"upstream API key": upstreamKey, "workspace upstream key": wsUpstreamKey, "OAIS_SECRETS_KEY": secretsKey,
	}
	found := 0
	for name, sec := range secrets {
		if sec == "" {
			t.Fatalf("%s is empty: the scenario did not run", name)
		}
		for i, out := range outputs {
			if strings.Contains(out, sec) {
				found++
				t.Errorf("%s found in output %d: %.300s", name, i, out[max(0, strings.Index(out, sec)-150):])
			}
		}
	}
	// The banner shows the quickstart key once, and nothing else secret.
	banner := c.cp.Stdout.String()
	if strings.Count(banner, c.key) == 0 || strings.Contains(banner, s.SignIn.RefreshToken) || strings.Contains(banner, upstreamKey) {
		t.Errorf("start-up banner is wrong: %s", banner)
	}
	t.Logf("FIGURE: %d secrets × %d outputs scanned, %d found", len(secrets), len(outputs), found)
}

func errorsText(g gqlResponse) string {
	b, _ := json.Marshal(g.Errors)
	return string(b)
}
