package secretscan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"method", errMethod, http.StatusMethodNotAllowed},
		{"too large", errTooLarge, http.StatusRequestEntityTooLarge},
		{"unsigned", errUnsigned, http.StatusUnauthorized},
		{"bad signature", errBadSignature, http.StatusUnauthorized},
		{"unknown key", fmt.Errorf("lookup: %w", ErrUnknownKey), http.StatusUnauthorized},
		{"malformed", errors.Join(errMalformed, errors.New("unexpected EOF")), http.StatusBadRequest},
		{"too many", errTooMany, http.StatusBadRequest},
		{"no keys", errNotConfigured, http.StatusServiceUnavailable},
		{"keys unavailable", fmt.Errorf("%w: 502", ErrKeysUnavailable), http.StatusServiceUnavailable},
		{"database down", fmt.Errorf("%w: dial", store.ErrUnavailable), http.StatusServiceUnavailable},
		{"anything else", errors.New("pq: something with sk-oais-secret inside"), http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := status(tc.err)
			if code != tc.want {
				t.Fatalf("status = %d, want %d", code, tc.want)
			}
			if strings.Contains(msg, "sk-oais") || strings.Contains(msg, "pq") {
				t.Fatalf("message leaks the error: %q", msg)
			}
		})
	}
}

func TestLeakSource(t *testing.T) {
	for _, tc := range []struct{ name, url, want string }{
		{"url", "https://github.com/o/r/blob/abc/.env", "github secret scanning: https://github.com/o/r/blob/abc/.env"},
		{"empty", "", "github secret scanning"},
		{"control characters", "https://x\n\x00\x1b[31m/y\u202e", "github secret scanning: https://x[31m/y"},
		{"invalid utf-8", "https://x/\xff\xfe", "github secret scanning: https://x/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := leakSource(tc.url); got != tc.want {
				t.Fatalf("leakSource = %q, want %q", got, tc.want)
			}
		})
	}
	long := leakSource("https://github.com/" + strings.Repeat("é", 1000))
	if len(long) > apikeys.MaxLeakSourceLn || !strings.HasPrefix(long, "github secret scanning: https://") || !utf8Valid(long) {
		t.Fatalf("long source: %d bytes, %q…", len(long), long[:40])
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "?") == s }

// owner signs up a user and makes them the owner of a new workspace.
func owner(t testing.TB, c *ent.Client, email string) (context.Context, *ent.Workspace) {
	t.Helper()
	sys := viewer.SystemContext(context.Background())
	u, err := c.User.Create().SetEmail(email).Save(sys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := viewer.NewContext(context.Background(), &viewer.Viewer{UserID: u.ID, Email: email, Roles: map[string]viewer.Role{}})
	ws, err := workspaces.Create(ctx, c, "acme")
	if err != nil {
		t.Fatal(err)
	}
	return ctx, ws
}

// fixture is a database with one workspace, a handler trusting key
// "github-1", and a way to make keys.
type fixture struct {
	t      testing.TB
	client *ent.Client
	svc    *apikeys.Service
	owner  context.Context
	ws     *ent.Workspace
	gh     signer
	h      http.Handler
}

func newFixture(t testing.TB, s *store.Store) *fixture {
	t.Helper()
	f := &fixture{t: t, client: s.Ent, svc: &apikeys.Service{}, gh: newSigner(t, "github-1")}
	f.owner, f.ws = owner(t, s.Ent, "owner@example.com")
	pk, err := ParseKeys(document(t, f.gh.docKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	f.h = Handler(s.Ent, f.svc, pk, slog.New(slog.DiscardHandler))
	return f
}

// key creates a live key and returns its secret and id.
func (f *fixture) key(label string) (string, string) {
	f.t.Helper()
	c, err := f.svc.Create(f.owner, f.client, apikeys.CreateParams{WorkspaceID: f.ws.ID, Label: label})
	if err != nil {
		f.t.Fatal(err)
	}
	return c.Secret.Reveal(), c.Key.ID
}

func (f *fixture) get(id string) *ent.APIKey {
	f.t.Helper()
	k, err := f.client.APIKey.Get(viewer.SystemContext(context.Background()), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

func (f *fixture) leakLines(id string) []*ent.AuditEvent {
	f.t.Helper()
	ev, err := f.client.AuditEvent.Query().
		Where(auditevent.Action(audit.KeyLeaked), auditevent.TargetID(id)).
		All(viewer.SystemContext(context.Background()))
	if err != nil {
		f.t.Fatal(err)
	}
	return ev
}

// post sends body with the given headers; a nil hdr signs with f.gh.
func (f *fixture) post(body []byte, hdr map[string]string) (*httptest.ResponseRecorder, []Feedback) {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	if hdr == nil {
		hdr = map[string]string{headerKeyID: f.gh.id, headerSignature: f.gh.sign(f.t, body)}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	var fb []Feedback
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &fb); err != nil {
			f.t.Fatalf("response is not feedback JSON: %v: %s", err, rec.Body)
		}
	}
	return rec, fb
}

func report(t testing.TB, matches ...Match) []byte {
	t.Helper()
	b, err := json.Marshal(matches)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func match(token string) Match {
	return Match{Token: token, Type: TokenType, URL: "https://github.com/octocat/hello/blob/0123abc/.env", Source: "content"}
}

func wantStatus(t testing.TB, k *ent.APIKey, status apikey.Status) {
	t.Helper()
	if k.Status != status {
		t.Fatalf("key %s status = %s, want %s", k.ID, k.Status, status)
	}
}

func TestReportRevokes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		secret, id := f.key("ci")
		body := report(t, match(secret))

		rec, fb := f.post(body, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if want := []Feedback{{TokenRaw: secret, TokenType: TokenType, Label: LabelTruePositive}}; !equal(fb, want) {
			t.Fatalf("feedback = %+v, want %+v", fb, want)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type = %q", ct)
		}
		k := f.get(id)
		wantStatus(t, k, apikey.StatusREVOKED)
		wantSource := "github secret scanning: https://github.com/octocat/hello/blob/0123abc/.env"
		if k.RevokeReason == nil || *k.RevokeReason != apikey.RevokeReasonLEAKED || k.LeakSource == nil || *k.LeakSource != wantSource || k.LeakedAt == nil {
			t.Fatalf("revoked key: reason %v, source %v, leaked at %v", k.RevokeReason, k.LeakSource, k.LeakedAt)
		}
		lines := f.leakLines(id)
		if len(lines) != 1 || lines[0].WorkspaceID == nil || *lines[0].WorkspaceID != f.ws.ID || lines[0].Details["source"] != wantSource {
			t.Fatalf("audit: %d key.leaked lines, first %+v", len(lines), lines)
		}
		if got := fmt.Sprint(lines[0].Details); strings.Contains(got, secret) {
			t.Fatal("the audit line holds the secret")
		}

		// GitHub redelivers: nothing changes and no second audit line.
		leakedAt := *k.LeakedAt
		rec, fb = f.post(body, nil)
		if rec.Code != http.StatusOK || len(fb) != 1 || fb[0].Label != LabelFalsePositive {
			t.Fatalf("replay: %d %+v", rec.Code, fb)
		}
		if k := f.get(id); !k.LeakedAt.Equal(leakedAt) || *k.LeakSource != wantSource {
			t.Fatalf("replay changed the key: %v %v", k.LeakedAt, *k.LeakSource)
		}
		if n := len(f.leakLines(id)); n != 1 {
			t.Fatalf("replay: %d key.leaked lines, want 1", n)
		}
	})
}

func TestReportRejected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		secret, id := f.key("ci")
		body := report(t, match(secret))
		forger := newSigner(t, f.gh.id)
		other := []byte(strings.Replace(string(body), "content", "commit", 1))
		huge := report(t, Match{Token: secret, URL: "https://github.com/" + strings.Repeat("a", MaxBody)})
		tooMany := report(t, make([]Match, MaxMatches+1)...)
		for _, tc := range []struct {
			name string
			body []byte
			hdr  map[string]string
			want int
		}{
			{"no headers", body, map[string]string{}, http.StatusUnauthorized},
			{"no signature", body, map[string]string{headerKeyID: f.gh.id}, http.StatusUnauthorized},
			{"no identifier", body, map[string]string{headerSignature: f.gh.sign(t, body)}, http.StatusUnauthorized},
			{"signed by another key", body, map[string]string{headerKeyID: f.gh.id, headerSignature: forger.sign(t, body)}, http.StatusUnauthorized},
			{"signature of another body", body, map[string]string{headerKeyID: f.gh.id, headerSignature: f.gh.sign(t, other)}, http.StatusUnauthorized},
			{"unknown identifier", body, map[string]string{headerKeyID: "github-2", headerSignature: f.gh.sign(t, body)}, http.StatusUnauthorized},
			{"signature not base64", body, map[string]string{headerKeyID: f.gh.id, headerSignature: "!!!"}, http.StatusUnauthorized},
			{"signature not ASN.1", body, map[string]string{headerKeyID: f.gh.id, headerSignature: "AAAA"}, http.StatusUnauthorized},
			{"too large, signed", huge, nil, http.StatusRequestEntityTooLarge},
			{"too large, unsigned", huge, map[string]string{}, http.StatusUnauthorized},
			{"not JSON", []byte(`[{"token":`), nil, http.StatusBadRequest},
			{"an object", []byte(`{"token":"` + secret + `"}`), nil, http.StatusBadRequest},
			{"null", []byte(`null`), nil, http.StatusBadRequest},
			{"token not a string", []byte(`[{"token":42}]`), nil, http.StatusBadRequest},
			{"trailing data", append(append([]byte{}, body...), []byte(`[]`)...), nil, http.StatusBadRequest},
			{"too many matches", tooMany, nil, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rec, _ := f.post(tc.body, tc.hdr)
				if rec.Code != tc.want {
					t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
				}
				if strings.Contains(rec.Body.String(), secret) {
					t.Fatal("the error response echoes the secret")
				}
				wantStatus(t, f.get(id), apikey.StatusACTIVE)
				if n := len(f.leakLines(id)); n != 0 {
					t.Fatalf("%d key.leaked lines after a rejected report", n)
				}
			})
		}
	})
}

func TestReportMixedBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		live, liveID := f.key("live")
		revoked, revokedID := f.key("revoked by hand")
		if _, err := f.svc.Revoke(f.owner, f.client, revokedID); err != nil {
			t.Fatal(err)
		}
		_, bystanderID := f.key("bystander")
		unknown, err := keys.Generate()
		if err != nil {
			t.Fatal(err)
		}
		malformed := live[:len(live)-1] + "x" // checksum fails
		if keys.Valid(malformed) {
			malformed = live[:len(live)-1]
		}
		matches := []Match{
			match(live),
			match(unknown.Reveal()),
			match(malformed),
			{Token: "", Type: "", URL: ""},
			match(revoked),
			match(live), // GitHub found it twice
			{Token: "ghp_notours", Type: "other_type"},
		}
		rec, fb := f.post(report(t, matches...), nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		want := []Feedback{
			{live, TokenType, LabelTruePositive},
			{unknown.Reveal(), TokenType, LabelFalsePositive},
			{malformed, TokenType, LabelFalsePositive},
			{"", TokenType, LabelFalsePositive},
			{revoked, TokenType, LabelTruePositive}, // revoked by hand could come back; leaked cannot
			{live, TokenType, LabelTruePositive},
			{"ghp_notours", "other_type", LabelFalsePositive},
		}
		if !equal(fb, want) {
			t.Fatalf("feedback\n got %+v\nwant %+v", fb, want)
		}
		for _, id := range []string{liveID, revokedID} {
			k := f.get(id)
			wantStatus(t, k, apikey.StatusREVOKED)
			if *k.RevokeReason != apikey.RevokeReasonLEAKED {
				t.Fatalf("key %s reason %s", id, *k.RevokeReason)
			}
			if n := len(f.leakLines(id)); n != 1 {
				t.Fatalf("key %s: %d key.leaked lines", id, n)
			}
		}
		wantStatus(t, f.get(bystanderID), apikey.StatusACTIVE)

		rec, fb = f.post([]byte(`[]`), nil)
		if rec.Code != http.StatusOK || fb == nil || len(fb) != 0 {
			t.Fatalf("empty report: %d %s", rec.Code, rec.Body)
		}
	})
}

// TestConcurrentDeliveries: two deliveries of one report at once revoke the
// key once, with one audit line and one true positive.
func TestConcurrentDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		secret, id := f.key("ci")
		body := report(t, match(secret))
		const n = 16
		labels := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
				req.Header.Set(headerKeyID, f.gh.id)
				req.Header.Set(headerSignature, f.gh.sign(t, body))
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				var fb []Feedback
				if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &fb) == nil && len(fb) == 1 {
					labels[i] = fb[0].Label
				} else {
					labels[i] = fmt.Sprintf("%d %s", rec.Code, rec.Body)
				}
			})
		}
		delivered := make(chan struct{})
		go func() { wg.Wait(); close(delivered) }()
		select {
		case <-delivered:
		case <-time.After(time.Minute): // a deadlock guard, not a timing assertion
			t.Fatal("the concurrent deliveries did not all return within a minute")
		}
		trues := 0
		for _, l := range labels {
			switch l {
			case LabelTruePositive:
				trues++
			case LabelFalsePositive:
			default:
				t.Fatalf("a delivery failed: %s", l)
			}
		}
		if trues != 1 {
			t.Fatalf("labels %v: want exactly one true positive", labels)
		}
		if lines := len(f.leakLines(id)); lines != 1 {
			t.Fatalf("%d key.leaked lines, want 1", lines)
		}
	})
}

func TestHandlerMisc(t *testing.T) {
	s := storetest.SQLite(t)
	f := newFixture(t, s)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Fatalf("GET: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	f.h = Handler(s.Ent, f.svc, nil, nil)
	if rec, _ := f.post([]byte(`[]`), nil); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("no keys configured: %d", rec.Code)
	}
}

// TestLogsNoSecret: the log of a report holds counts, never a token.
func TestLogsNoSecret(t *testing.T) {
	s := storetest.SQLite(t)
	f := newFixture(t, s)
	var buf bytes.Buffer
	pk, _ := ParseKeys(document(t, f.gh.docKey(t)))
	f.h = Handler(s.Ent, f.svc, pk, slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	secret, _ := f.key("ci")
	unknown, _ := keys.Generate()
	body := report(t, match(secret), match(unknown.Reveal()), match("sk-oais-short"))
	f.post(body, nil)
	f.post(body, map[string]string{headerKeyID: f.gh.id, headerSignature: "AAAA"})
	for _, tok := range []string{secret, unknown.Reveal(), "sk-oais-short", keys.HashOf(secret).String()} {
		if strings.Contains(buf.String(), tok) {
			t.Fatalf("log holds a token:\n%s", buf.String())
		}
	}
	if !strings.Contains(buf.String(), "revoked=1") || !strings.Contains(buf.String(), "malformed=1") {
		t.Fatalf("log lacks the counts:\n%s", buf.String())
	}
}

func equal(a, b []Feedback) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzHandler sends the handler signed bodies of any shape, against a real
// database: it must never panic, answer only 200, 400 or 413, and on 200
// label every match exactly once with one of the two labels.
func FuzzHandler(f *testing.F) {
	s := storetest.SQLite(f)
	fx := newFixture(f, s)
	secret, _ := fx.key("fuzz")
	unknown, _ := keys.Generate()
	for _, seed := range []string{
		string(report(f, match(secret))),
		string(report(f, match(unknown.Reveal()), match("sk-oais-"), Match{})),
		`[{"token":"sk-oais-AAAA","type":"oais_api_key","url":"https://github.com/o/r","source":"content"}]`,
		`[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]`,
		`[]`, `null`, `{}`, `[null]`, `[[]]`, `[{"token":null}]`, `[{"token":"\u0000\ud800"}]`,
		`[{"token":"a","extra":{"deep":[1,2,{"x":"y"}]}}]`, `[1e999]`, `"sk-oais"`, ``, `[`,
		string(report(f, make([]Match, MaxMatches+1)...)),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if m, err := ParseReport(body); err == nil && (m == nil || len(m) > MaxMatches) {
			t.Fatalf("ParseReport accepted %d matches (nil %v)", len(m), m == nil)
		}
		fx.t = t
		rec, fb := fx.post(body, nil)
		switch rec.Code {
		case http.StatusOK:
			m, err := ParseReport(body)
			if err != nil || len(fb) != len(m) {
				t.Fatalf("200 with %d labels for %d matches (%v)", len(fb), len(m), err)
			}
			for i, x := range fb {
				if x.TokenRaw != m[i].Token || (x.Label != LabelTruePositive && x.Label != LabelFalsePositive) {
					t.Fatalf("feedback %d = %+v for token %q", i, x, m[i].Token)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
