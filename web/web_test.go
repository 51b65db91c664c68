package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

const testIndex = `<!doctype html><html><body><div id="root"></div><script type="module" src="/assets/index-abc123.js"></script></body></html>`

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":              {Data: []byte(testIndex)},
		"assets/index-abc123.js":  {Data: []byte("console.log('app')")},
		"assets/index-def456.css": {Data: []byte("body{}")},
		"robots.txt":              {Data: []byte("User-agent: *\n")},
		".keep":                   {Data: nil},
	}
}

func TestHandler(t *testing.T) {
	h := newHandler(testFS())
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCache  string
		wantType   string
		wantIndex  bool
	}{
		{name: "root serves index", path: "/", wantStatus: 200, wantCache: "no-cache", wantType: "text/html; charset=utf-8", wantIndex: true},
		{name: "index.html is not redirected", path: "/index.html", wantStatus: 200, wantCache: "no-cache", wantIndex: true},
		{name: "client route falls back to index", path: "/w/ws_123/keys", wantStatus: 200, wantCache: "no-cache", wantIndex: true},
		{name: "deep client route falls back", path: "/w/ws_123/keys/key_9", wantStatus: 200, wantIndex: true},
		{name: "sso completion is an SPA page", path: "/auth/complete", wantStatus: 200, wantIndex: true},
		{name: "sign-in route", path: "/sign-in", wantStatus: 200, wantIndex: true},
		{name: "hashed asset is immutable", path: "/assets/index-abc123.js", wantStatus: 200, wantCache: "public, max-age=31536000, immutable", wantType: "text/javascript; charset=utf-8"},
		{name: "hashed css is immutable", path: "/assets/index-def456.css", wantStatus: 200, wantCache: "public, max-age=31536000, immutable", wantType: "text/css; charset=utf-8"},
		{name: "unhashed file revalidates", path: "/robots.txt", wantStatus: 200, wantCache: "no-cache"},
		{name: "missing asset is 404 not html", path: "/assets/index-old.js", wantStatus: 404},
		{name: "missing file with extension is 404", path: "/favicon.ico", wantStatus: 404},
		{name: "graphql is never shadowed", path: "/graphql", wantStatus: 404},
		{name: "oidc login is never shadowed", path: "/auth/oidc/login", wantStatus: 404},
		{name: "well-known is never shadowed", path: "/.well-known/jwks.json", wantStatus: 404},
		{name: "webhooks are never shadowed", path: "/webhooks/stripe", wantStatus: 404},
		{name: "healthz is never shadowed", path: "/healthz", wantStatus: 404},
		{name: "v1 is never shadowed", path: "/v1/chat/completions", wantStatus: 404},
		{name: "dot segments are cleaned", path: "/w/../assets/index-abc123.js", wantStatus: 200, wantCache: "public, max-age=31536000, immutable"},
		{name: "head on a route", method: http.MethodHead, path: "/w/x/usage", wantStatus: 200, wantCache: "no-cache"},
		{name: "post is refused", method: http.MethodPost, path: "/", wantStatus: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "http://oais.test"+tc.path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", res.StatusCode, tc.wantStatus, rec.Body.String())
			}
			if tc.wantCache != "" {
				if got := res.Header.Get("Cache-Control"); got != tc.wantCache {
					t.Errorf("Cache-Control = %q, want %q", got, tc.wantCache)
				}
			}
			if tc.wantType != "" {
				if got := res.Header.Get("Content-Type"); got != tc.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
				}
			}
			if tc.wantIndex && method == http.MethodGet && rec.Body.String() != testIndex {
				t.Errorf("body is not index.html: %q", rec.Body.String())
			}
			if tc.wantStatus == http.StatusNotFound && strings.Contains(rec.Body.String(), "<!doctype html>") {
				t.Errorf("404 answered with the SPA")
			}
		})
	}
}

func TestIndexRevalidation(t *testing.T) {
	h := newHandler(testFS())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("index has no ETag")
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("index CSP = %q, want frame-ancestors 'none'", csp)
	}
	req := httptest.NewRequest(http.MethodGet, "/w/a/keys", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("conditional GET = %d, want 304", rec.Code)
	}
}

func TestNotBuilt(t *testing.T) {
	h := newHandler(fstest.MapFS{".keep": {Data: nil}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/w/a/keys", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), "not built") {
		t.Errorf("body %q does not say the dashboard is not built", rec.Body.String())
	}
}

func TestEmbeddedHandlerBuilds(t *testing.T) {
	// The real embed works with or without a build: .keep is always there.
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphql", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /graphql = %d, want 404", rec.Code)
	}
}
