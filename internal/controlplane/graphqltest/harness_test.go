package graphqltest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oais/oais/auth/mail"
	"github.com/oais/oais/auth/mail/mailtest"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/controlplane"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

// The bootstrap admin and the password every signed-up test user gets.
const (
	adminEmail    = "admin@oais.test"
	adminPassword = "bootstrap-Password-1"
	userPassword  = "correct horse battery staple"
)

// dialect names a database the suite runs on and makes a fresh one.
type dialect struct {
	name string
	url  func(testing.TB) string
}

var dialects = []dialect{
	{"sqlite", storetest.SQLiteURL},
	{"postgres", storetest.PostgresURL},
}

// forEachDialect runs f once per database, as subtests, each on a fresh
// migrated database.
func forEachDialect(t *testing.T, f func(t *testing.T, dbURL string)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) { f(t, d.url(t)) })
	}
}

// lockedBuffer is a bytes.Buffer safe for the server's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// secretSet remembers every secret a test saw (passwords sent, tokens and
// key secrets received), with what it was, so a scan can look for them.
type secretSet struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *secretSet) add(value, what string) {
	if value == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	if _, ok := s.m[value]; !ok {
		s.m[value] = what
	}
}

func (s *secretSet) all() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.m))
	for k, v := range s.m {
		out[k] = v
	}
	return out
}

// server is a control plane serving over real HTTP on a test database.
type server struct {
	cp      *controlplane.Server
	url     string
	client  *http.Client
	logs    *lockedBuffer // the JSON log
	out     *lockedBuffer // the bootstrap's terminal output
	secrets *secretSet
	admin   *user
	seq     atomic.Int64
	// mail is the SMTP server the control plane sends to (unless a test
	// set OAIS_SMTP_URL itself): every invitation and link lands there.
	mail *mailtest.Server
}

// harnessSecretsKey is OAIS_SECRETS_KEY unless a test sets its own.
const harnessSecretsKey = "b2Fpcy1ncmFwaHFsdGVzdC1oYXJuZXNzLXNlY3JldHM="

// start opens the control plane on dbURL with a JSON logger into a buffer,
// serves it with httptest and signs in the bootstrap admin. extra adds or
// overrides configuration variables.
func start(t testing.TB, dbURL string, extra map[string]string) *server {
	t.Helper()
	mailSrv := mailtest.Start(t, mailtest.Options{})
	env := map[string]string{
		"OAIS_DATABASE_URL":             dbURL,
		"OAIS_BOOTSTRAP_ADMIN_EMAIL":    adminEmail,
		"OAIS_BOOTSTRAP_ADMIN_PASSWORD": adminPassword,
		"OAIS_LOG_LEVEL":                "debug",
		"OAIS_SMTP_URL":                 mailSrv.URL(),
		"OAIS_SMTP_FROM":                "oais <noreply@oais.test>",
		// Required on PostgreSQL; one value, so a restart on the same
		// database opens what the first start sealed.
		"OAIS_SECRETS_KEY": harnessSecretsKey,
		// The suites sign up far more people from loopback than one
		// address would; TestThrottlesAcrossReplicas checks the limits.
		"OAIS_SIGNUP_LIMITS": "100000,100000",
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := controlplane.Load(config.Map(env))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s := &server{logs: &lockedBuffer{}, out: &lockedBuffer{}, secrets: &secretSet{}, mail: mailSrv}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cp, err := controlplane.Open(ctx, cfg, log, s.out)
	if err != nil {
		t.Fatalf("open control plane: %v", err)
	}
	hs := httptest.NewServer(cp.Handler)
	t.Cleanup(func() {
		hs.Close()
		_ = cp.Close()
	})
	s.cp, s.url, s.client = cp, hs.URL, hs.Client()
	// The suites invite far more than a person would in an hour;
	// TestInvitationMailBudget checks the budget itself.
	cp.Invites.MailsPerHour = 1 << 20
	s.client.Timeout = 30 * time.Second
	s.secrets.add(adminPassword, "bootstrap admin password")
	for _, k := range secretPattern.FindAllString(s.out.String(), -1) {
		s.secrets.add(k, "quickstart key secret")
	}
	s.admin = s.signIn(t, adminEmail, adminPassword)
	s.admin.verified = true // the operator chose the bootstrap admin's address
	return s
}

// sys is a context with the system principal, for direct ent changes that
// no GraphQL operation offers (a workspace's maxKeys, usage rows).
func sys(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return viewer.SystemContext(ctx)
}

// gqlError is one entry of a GraphQL response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func (e gqlError) code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// reply is a whole GraphQL HTTP answer.
type reply struct {
	Status int
	Body   []byte
	Data   map[string]any
	Errors []gqlError
}

var secretPattern = regexp.MustCompile(`sk-oais-[0-9A-Za-z]+`)

// post sends one GraphQL operation over HTTP and records every secret that
// crosses the wire (passwords and refresh tokens sent, secrets and tokens
// received).
func (s *server) post(t testing.TB, token, query string, vars map[string]any) reply {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{Status: resp.StatusCode, Body: raw}
	var decoded struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatalf("POST /graphql: status %d, not JSON: %v: %s", resp.StatusCode, err, raw)
	}
	r.Data, r.Errors = decoded.Data, decoded.Errors
	collectSecrets(s.secrets, "request", vars)
	var any any
	_ = json.Unmarshal(raw, &any)
	collectSecrets(s.secrets, "response", any)
	return r
}

// secretFields are the JSON names whose string values are secrets.
var secretFields = map[string]bool{"password": true, "secret": true, "accessToken": true, "refreshToken": true}

func collectSecrets(set *secretSet, where string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && secretFields[k] {
				set.add(s, where+" "+k)
				continue
			}
			collectSecrets(set, where, x)
		}
	case []any:
		for _, x := range v {
			collectSecrets(set, where, x)
		}
	case string:
		for _, k := range secretPattern.FindAllString(v, -1) {
			set.add(k, where+" key secret")
		}
	}
}

// must runs one operation that has to succeed.
func (s *server) must(t testing.TB, token, query string, vars map[string]any) map[string]any {
	t.Helper()
	r := s.post(t, token, query, vars)
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		t.Fatalf("operation failed (status %d): %s\nquery: %s\nvars: %v", r.Status, r.Body, query, vars)
	}
	return r.Data
}

// wantCode runs one operation that has to fail with code.
func (s *server) wantCode(t testing.TB, code, token, query string, vars map[string]any) reply {
	t.Helper()
	r := s.post(t, token, query, vars)
	if len(r.Errors) == 0 || r.Errors[0].code() != code {
		t.Fatalf("want error %s, got %s\nquery: %s", code, r.Body, query)
	}
	return r
}

// unique returns a string no other call on s returns.
func (s *server) unique(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, s.seq.Add(1))
}

// user is a signed-in account.
type user struct {
	ID, Email, Password string
	Token, Refresh      string
	verified            bool // opened the verification link mailed at sign-up
}

const authFields = `accessToken refreshToken expiresAt user { id email }`

func (s *server) auth(t testing.TB, op, email, password string) *user {
	t.Helper()
	s.secrets.add(password, "password")
	d := s.must(t, "", `mutation($e: String!, $p: String!) { `+op+`(email: $e, password: $p) { `+authFields+` } }`,
		map[string]any{"e": email, "p": password})
	return &user{
		ID: str(t, d, op, "user", "id"), Email: str(t, d, op, "user", "email"), Password: password,
		Token: str(t, d, op, "accessToken"), Refresh: str(t, d, op, "refreshToken"),
	}
}

// signUp creates an account through the signUp mutation.
func (s *server) signUp(t testing.TB, email string) *user {
	t.Helper()
	return s.auth(t, "signUp", email, userPassword)
}

// signIn signs an existing account in.
func (s *server) signIn(t testing.TB, email, password string) *user {
	t.Helper()
	return s.auth(t, "signIn", email, password)
}

// createWorkspace makes a workspace owned by token's user.
func (s *server) createWorkspace(t testing.TB, token, name string) string {
	t.Helper()
	d := s.must(t, token, `mutation($n: String!) { createWorkspace(input: {name: $n}) { id } }`, map[string]any{"n": name})
	return str(t, d, "createWorkspace", "id")
}

// createKey makes an API key in ws and returns its id and secret.
func (s *server) createKey(t testing.TB, token, ws, label string) (id, secret string) {
	t.Helper()
	d := s.must(t, token, `mutation($ws: ID!, $l: String!) { createAPIKey(input: {workspaceID: $ws, label: $l}) { secret apiKey { id } } }`,
		map[string]any{"ws": ws, "l": label})
	return str(t, d, "createAPIKey", "apiKey", "id"), str(t, d, "createAPIKey", "secret")
}

// invite invites email into ws with role and returns the invitation's id
// and the token mailed for it.
func (s *server) invite(t testing.TB, token, ws, email, role string) (id, link string) {
	t.Helper()
	d := s.must(t, token, `mutation($ws: ID!, $e: String!, $r: MembershipRole!) { inviteMember(workspaceID: $ws, email: $e, role: $r) { id } }`,
		map[string]any{"ws": ws, "e": email, "r": role})
	return str(t, d, "inviteMember", "id"), s.mail.Token(t, email, mail.InvitePath)
}

// verify opens the verification link mailed to u at sign-up (once).
func (s *server) verify(t testing.TB, u *user) {
	t.Helper()
	if u.verified {
		return
	}
	s.must(t, "", `mutation($t: String!) { verifyEmail(token: $t) }`, map[string]any{"t": s.mail.Token(t, u.Email, mail.VerifyPath)})
	u.verified = true
}

// addMember makes u a member of ws with role the only way there is: token's
// user invites u's address, u verifies it and accepts. It returns the
// membership's id.
func (s *server) addMember(t testing.TB, token, ws string, u *user, role string) string {
	t.Helper()
	_, link := s.invite(t, token, ws, u.Email, role)
	s.verify(t, u)
	d := s.must(t, u.Token, `mutation($t: String!) { acceptInvite(token: $t) { id role } }`, map[string]any{"t": link})
	if got := str(t, d, "acceptInvite", "role"); got != role {
		t.Fatalf("accepted as %s, want %s", got, role)
	}
	return str(t, d, "acceptInvite", "id")
}

// keyFields is every field of an API key a client can ask for.
const keyFields = `id createdAt updatedAt workspaceID label maskedKey status revokeReason revokedAt expiresAt
	maxRequests requestCount cacheHits requestsResetAt allowedModels ipAllowlist rpm tpm creditQuotaCents creditUsedMicros creditRemainingMicros cacheEnabled createdByID
	lastUsedAt rotatedFromID graceUntil leakedAt leakSource remainingRequests`

// key reads one key through node(id:).
func (s *server) key(t testing.TB, token, id string) map[string]any {
	t.Helper()
	d := s.must(t, token, `query($id: ID!) { node(id: $id) { ... on APIKey { `+keyFields+` } } }`, map[string]any{"id": id})
	n, _ := d["node"].(map[string]any)
	if n == nil {
		t.Fatalf("key %s not visible", id)
	}
	return n
}

// auditActions returns the (action, targetID) pairs of ws's audit log.
func (s *server) auditActions(t testing.TB, token, ws string) map[string][]string {
	t.Helper()
	d := s.must(t, token, `query($id: ID!) { workspace(id: $id) { auditEvents(first: 500, orderBy: {field: CREATED_AT}) {
		edges { node { action targetID actorEmail } } } } }`, map[string]any{"id": ws})
	out := map[string][]string{}
	for _, e := range list(t, d, "workspace", "auditEvents", "edges") {
		n := e.(map[string]any)["node"].(map[string]any)
		target, _ := n["targetID"].(string)
		out[n["action"].(string)] = append(out[n["action"].(string)], target)
	}
	return out
}

// dig walks decoded JSON by keys (string) and indexes (int).
func dig(t testing.TB, v any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: not an object: %v", path[:i+1], v)
			}
			v = m[p]
		case int:
			l, ok := v.([]any)
			if !ok || p >= len(l) {
				t.Fatalf("at %v: not a list of %d: %v", path[:i+1], p+1, v)
			}
			v = l[p]
		}
	}
	return v
}

func str(t testing.TB, v any, path ...any) string {
	t.Helper()
	s, ok := dig(t, v, path...).(string)
	if !ok {
		t.Fatalf("at %v: not a string: %v", path, dig(t, v, path...))
	}
	return s
}

func list(t testing.TB, v any, path ...any) []any {
	t.Helper()
	l, ok := dig(t, v, path...).([]any)
	if !ok && dig(t, v, path...) != nil {
		t.Fatalf("at %v: not a list", path)
	}
	return l
}

// nodeIDs returns the ids of a connection's nodes, in order.
func nodeIDs(t testing.TB, conn any) []string {
	t.Helper()
	var out []string
	for _, e := range list(t, conn, "edges") {
		out = append(out, str(t, e, "node", "id"))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// eventually polls f until it returns true or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
