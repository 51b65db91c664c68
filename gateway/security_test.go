package gateway

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oais/oais/internal/drain"
	"github.com/oais/oais/internal/usage"
)

// openAIError decodes an OpenAI-shaped error body and fails unless it is one.
func openAIError(t testing.TB, body string) (typ, code string) {
	t.Helper()
	var e struct {
		Error *struct {
			Message *string         `json:"message"`
			Type    *string         `json:"type"`
			Param   json.RawMessage `json:"param"`
			Code    *string         `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == nil || e.Error.Message == nil || e.Error.Type == nil || e.Error.Code == nil {
		t.Fatalf("not an OpenAI error (%v): %.300q", err, body)
	}
	return *e.Error.Type, *e.Error.Code
}

// hiddenLength is a body whose length the client cannot know (chunked).
type hiddenLength struct{ r io.Reader }

func (h hiddenLength) Read(p []byte) (int, error) { return h.r.Read(p) }

// TestBadBodies sends malformed, oversized and ambiguous bodies through the
// real handler: each is refused with its CONTRACT §3 code before anything
// reaches the upstream, or (when the bytes are valid JSON the upstream may
// judge) served and metered.
func TestBadBodies(t *testing.T) {
	big := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}]}`
	tests := []struct {
		name    string
		who     string
		body    string
		chunked bool // hide the length, so only the bounded reader can refuse
		status  int
		code    string // "" for a 200
		// knownBug, when set, names a bug this case currently exposes; the
		// case is skipped (not passed) while the buggy answer comes back.
		knownBug string
	}{
		{name: "oversized with Content-Length", who: "active", body: big, status: 413, code: "request_too_large"},
		{name: "oversized chunked", who: "active", body: big, chunked: true, status: 413, code: "request_too_large"},
		{name: "empty body", who: "active", body: "", status: 400, code: "invalid_request_error"},
		{name: "truncated JSON", who: "active", body: `{"model":"gpt-4o-mini","messages":[{"role":"us`, status: 400, code: "invalid_request_error"},
		{name: "trailing garbage", who: "active", body: chatBody + `}`, status: 400, code: "invalid_request_error"},
		{name: "JSON array", who: "active", body: `[` + chatBody + `]`, status: 400, code: "invalid_request_error"},
		{name: "100000 nested arrays", who: "active", body: `{"model":"gpt-4o-mini","messages":` + strings.Repeat("[", 100_000), status: 400, code: "invalid_request_error"},
		{name: "100000 nested arrays in an unknown field", who: "active", body: `{"model":"gpt-4o-mini","x":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`, status: 400, code: "invalid_request_error"},
		{name: "model missing", who: "active", body: `{"messages":[]}`, status: 400, code: "invalid_request_error"},
		{name: "model null", who: "active", body: `{"model":null,"messages":[]}`, status: 400, code: "invalid_request_error"},
		{name: "model a number", who: "active", body: `{"model":4,"messages":[]}`, status: 400, code: "invalid_request_error"},
		{name: "model an object", who: "active", body: `{"model":{"id":"gpt-4o"},"messages":[]}`, status: 400, code: "invalid_request_error"},
		{name: "max_tokens 1e400", who: "active", body: `{"model":"gpt-4o-mini","max_tokens":1e400,"messages":[]}`, status: 400, code: "invalid_request_error"},
		{name: "max_tokens past int64", who: "active", body: `{"model":"gpt-4o-mini","max_tokens":99999999999999999999,"messages":[]}`, status: 400, code: "invalid_request_error"},
		{name: "max_tokens fractional", who: "active", body: `{"model":"gpt-4o-mini","max_tokens":1.5,"messages":[]}`, status: 400, code: "invalid_request_error"},
		{name: "max_tokens MaxInt64 against a TPM of 50", who: "tpm",
			body:   fmt.Sprintf(`{"model":"gpt-4o-mini","max_tokens":%d,"messages":[{"role":"user","content":"hi"}]}`, int64(math.MaxInt64)),
			status: 429, code: "rate_limit_exceeded"},
		{name: "n times max_tokens overflows against a TPM of 50", who: "tpm",
			body:   `{"model":"gpt-4o-mini","n":128,"max_tokens":144115188075855872,"messages":[{"role":"user","content":"hi"}]}`,
			status: 429, code: "rate_limit_exceeded"},
		// Replaced by the gateway's own (withStreamUsage), so never a reason to refuse.
		{name: "stream_options not an object", who: "active", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":5,"messages":[]}`, status: 200},
		{name: "non-UTF-8 bytes in content", who: "active", body: "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\xc0\"}]}", status: 200},
		{name: "duplicate model, last one allowed", who: "models", body: `{"model":"gpt-4o","model":"gpt-4o-mini","messages":[]}`, status: 200},
		{name: "duplicate model, last one not allowed", who: "models", body: `{"model":"gpt-4o-mini","model":"gpt-4o","messages":[]}`, status: 403, code: "model_not_allowed"},
		{name: "case-folded Model smuggles a disallowed model", who: "models", body: `{"model":"gpt-4o","Model":"gpt-4o-mini","messages":[]}`,
			status: 400, code: "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = hiddenLength{body}
			}
			req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+h.secrets[tt.who])
			resp, err := h.srv.Client().Do(req)
			if err != nil && tt.status == 413 && testHTTPServer() == "fasthttp" && errors.Is(err, syscall.ECONNRESET) {
				// A client still sending when the 413 comes may meet a
				// reset before it reads the answer, and Go's client
				// reports its write's error first (internal/drain's
				// TestRefusedBodyGetsItsAnswer, a raw client, reads the
				// answer on both servers); CI met it once in six runs on
				// fasthttp here. Either way, nothing may reach the
				// upstream or the bill.
				if n := h.upstreamCalls(); n != 0 {
					t.Fatalf("a refused request reached the upstream %d times", n)
				}
				if _, answered := h.rec.errorRecords(); answered != 0 {
					t.Fatalf("a refused request left %d answered records", answered)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.knownBug != "" && resp.StatusCode != tt.status {
				t.Skipf("KNOWN BUG (got %d): %s", resp.StatusCode, tt.knownBug)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tt.status, raw)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no x-request-id")
			}
			if tt.code == "" {
				if h.rec.next(t) == nil || h.upstreamCalls() != 1 {
					t.Fatalf("served but not metered once: %d upstream calls", h.upstreamCalls())
				}
				return
			}
			if _, code := openAIError(t, string(raw)); code != tt.code {
				t.Fatalf("code %q, want %q: %s", code, tt.code, raw)
			}
			if n := h.upstreamCalls(); n != 0 {
				t.Fatalf("a refused request reached the upstream %d times", n)
			}
			errs, answered := h.rec.errorRecords()
			if answered != 0 || len(errs) != 1 {
				t.Fatalf("a refused request left %d answered and %d error records, want 0 and 1", answered, len(errs))
			}
			checkErrorRecord(t, errs[0], tt.status, tt.code)
		})
	}
}

// rawExchange writes req verbatim to the gateway's listener and reads one
// response, so that request lines and headers no Go client would send can
// be tried.
func rawExchange(t *testing.T, h *harness, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", h.srv.Listener.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Only a guard against a hung test; nothing asserts on timing.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// rawStatus sends req on a connection of its own while reading the
// answer's status line; a connection the server reset before any answer is
// an error.
func rawStatus(h *harness, req string) (int, error) {
	conn, err := net.DialTimeout("tcp", h.srv.Listener.Addr().String(), 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard only
	go func() { _, _ = io.WriteString(conn, req) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func rawPost(target, body string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n", target, len(body))
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// TestHeaderTricks: only "Authorization: Bearer <key>" authenticates; every
// other place or shape of a key is 401 invalid_api_key, and a header net/http
// refuses never reaches the gateway. Nothing refused reaches the upstream.
func TestHeaderTricks(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	key := h.secrets["active"]
	tests := []struct {
		name    string
		target  string
		headers []string
		status  int
		code    string // "" when net/http answers (not OpenAI-shaped) or 200
	}{
		{name: "control: one Bearer header", target: "/v1/chat/completions", headers: []string{"Authorization: Bearer " + key}, status: 200},
		{name: "scheme is case-insensitive (RFC 7235)", target: "/v1/chat/completions", headers: []string{"Authorization: bearer " + key}, status: 200},
		{name: "no Authorization", target: "/v1/chat/completions", status: 401, code: "invalid_api_key"},
		{name: "Bearer without a token", target: "/v1/chat/completions", headers: []string{"Authorization: Bearer"}, status: 401, code: "invalid_api_key"},
		{name: "Basic scheme", target: "/v1/chat/completions", headers: []string{"Authorization: Basic " + key}, status: 401, code: "invalid_api_key"},
		{name: "key without a scheme", target: "/v1/chat/completions", headers: []string{"Authorization: " + key}, status: 401, code: "invalid_api_key"},
		{name: "two Authorization headers, bad one first", target: "/v1/chat/completions",
			headers: []string{"Authorization: Bearer sk-oais-nope", "Authorization: Bearer " + key}, status: 401, code: "invalid_api_key"},
		{name: "x-api-key alone", target: "/v1/chat/completions", headers: []string{"x-api-key: " + key}, status: 401, code: "invalid_api_key"},
		{name: "api-key alone (Azure style)", target: "/v1/chat/completions", headers: []string{"api-key: " + key}, status: 401, code: "invalid_api_key"},
		{name: "key in ?api_key=", target: "/v1/chat/completions?api_key=" + key, status: 401, code: "invalid_api_key"},
		{name: "key in ?api_key= next to a valid header", target: "/v1/chat/completions?api_key=" + key, headers: []string{"Authorization: Bearer " + key}, status: 401, code: "invalid_api_key"},
		{name: "key in ?key=", target: "/v1/chat/completions?x=1&key=abc", headers: []string{"Authorization: Bearer " + key}, status: 401, code: "invalid_api_key"},
		{name: "64 KiB Authorization", target: "/v1/chat/completions", headers: []string{"Authorization: Bearer " + strings.Repeat("A", 64<<10)}, status: 401, code: "invalid_api_key"},
		{name: "12 KiB Authorization (under both servers' limits)", target: "/v1/chat/completions", headers: []string{"Authorization: Bearer " + strings.Repeat("A", 12<<10)}, status: 401, code: "invalid_api_key"},
		{name: "bare CR inside a header value", target: "/v1/chat/completions", headers: []string{"Authorization: Bearer " + key + "\rX-Evil: 1"}, status: 400},
		// net/http unfolds obs-fold (RFC 9112 §5.2 allows replacing it by SP):
		// still one Bearer header, served and metered.
		{name: "obsolete line folding", target: "/v1/chat/completions", headers: []string{"Authorization: Bearer", " " + key}, status: 200},
		{name: "2 MiB of headers", target: "/v1/chat/completions", headers: []string{"Authorization: Bearer " + key, "X-Big: " + strings.Repeat("b", 2<<20)}, status: 431},
		{name: "NUL in a header value", target: "/v1/chat/completions", headers: []string{"Authorization: Bearer " + key + "\x00"}, status: 400},
	}
	for _, tt := range tests {
		if n := headerBytes(tt.headers); n > drain.FastMaxHeaderBytes && testHTTPServer() == "fasthttp" && tt.status != 431 {
			// fasthttp's limit on the headers is lower than net/http's
			// (drain.FastMaxHeaderBytes): refused before the gateway.
			tt.status, tt.code = 431, ""
		}
		t.Run(tt.name, func(t *testing.T) {
			before, recs := h.upstreamCalls(), h.rec.count()
			if tt.status == 431 && testHTTPServer() == "fasthttp" {
				// fasthttp answers 431 and closes at once, without
				// reading the rest (net/http lingers): a client still
				// sending headers may meet the reset before the answer.
				// Either way, nothing may reach the upstream or the bill.
				if status, err := rawStatus(h, rawPost(tt.target, chatBody, tt.headers...)); err == nil && status != 431 {
					t.Fatalf("status %d, want 431", status)
				}
				if h.upstreamCalls() != before || h.rec.count() != recs {
					t.Fatal("a refused request reached the upstream or was metered")
				}
				return
			}
			resp, body := rawExchange(t, h, rawPost(tt.target, chatBody, tt.headers...))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 {
				h.rec.next(t)
				if h.upstreamCalls() != before+1 {
					t.Fatal("served without one upstream call")
				}
				return
			}
			if tt.code != "" {
				if _, code := openAIError(t, body); code != tt.code {
					t.Fatalf("code %q, want %q", code, tt.code)
				}
			}
			if h.upstreamCalls() != before || h.rec.count() != recs {
				t.Fatal("a refused request reached the upstream or was metered")
			}
		})
	}

	t.Run("two Authorization headers, valid one first", func(t *testing.T) {
		// RFC 9110 allows one Authorization field; a front proxy may pick
		// either. Today the gateway uses the first. Not a bypass (the first is
		// a valid key of the same holder), so this only documents it.
		resp, body := rawExchange(t, h, rawPost("/v1/chat/completions", chatBody, "Authorization: Bearer "+key, "Authorization: Bearer sk-oais-nope"))
		t.Logf("status %d: %.120s", resp.StatusCode, body)
		if resp.StatusCode == 200 {
			h.rec.next(t)
		}
	})

	t.Run("client x-request-id is never echoed unsanitised", func(t *testing.T) {
		resp, _ := rawExchange(t, h, rawPost("/v1/chat/completions", chatBody, "Authorization: Bearer "+key, "X-Request-Id: <script>alert(1)</script>"))
		if id := resp.Header.Get("X-Request-Id"); id == "" || strings.ContainsAny(id, "<>()") {
			t.Fatalf("x-request-id %q", id)
		}
		h.rec.next(t)
	})
}

// TestPathTricks: a path that is not exactly a route is an OpenAI-shaped 404
// and never reaches the upstream; one that decodes to a route is served and
// metered like it. No path is proxied unmetered.
func TestPathTricks(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	auth := "Authorization: Bearer " + h.secrets["active"]
	tests := []struct {
		name   string
		target string
		auth   bool
		status int
	}{
		{"trailing slash", "/v1/chat/completions/", true, 404},
		{"double slash", "/v1//chat/completions", true, 404},
		{"leading double slash", "//v1/chat/completions", true, 404},
		{"dot segment", "/v1/./chat/completions", true, 404},
		{"dot-dot to admin", "/v1/../admin", true, 404},
		{"dot-dot back to a route", "/v1/models/../chat/completions", true, 404},
		{"encoded dot-dot", "/v1/%2e%2e/admin", true, 404},
		{"upper-case V1", "/V1/chat/completions", true, 404},
		{"upper-case route", "/v1/Chat/Completions", true, 404},
		{"semicolon parameter", "/v1/chat/completions;x=1", true, 404},
		{"encoded NUL", "/v1/chat/completions%00", true, 404},
		{"encoded slash decodes to the route", "/v1/chat%2Fcompletions", true, 200},
		{"encoded letter decodes to the route", "/v1/%63hat/completions", true, 200},
		{"absolute-form target to another host", "http://evil.test/v1/chat/completions", true, 200},
		{"unknown v1 route unauthenticated", "/v1/files", false, 404},
		{"dot-dot unauthenticated", "/v1/../metrics/../v1/chat/completions", false, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, recs := h.upstreamCalls(), h.rec.count()
			var hdr []string
			if tt.auth {
				hdr = append(hdr, auth)
			}
			resp, body := rawExchange(t, h, rawPost(tt.target, chatBody, hdr...))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 {
				rec := h.rec.next(t)
				if h.upstreamCalls() != before+1 || rec == nil {
					t.Fatal("served without exactly one metered upstream call")
				}
				h.upMu.Lock()
				got := h.upstream[len(h.upstream)-1].URL.Path
				h.upMu.Unlock()
				if got != "/v1/chat/completions" {
					t.Fatalf("upstream got path %q", got)
				}
				return
			}
			if _, code := openAIError(t, body); code != "unknown_url" {
				t.Fatalf("code %q, want unknown_url", code)
			}
			if h.upstreamCalls() != before || h.rec.count() != recs {
				t.Fatal("an unknown path reached the upstream or was metered")
			}
		})
	}
}

// TestIPAllowlistForwardedFor drives the "ip" key (10.0.0.0/8) from
// 127.0.0.1, trusted as a proxy, with X-Forwarded-For variants: only the
// nearest untrusted address counts, and anything unparsable falls back to
// the peer (refused).
func TestIPAllowlistForwardedFor(t *testing.T) {
	trusted := newHarness(t, harnessOpts{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	untrusted := newHarness(t, harnessOpts{})
	tests := []struct {
		name   string
		h      *harness
		xff    []string
		status int
	}{
		{"no header: the proxy itself", trusted, nil, 403},
		{"allowed client", trusted, []string{"10.1.2.3"}, 200},
		{"allowed client as IPv4-mapped IPv6", trusted, []string{"::ffff:10.1.2.3"}, 200},
		{"spoofed allowed address on the left", trusted, []string{"10.1.2.3, 8.8.8.8"}, 403},
		{"allowed address appended by the proxy", trusted, []string{"8.8.8.8, 10.1.2.3"}, 200},
		{"two headers, last one counts", trusted, []string{"8.8.8.8", "10.1.2.3"}, 200},
		{"two headers, spoof in the first", trusted, []string{"10.1.2.3", "8.8.8.8"}, 403},
		{"trusted hops are skipped", trusted, []string{"10.1.2.3, 127.0.0.2, 127.0.0.3"}, 200},
		{"garbage", trusted, []string{"not-an-ip"}, 403},
		{"address with port", trusted, []string{"10.1.2.3:443"}, 403},
		{"bracketed IPv6", trusted, []string{"[::1]"}, 403},
		{"empty entry", trusted, []string{"10.1.2.3, "}, 403},
		{"zone", trusted, []string{"fe80::1%eth0"}, 403},
		{"untrusted peer: header ignored", untrusted, []string{"10.1.2.3"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{"Authorization: Bearer " + tt.h.secrets["ip"]}
			for _, v := range tt.xff {
				hdr = append(hdr, "X-Forwarded-For: "+v)
			}
			before := tt.h.upstreamCalls()
			resp, body := rawExchange(t, tt.h, rawPost("/v1/chat/completions", chatBody, hdr...))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 {
				tt.h.rec.next(t)
				return
			}
			if _, code := openAIError(t, body); code != "ip_not_allowed" {
				t.Fatalf("code %q", code)
			}
			if tt.h.upstreamCalls() != before {
				t.Fatal("a refused address reached the upstream")
			}
		})
	}
}

// TestEscapedFieldNames: a field name written with escapes is the same
// field to encoding/json and to the upstream, so it must be read as such:
// a model smuggled as "mod\u0065l" is checked, and a case-folded one refused.
func TestEscapedFieldNames(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tests := []struct {
		name, body string
		status     int
	}{
		{"escaped duplicate model, last one not allowed", `{"model":"gpt-4o-mini","mod\u0065l":"gpt-4o","messages":[]}`, 403},
		{"escaped case-folded Model", `{"model":"gpt-4o","\u004dodel":"gpt-4o-mini","messages":[]}`, 400},
		{"escaped duplicate model, last one allowed", `{"model":"gpt-4o","mod\u0065l":"gpt-4o-mini","messages":[]}`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do(t, "models", "POST", "/v1/chat/completions", tt.body, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
		})
	}
}

// TestSlowBody trickles a body that claims a megabyte: the gateway answers
// 408 once BodyReadTimeout passes instead of holding the connection, and
// a stream whose answer outlasts that timeout is not cut by it.
func TestSlowBody(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: Config{BodyReadTimeout: 300 * time.Millisecond}})
	// trickle announces length bytes of body, sends 9 and waits: the
	// gateway must answer 408 request_timeout without calling upstream.
	// It returns what follows the answer on the connection.
	trickle := func(t *testing.T, length int) *bufio.Reader {
		t.Helper()
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // a broken bound fails here, not at the package timeout
		fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"model\":", h.secrets["active"], length)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer to a trickled body: %v", err)
		}
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("status %d, want 408: %s", resp.StatusCode, raw)
		}
		if _, code := openAIError(t, string(raw)); code != "request_timeout" {
			t.Fatalf("code %q, want request_timeout", code)
		}
		if n := h.upstreamCalls(); n != 0 {
			t.Fatalf("%d upstream calls for a body that never arrived", n)
		}
		return br
	}
	t.Run("trickled body gets 408", func(t *testing.T) { trickle(t, 1_000_000) })
	// A small body, under the 256 KiB net/http reads to keep a connection
	// alive: the server read the rest before answering, with no deadline,
	// so the client never saw its 408 and held the connection for as long
	// as it liked.
	t.Run("trickled small body gets 408 and the connection closes", func(t *testing.T) {
		if rest, err := io.ReadAll(trickle(t, 1000)); err != nil || len(rest) != 0 {
			t.Fatalf("after the 408 the connection stayed open (%v) or sent %q: the rest of the body would be read as a request", err, rest)
		}
	})
	t.Run("stream outlasting the body timeout", func(t *testing.T) {
		slowStream(t, h, 4) // 800 ms in all, past the 300 ms body timeout
	})
}

// slowStream reads a stream of chunks events 200 ms apart to its end
// through h, and fails if it was cut.
func slowStream(t *testing.T, h *harness, chunks int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+h.secrets["active"])
	req.Header.Set("X-Mock-Chunks", strconv.Itoa(chunks))
	req.Header.Set("X-Mock-Chunk-Delay-Ms", "200")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(raw), "data: [DONE]") {
		t.Fatalf("a stream read all along was cut (%v): %s", err, raw)
	}
}

// stalledBody is a request body whose bytes never come: its first Read
// says so on reading, then waits for release and fails.
type stalledBody struct {
	reading, release chan struct{}
	once             sync.Once
}

func (b *stalledBody) Read([]byte) (int, error) {
	b.once.Do(func() { close(b.reading) })
	<-b.release
	return 0, io.ErrUnexpectedEOF
}

// TestAnnouncedLengthIsNotAllocated: a client announcing a body of a
// megabyte and sending nothing makes the gateway hold less than 100 KiB
// (the buffer trusts Content-Length only up to initialBodyBuffer), so idle
// connections cannot cost a megabyte each.
func TestAnnouncedLengthIsNotAllocated(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.do(t, "active", "POST", "/v1/chat/completions", chatBody, nil) // warm what is built once
	h.rec.next(t)
	body := &stalledBody{reading: make(chan struct{}), release: make(chan struct{})}
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", body)
	req.ContentLength = 1_000_000
	req.Header.Set("Authorization", "Bearer "+h.secrets["active"])
	req.Header.Set("Content-Type", "application/json")
	rw := httptest.NewRecorder()
	done := make(chan struct{})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	go func() {
		defer close(done)
		h.gw.ServeHTTP(rw, req)
	}()
	select {
	case <-body.reading:
	case <-time.After(10 * time.Second): // only a guard against a hung test
		t.Fatal("the gateway never read the body")
	}
	runtime.ReadMemStats(&after)
	close(body.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not return")
	}
	n := after.TotalAlloc - before.TotalAlloc
	if n >= 100<<10 {
		t.Fatalf("%d bytes allocated before any of a 1,000,000-byte body arrived", n)
	}
	t.Logf("FIGURE %d bytes allocated before the body of an announced 1,000,000 bytes", n)
	if h.upstreamCalls() != 1 {
		t.Fatal("a body that never came reached the upstream")
	}
}

// headerBytes is the size of header lines as sent.
func headerBytes(lines []string) int {
	n := 0
	for _, l := range lines {
		n += len(l) + 2
	}
	return n
}

// TestClientThatStopsReading attacks the gateway with a client that asks
// for a long stream and then reads nothing, its receive window shut: the
// gateway's writes fill the socket's buffers and block. It must give up on
// such a client once a write has waited SendTimeout (nginx's send_timeout),
// end the request, stop the upstream and bill what was sent, rather than
// hold the connection, the handler and the upstream request for as long
// as the client likes.
func TestClientThatStopsReading(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: Config{SendTimeout: 300 * time.Millisecond}})
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(h.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nX-Mock-Chunks: 100000\r\nContent-Length: %d\r\n\r\n%s",
		h.secrets["active"], len(body), body)
	// Then nothing is read: ~15 MB of events against a few KiB of window.
	rec := h.rec.next(t)
	if rec.Source != usage.SourceEstimated || rec.EstimateReason != "client_disconnected" || rec.CompletionTokens <= 0 || rec.CompletionTokens >= 100000 {
		t.Fatalf("record %+v, want the part sent before the client stalled, estimated", rec)
	}

	// The bound is on one stalled write, not on the answer: a stream
	// that outlasts SendTimeout several times runs to its end while its
	// client reads.
	slowStream(t, h, 6) // 1.2 s in all, 4 times the send timeout
	if rec := h.rec.next(t); rec.Source != usage.SourceUpstream {
		t.Fatalf("record %+v, want the upstream's usage", rec)
	}
}
