package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/authtest"
	"github.com/oais/oais/internal/viewer"
)

// loaderFunc adapts a function to auth.PrincipalLoader.
type loaderFunc func(ctx context.Context, userID string) (*viewer.Viewer, error)

func (f loaderFunc) Principal(ctx context.Context, userID, _ string) (*viewer.Viewer, error) {
	return f(ctx, userID)
}

func TestMiddleware(t *testing.T) {
	clock := authtest.NewClock(time.Time{})
	i := newIssuer(t, &authtest.KeyStore{}, clock)
	good := issue(t, i)
	members := loaderFunc(func(_ context.Context, id string) (*viewer.Viewer, error) {
		// System is set to prove the middleware never passes it on.
		return &viewer.Viewer{UserID: id, Email: "a@example.com", Roles: map[string]viewer.Role{"w1": viewer.RoleOwner}, System: true}, nil
	})
	gone := loaderFunc(func(context.Context, string) (*viewer.Viewer, error) { return nil, auth.ErrUnknownPrincipal })
	down := loaderFunc(func(context.Context, string) (*viewer.Viewer, error) { return nil, errors.New("db down") })

	tests := []struct {
		name       string
		header     string
		target     string
		loader     auth.PrincipalLoader
		wantStatus int
		wantUser   string // "" means no viewer
	}{
		{name: "no header", loader: members, wantStatus: http.StatusOK},
		{name: "valid bearer", header: "Bearer " + good, loader: members, wantStatus: http.StatusOK, wantUser: "u1"},
		{name: "scheme is case-insensitive", header: "bearer " + good, loader: members, wantStatus: http.StatusOK, wantUser: "u1"},
		{name: "basic scheme ignored", header: "Basic " + good, loader: members, wantStatus: http.StatusOK},
		{name: "token in query ignored", target: "/graphql?access_token=" + good, loader: members, wantStatus: http.StatusOK},
		{name: "invalid token", header: "Bearer " + good + "x", loader: members, wantStatus: http.StatusOK},
		{name: "api key is not a session", header: "Bearer sk-oais-abc", loader: members, wantStatus: http.StatusOK},
		{name: "unknown principal", header: "Bearer " + good, loader: gone, wantStatus: http.StatusOK},
		{name: "loader outage", header: "Bearer " + good, loader: down, wantStatus: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *viewer.Viewer
			h := auth.Middleware(i, tt.loader)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = viewer.FromContext(r.Context())
			}))
			target := tt.target
			if target == "" {
				target = "/graphql"
			}
			req := httptest.NewRequest(http.MethodPost, target, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if rec.Code == http.StatusServiceUnavailable {
				// One body both clients read: GraphQL's errors and the
				// REST API's error.
				var body struct {
					Errors []struct {
						Extensions struct{ Code string } `json:"extensions"`
					} `json:"errors"`
					Error struct{ Code, Message string } `json:"error"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 ||
					body.Errors[0].Extensions.Code != "UNAVAILABLE" || body.Error.Code != "UNAVAILABLE" || body.Error.Message == "" {
					t.Fatalf("503 body %s (%v): want GraphQL's errors and the REST error, both UNAVAILABLE", rec.Body, err)
				}
			}
			switch {
			case tt.wantUser == "" && got != nil:
				t.Fatalf("viewer %+v set, want none", got)
			case tt.wantUser != "" && (got == nil || got.UserID != tt.wantUser):
				t.Fatalf("viewer = %+v, want user %s", got, tt.wantUser)
			case got != nil && (got.System || got.SessionID != "s1"):
				t.Fatalf("viewer %+v: want System=false, SessionID=s1", got)
			}
		})
	}
}

func TestRequireViewer(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		name       string
		viewer     *viewer.Viewer
		wantStatus int
	}{
		{name: "with viewer", viewer: &viewer.Viewer{UserID: "u1"}, wantStatus: http.StatusNoContent},
		{name: "without viewer", wantStatus: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			if tt.viewer != nil {
				req = req.WithContext(viewer.NewContext(req.Context(), tt.viewer))
			}
			rec := httptest.NewRecorder()
			auth.RequireViewer(ok).ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if rec.Code != http.StatusUnauthorized {
				return
			}
			var body struct {
				Errors []struct {
					Message    string            `json:"message"`
					Extensions map[string]string `json:"extensions"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if len(body.Errors) != 1 || body.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
				t.Fatalf("body %q", rec.Body)
			}
			if rec.Header().Get("WWW-Authenticate") == "" || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("headers %v", rec.Header())
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{name: "direct", remote: "203.0.113.7:4242", want: "203.0.113.7"},
		{name: "xff from untrusted peer ignored", remote: "203.0.113.7:4242", xff: []string{"198.51.100.1"}, trusted: trusted, want: "203.0.113.7"},
		{name: "xff ignored without trusted proxies", remote: "10.0.0.1:1", xff: []string{"198.51.100.1"}, want: "10.0.0.1"},
		{name: "one trusted proxy", remote: "10.0.0.1:1", xff: []string{"198.51.100.1"}, trusted: trusted, want: "198.51.100.1"},
		{name: "client-forged entries left of the real client", remote: "10.0.0.1:1", xff: []string{"1.2.3.4, 198.51.100.1"}, trusted: trusted, want: "198.51.100.1"},
		{name: "chain of trusted proxies", remote: "10.0.0.1:1", xff: []string{"198.51.100.1, 10.0.0.9", "10.0.0.8"}, trusted: trusted, want: "198.51.100.1"},
		{name: "all hops trusted", remote: "10.0.0.1:1", xff: []string{"10.0.0.5"}, trusted: trusted, want: "10.0.0.5"},
		{name: "garbage stops the walk", remote: "10.0.0.1:1", xff: []string{"198.51.100.1, junk, 10.0.0.3"}, trusted: trusted, want: "10.0.0.3"},
		{name: "trusted proxy without xff", remote: "10.0.0.1:1", trusted: trusted, want: "10.0.0.1"},
		{name: "ipv6 peer and client", remote: "[fd00::1]:443", xff: []string{"2001:db8::5"}, trusted: trusted, want: "2001:db8::5"},
		{name: "ipv4-mapped peer matches ipv4 prefix", remote: "[::ffff:10.0.0.1]:1", xff: []string{"198.51.100.1"}, trusted: trusted, want: "198.51.100.1"},
		{name: "unparsable remote", remote: "pipe", want: "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := auth.ClientIP(req, tt.trusted).String(); got != tt.want {
				t.Fatalf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}
