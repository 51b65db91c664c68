package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/keys"
)

func TestOutboundHeader(t *testing.T) {
	in := http.Header{
		"Authorization":       {"Bearer sk-oais-client"},
		"Cookie":              {"session=1"},
		"Idempotency-Key":     {"k1"},
		"Accept-Encoding":     {"gzip"},
		"Openai-Organization": {"org-client"},
		"Openai-Project":      {"proj-client"},
		"X-Request-Id":        {"client-1"},
		"X-Forwarded-For":     {"6.6.6.6"},
		"Forwarded":           {"for=6.6.6.6"},
		"Connection":          {"keep-alive, X-Hop"},
		"X-Hop":               {"named by Connection"},
		"Keep-Alive":          {"timeout=5"},
		"Te":                  {"trailers"},
		"Content-Length":      {"12"},
		"Content-Type":        {"text/plain"},
		"Openai-Beta":         {"assistants=v2"},
		"X-Mock-Chunks":       {"3"},
		"X-Stainless-Lang":    {"go"},
		"Api-Key":             {"sk-oais-client"},
		"Expect":              {"100-continue"},
		"X-Unknown":           {"1"},
	}
	tests := []struct {
		name    string
		authz   []string
		hasBody bool
		want    http.Header
	}{
		{name: "with body and upstream key", authz: []string{"Bearer up"}, hasBody: true, want: http.Header{
			"Authorization": {"Bearer up"}, "Content-Type": {"application/json"}, "Openai-Beta": {"assistants=v2"},
			"X-Mock-Chunks": {"3"}, "X-Stainless-Lang": {"go"}, "User-Agent": {""},
		}},
		{name: "no upstream key, no body", want: http.Header{
			"Content-Type": {"text/plain"}, "Openai-Beta": {"assistants=v2"}, "X-Mock-Chunks": {"3"}, "X-Stainless-Lang": {"go"}, "User-Agent": {""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := outboundHeader(in, tt.authz, tt.hasBody)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
	t.Run("client user agent kept", func(t *testing.T) {
		got := outboundHeader(http.Header{"User-Agent": {"OpenAI/Python 1.0"}}, nil, false)
		if got.Get("User-Agent") != "OpenAI/Python 1.0" {
			t.Fatalf("User-Agent %q", got.Get("User-Agent"))
		}
	})
}

func TestCopyResponseHeader(t *testing.T) {
	src := http.Header{
		"Content-Type":                   {"application/json"},
		"Content-Length":                 {"99"},
		"Date":                           {"Mon, 01 Jan 2024 00:00:00 GMT"},
		"X-Request-Id":                   {"req_upstream"},
		"X-Ratelimit-Remaining-Requests": {"4"},
		"Set-Cookie":                     {"a=b"},
		"Openai-Organization":            {"org-ours"},
		"Connection":                     {"X-Hop"},
		"X-Hop":                          {"1"},
		"Transfer-Encoding":              {"chunked"},
		"Openai-Processing-Ms":           {"12"},
		"Retry-After":                    {"3"},
	}
	dst := http.Header{"X-Request-Id": {"req_ours"}, "X-Ratelimit-Remaining-Requests": {"999"}}
	copyResponseHeader(dst, src)
	want := http.Header{
		"X-Request-Id": {"req_ours"}, "X-Ratelimit-Remaining-Requests": {"999"}, "X-Upstream-Request-Id": {"req_upstream"},
		"Content-Type": {"application/json"}, "Openai-Processing-Ms": {"12"}, "Retry-After": {"3"},
	}
	if fmt.Sprint(dst) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", dst, want)
	}
}

// TestForwarderRelay runs answers of every shape through the forwarder
// against an upstream that records what it got: headers scrubbed both
// ways, bodies relayed byte for byte with a correct length, usage metered
// from large answers too.
func TestForwarderRelay(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	big := `{"id":"x","choices":[{"message":{"content":"` + strings.Repeat("z", 3*copyBufSize) + `"}}],"usage":{"prompt_tokens":3,"completion_tokens":5}}`
	mid := `{"id":"x","choices":[{"message":{"content":"` + strings.Repeat("m", 3*autoLength) + `"}}],"usage":{"prompt_tokens":3,"completion_tokens":6}}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Set-Cookie", "upstream=1")
		h.Set("X-Request-Id", "req_up")
		h.Set("Connection", "X-Hop")
		h.Set("X-Hop", "1")
		switch r.Header.Get("X-Mock-Answer") {
		case "big":
			h.Set("Content-Length", fmt.Sprint(len(big)))
			_, _ = io.WriteString(w, big)
		case "big-chunked":
			_, _ = io.WriteString(w, big[:100])
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, big[100:])
		case "mid":
			_, _ = io.WriteString(w, mid)
		case "error":
			h.Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
		}
	}))
	t.Cleanup(up.Close)
	h := newHarness(t, harnessOpts{upstreamURL: up.URL + "/v1"})
	tests := []struct {
		answer     string
		status     int
		body       string
		completion int64 // -1: not billed
	}{
		{"big", 200, big, 5},
		{"big-chunked", 200, big, 5},
		{"mid", 200, mid, 6},
		{"error", 429, `{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}`, -1},
	}
	for _, tt := range tests {
		t.Run(tt.answer, func(t *testing.T) {
			resp, body := h.do(t, "active", "POST", "/v1/chat/completions", chatBody, map[string]string{
				"X-Mock-Answer": tt.answer, "Cookie": "c=1", "Openai-Organization": "org-client", "Connection": "X-Client-Hop", "X-Client-Hop": "1",
			})
			if resp.StatusCode != tt.status || body != tt.body {
				t.Fatalf("status %d, body of %d bytes (want %d)", resp.StatusCode, len(body), len(tt.body))
			}
			if resp.ContentLength != int64(len(tt.body)) && resp.ContentLength != -1 {
				t.Fatalf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
			}
			for k, want := range map[string]string{"Set-Cookie": "", "X-Hop": "", "X-Upstream-Request-Id": "req_up", "Content-Type": "application/json"} {
				if v := resp.Header.Get(k); v != want {
					t.Errorf("client got %s %q, want %q", k, v, want)
				}
			}
			if tt.status == 429 && resp.Header.Get("Retry-After") != "7" {
				t.Errorf("upstream Retry-After lost: %v", resp.Header)
			}
			mu.Lock()
			sent := got
			mu.Unlock()
			for _, k := range []string{"Cookie", "Openai-Organization", "X-Client-Hop"} {
				if v := sent.Get(k); v != "" {
					t.Errorf("upstream got %s %q", k, v)
				}
			}
			if sent.Get("Authorization") != "Bearer "+upstreamKey {
				t.Errorf("upstream Authorization %q", sent.Get("Authorization"))
			}
			if tt.completion >= 0 {
				rec := h.rec.next(t)
				if rec.CompletionTokens != tt.completion || rec.Source != "upstream" {
					t.Fatalf("record %+v", rec)
				}
			}
		})
	}
}

// TestNoClientCredentialUpstream: a client's credentials (its sk-oais key
// wherever it puts it, cookies, proxy and cloud API keys) never reach an
// upstream, the global one or a workspace's own (a third party), while the
// headers OpenAI's SDKs send for the upstream still do.
func TestNoClientCredentialUpstream(t *testing.T) {
	var mu sync.Mutex
	var got []http.Header
	capture := func() *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			got = append(got, r.Header.Clone())
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`)
		}))
		t.Cleanup(s.Close)
		return s
	}
	global, third := capture(), capture()
	base, _ := url.Parse(third.URL + "/v1")
	own := &Principal{
		Key:       KeyPolicy{ID: "key_third", WorkspaceID: "ws_third", State: keys.State{Status: keys.StatusActive}},
		Workspace: &WorkspacePolicy{ID: "ws_third", Upstream: &Upstream{BaseURL: base, Authorization: "Bearer sk-third-party"}},
	}
	// The third-party upstream stands on loopback here: the operator
	// allows it, as a real one would be public.
	h := newHarness(t, harnessOpts{upstreamURL: global.URL + "/v1", extra: map[string]*Principal{"third": own},
		cfg: Config{Egress: &egress.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}})

	sdk := map[string]string{
		"User-Agent":                  "OpenAI/Python 1.99.0",
		"Accept":                      "application/json",
		"Openai-Beta":                 "assistants=v2",
		"X-Stainless-Lang":            "python",
		"X-Stainless-Package-Version": "1.99.0",
		"X-Stainless-Retry-Count":     "0",
		"X-Stainless-Read-Timeout":    "600",
	}
	tests := []struct {
		name   string
		creds  func(secret string) map[string]string
		wantUA string
	}{
		{name: "credential headers", wantUA: sdk["User-Agent"], creds: func(secret string) map[string]string {
			return map[string]string{
				"Api-Key":                   secret, // Azure-style SDKs
				"X-Api-Key":                 secret,
				"X_api_key":                 secret, // CGI-style servers read it as X-Api-Key
				"X-Goog-Api-Key":            "AIza-client",
				"Ocp-Apim-Subscription-Key": "apim-client",
				"X-Auth-Token":              "token-client",
				"X-Amz-Security-Token":      "amz-client",
				"Cookie":                    "session=client-session",
				"Proxy-Authorization":       "Basic Y2xpZW50OnNlY3JldA==",
				"Openai-Organization":       "org-client",
				"Openai-Project":            "proj-client",
				"Idempotency-Key":           "idem-client",
				"Expect":                    "100-continue",
				"X-Forwarded-For":           "6.6.6.6",
			}
		}},
		{name: "the secret in an SDK header", wantUA: "", creds: func(secret string) map[string]string {
			return map[string]string{"User-Agent": "app/1 " + secret, "X-Stainless-Custom": secret, "Openai-Beta": "key=" + secret}
		}},
	}
	for _, who := range []string{"active", "third"} {
		for _, tt := range tests {
			t.Run(who+"/"+tt.name, func(t *testing.T) {
				secret := h.secrets[who]
				hdr := map[string]string{}
				for k, v := range sdk {
					hdr[k] = v
				}
				creds := tt.creds(secret)
				for k, v := range creds {
					hdr[k] = v
				}
				mu.Lock()
				got = nil
				mu.Unlock()
				resp, body := h.do(t, who, "POST", "/v1/chat/completions", chatBody, hdr)
				if resp.StatusCode != 200 {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				h.rec.next(t)
				mu.Lock()
				defer mu.Unlock()
				if len(got) != 1 {
					t.Fatalf("%d upstream requests", len(got))
				}
				up := got[0]
				for k, vs := range up {
					for _, v := range vs {
						if strings.Contains(v, secret) || strings.Contains(v, keys.Prefix) {
							t.Errorf("the client's key reached the upstream in %s", k)
						}
					}
				}
				for k := range creds {
					if k == "User-Agent" || k == "Openai-Beta" {
						continue
					}
					if v := up.Values(k); len(v) > 0 {
						t.Errorf("upstream got %s: %q", k, v)
					}
				}
				wantAuth := "Bearer " + upstreamKey
				if who == "third" {
					wantAuth = "Bearer sk-third-party"
				}
				if a := up.Values("Authorization"); len(a) != 1 || a[0] != wantAuth {
					t.Errorf("upstream Authorization %q, want only the upstream's own", a)
				}
				want := map[string]string{"User-Agent": tt.wantUA, "Content-Type": "application/json"}
				for k, v := range sdk {
					if _, replaced := creds[k]; !replaced && k != "User-Agent" {
						want[k] = v
					}
				}
				for k, v := range want {
					if up.Get(k) != v {
						t.Errorf("upstream %s = %q, want %q", k, up.Get(k), v)
					}
				}
			})
		}
	}
}
