package graphqltest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/auth"
)

// postCookie sends one GraphQL operation as the dashboard does: asking for
// the refresh token as the cookie (auth.SessionModeHeader), and returns the
// reply and the refresh cookie it set.
func (s *server) postCookie(t testing.TB, query string, vars map[string]any) (reply, *http.Cookie) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth.SessionModeHeader, auth.SessionModeCookie)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	r.Status = resp.StatusCode
	var decoded struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&decoded); err != nil {
		t.Fatal(err)
	}
	r.Data, r.Errors = decoded.Data, decoded.Errors
	return r, refreshCookie(resp)
}

func refreshCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == auth.RefreshCookie {
			return c
		}
	}
	return nil
}

// session calls one of the cookie endpoints (auth.RefreshPath or
// auth.SignOutPath) with cookie and headers.
func (s *server) session(t testing.TB, path string, cookie *http.Cookie, headers map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+path, nil)
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

var dashboard = map[string]string{auth.SessionModeHeader: auth.SessionModeCookie}

// TestRefreshTokenOnlyInCookie: a browser's refresh token never reaches
// script. The dashboard used to keep it in localStorage, where any script
// on the page (an XSS, a compromised dependency) could read and keep it
// for 30 days; now it is an HttpOnly, SameSite=Strict cookie scoped to the
// session endpoints, which answer only the dashboard's own origin.
func TestRefreshTokenOnlyInCookie(t *testing.T) {
	s := start(t, storetestSQLite(t), nil)
	u := s.signUp(t, s.unique("cookie")+"@a.test")

	r, c := s.postCookie(t, `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken refreshToken expiresAt } }`,
		map[string]any{"e": u.Email, "p": u.Password})
	if len(r.Errors) > 0 {
		t.Fatalf("signIn: %v", r.Errors)
	}
	if got := str(t, r.Data, "signIn", "refreshToken"); got != "" {
		t.Fatalf("the payload carries the refresh token %q: script can read it", got)
	}
	if c == nil || c.Value == "" {
		t.Fatal("no refresh cookie")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != auth.SessionPath || c.Secure {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Path=%s, and not Secure over http", c, auth.SessionPath)
	}
	access := str(t, r.Data, "signIn", "accessToken")
	s.must(t, access, `{ viewer { id } }`, nil)

	t.Run("API clients still get both tokens in the payload", func(t *testing.T) {
		again := s.signIn(t, u.Email, u.Password)
		if !strings.HasPrefix(again.Refresh, auth.RefreshTokenPrefix) {
			t.Fatalf("refreshToken %q", again.Refresh)
		}
	})

	t.Run("cross-site requests are refused", func(t *testing.T) {
		for name, h := range map[string]map[string]string{
			"no custom header":  nil,
			"another origin":    {auth.SessionModeHeader: auth.SessionModeCookie, "Origin": "https://evil.example"},
			"a look-alike host": {auth.SessionModeHeader: auth.SessionModeCookie, "Origin": "http://127.0.0.1.evil.example"},
		} {
			if resp, _ := s.session(t, auth.RefreshPath, c, h); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: refresh answered %d, want 403", name, resp.StatusCode)
			}
			if resp, _ := s.session(t, auth.SignOutPath, c, h); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: sign-out answered %d, want 403", name, resp.StatusCode)
			}
		}
	})

	// The dashboard's refresh: the cookie, rotated.
	resp, body := s.session(t, auth.RefreshPath, c, map[string]string{auth.SessionModeHeader: auth.SessionModeCookie, "Origin": s.url})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %v", resp.StatusCode, body)
	}
	next := refreshCookie(resp)
	if next == nil || next.Value == c.Value || !next.HttpOnly {
		t.Fatalf("refresh did not rotate the cookie: %+v", next)
	}
	if _, leaked := body["refreshToken"]; leaked {
		t.Fatal("the refresh answer carries a refresh token")
	}
	s.must(t, body["accessToken"].(string), `{ viewer { id } }`, nil)

	// The old cookie again is a copied token: the session ends.
	if resp, _ := s.session(t, auth.RefreshPath, c, dashboard); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("reused cookie: %d, want 401", resp.StatusCode)
	}
	if resp, _ := s.session(t, auth.RefreshPath, next, dashboard); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after reuse the session should be over: %d", resp.StatusCode)
	}

	t.Run("sign-out ends the session and clears the cookie", func(t *testing.T) {
		_, c := s.postCookie(t, `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`,
			map[string]any{"e": u.Email, "p": u.Password})
		resp, _ := s.session(t, auth.SignOutPath, c, dashboard)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("sign-out: %d", resp.StatusCode)
		}
		if cl := refreshCookie(resp); cl == nil || cl.MaxAge >= 0 {
			t.Fatalf("sign-out did not clear the cookie: %+v", cl)
		}
		if resp, _ := s.session(t, auth.RefreshPath, c, dashboard); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("refresh after sign-out: %d", resp.StatusCode)
		}
	})

	t.Run("Secure when OAIS_PUBLIC_URL is https", func(t *testing.T) {
		hs := start(t, storetestSQLite(t), map[string]string{"OAIS_PUBLIC_URL": "https://oais.example"})
		_, c := hs.postCookie(t, `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`,
			map[string]any{"e": adminEmail, "p": adminPassword})
		if c == nil || !c.Secure {
			t.Fatalf("cookie %+v: want Secure", c)
		}
	})
}

// TestSessionIdleTimeout: a session nobody used for OAIS_SESSION_IDLE ends,
// its refresh token and its access token alike. Before, the setting was
// not read at all: an abandoned session refreshed for 30 days.
func TestSessionIdleTimeout(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, map[string]string{"OAIS_SESSION_IDLE": "2s"})
		u := s.signUp(t, s.unique("idle")+"@a.test")

		// In use (refreshed within the idle time), it lives on.
		busy := s.signIn(t, u.Email, u.Password)
		for range 3 {
			time.Sleep(900 * time.Millisecond)
			d := s.must(t, "", `mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken refreshToken } }`, map[string]any{"r": busy.Refresh})
			busy.Token, busy.Refresh = str(t, d, "refreshSession", "accessToken"), str(t, d, "refreshSession", "refreshToken")
		}
		s.must(t, busy.Token, `{ viewer { id } }`, nil)

		// Left alone past the idle time, it is over.
		time.Sleep(2200 * time.Millisecond)
		s.wantCode(t, unauth, u.Token, `{ viewer { id } }`, nil)
		s.wantCode(t, unauth, "", `mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }`, map[string]any{"r": u.Refresh})
	})
}

// TestSessionList: the viewer sees their sessions and ends another one,
// whose tokens stop at once; another user's session is not theirs to end.
func TestSessionList(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		u := s.signUp(t, s.unique("list")+"@a.test")
		laptop := s.signIn(t, u.Email, u.Password)
		d := s.must(t, u.Token, `{ sessions { id current method userAgent lastUsedAt } }`, nil)
		sessions := list(t, d, "sessions")
		if len(sessions) != 2 {
			t.Fatalf("%d sessions, want 2: %v", len(sessions), sessions)
		}
		if ua := str(t, sessions[0], "userAgent"); ua == "" {
			t.Fatal("a session without the User-Agent that signed in")
		}
		var other string
		for _, x := range sessions {
			if x.(map[string]any)["current"] == false {
				other = str(t, x, "id")
			}
		}
		if other == "" {
			t.Fatalf("no session other than the current one: %v", sessions)
		}
		s.must(t, u.Token, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": other})
		s.wantCode(t, unauth, laptop.Token, `{ viewer { id } }`, nil)
		s.wantCode(t, unauth, "", `mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }`, map[string]any{"r": laptop.Refresh})
		s.must(t, u.Token, `{ viewer { id } }`, nil)

		// Another user's session id answers like a made-up one.
		s.wantCode(t, notFound, s.admin.Token, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": str(t, sessions[0], "id")})

		// signOutEverywhere ends them all, this one included.
		phone := s.signIn(t, u.Email, u.Password)
		d = s.must(t, u.Token, `mutation { signOutEverywhere }`, nil)
		if n := dig(t, d, "signOutEverywhere"); n != float64(2) {
			t.Fatalf("signOutEverywhere = %v, want 2", n)
		}
		s.wantCode(t, unauth, u.Token, `{ viewer { id } }`, nil)
		s.wantCode(t, unauth, phone.Token, `{ viewer { id } }`, nil)
	})
}
