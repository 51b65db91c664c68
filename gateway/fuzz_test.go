package gateway

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/usage"
)

// FuzzChatBody posts arbitrary bytes to /v1/chat/completions through the
// real handler (newHarness): the answer is a 200 or an OpenAI-shaped error,
// never a panic, and a 5xx only when the upstream was called.
func FuzzChatBody(f *testing.F) {
	for _, s := range []string{
		chatBody, "", "{", "[]", "null", `{"model":""}`, `{"model":4}`,
		`{"model":"gpt-4o-mini","stream":true,"messages":[]}`,
		`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false},"messages":[]}`,
		`{"model":"gpt-4o-mini","stream":true,"stream_options":null}`,
		`{"model":"gpt-4o-mini","n":128,"max_tokens":-1,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		`{"model":"gpt-4o-mini","model":"x","Stream":true}`,
		"{\"model\":\"\xff\"}", `{"model":"gpt-4o-mini","messages":` + strings.Repeat("[", 5000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		h := newHarness(t, harnessOpts{})
		req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+h.secrets["active"])
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("transport error (a handler panic cuts the connection): %v", err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("body cut: %v", err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return
		case resp.StatusCode >= 500 && h.upstreamCalls() == 0:
			t.Fatalf("gateway-made %d: %s", resp.StatusCode, raw)
		}
		openAIError(t, string(raw))
	})
}

// countingRecorder counts records without ever blocking.
type countingRecorder struct{ n atomic.Int64 }

func (r *countingRecorder) Append(*usage.Record) error { r.n.Add(1); return nil }

// sseRig is one gateway in front of an upstream that streams whatever
// bytes the current fuzz input holds. Fuzz inputs run one at a time per
// process, so one rig serves them all.
type sseRig struct {
	srv      *httptest.Server
	secret   string
	rec      *countingRecorder
	mu       sync.Mutex
	stream   []byte
	askedFor atomic.Bool // the gateway asked the upstream for usage
}

func newSSERig(tb testing.TB) *sseRig {
	tb.Helper()
	r := &sseRig{rec: &countingRecorder{}}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.askedFor.Store(bytes.Contains(b, []byte(`"include_usage":true`)))
		r.mu.Lock()
		out := r.stream
		r.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(out)
	}))
	tb.Cleanup(up.Close)
	s, err := keys.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	r.secret = s.Reveal()
	dir := StaticDirectory{s.Hash(): {Key: KeyPolicy{ID: "key_fuzz", WorkspaceID: "ws_fuzz", State: keys.State{Status: keys.StatusActive}},
		Workspace: &WorkspacePolicy{ID: "ws_fuzz"}}}
	gw := New(Config{UpstreamBaseURL: up.URL + "/v1", Logger: slog.New(slog.DiscardHandler)},
		Deps{Directory: dir, Limiter: newFakeLimiter(), Recorder: r.rec, Pricer: fakePricer{}})
	tb.Cleanup(func() { _ = gw.Close() })
	r.srv = httptest.NewServer(gw.Handler())
	tb.Cleanup(r.srv.Close)
	return r
}

// sseEvents cuts b into events the way an SSE reader does: each ends with
// its blank line ("\n\n" or "\n\r\n"); a tail without one is the last.
func sseEvents(b []byte) [][]byte {
	var out [][]byte
	for start, i := 0, 0; i < len(b); i++ {
		if b[i] != '\n' {
			if i == len(b)-1 {
				out = append(out, b[start:])
			}
			continue
		}
		j := i + 1
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			out = append(out, b[start:j+1])
			start, i = j+1, j
		} else if i == len(b)-1 {
			out = append(out, b[start:])
		}
	}
	return out
}

// FuzzSSERelay streams arbitrary upstream bytes to a client that did not
// ask for usage: the client gets them unchanged except for whole events
// that carry "usage" (the hidden usage chunk), the gateway never panics,
// and the request is metered exactly once.
func FuzzSSERelay(f *testing.F) {
	for _, s := range []string{
		"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\r\n\r\n",
		"data: {\"usage\":{\"prompt_tokens\":-5}}\n\n",
		"data: {\"usage\":{\"prompt_tokens\":1e400}}\n\n",
		": comment\n\nevent: x\ndata: y\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"no blank line",
		"data: \"usage\":{\n\n\n\n\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	rig := newSSERig(f)
	f.Fuzz(func(t *testing.T, stream []byte) {
		if len(stream) > 64<<10 {
			return // events past sseMaxEvent are relayed unparsed; keep the oracle simple
		}
		rig.mu.Lock()
		rig.stream = stream
		rig.mu.Unlock()
		before := rig.rec.n.Load()
		req, _ := http.NewRequest(http.MethodPost, rig.srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+rig.secret)
		resp, err := rig.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("transport error: %v", err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("stream cut: %v", err)
		}
		if resp.StatusCode != http.StatusOK || !rig.askedFor.Load() {
			t.Fatalf("status %d, usage asked for: %v", resp.StatusCode, rig.askedFor.Load())
		}
		rest := got
		for _, ev := range sseEvents(stream) {
			if bytes.HasPrefix(rest, ev) {
				rest = rest[len(ev):]
				continue
			}
			if !bytes.Contains(ev, []byte(`"usage"`)) {
				t.Fatalf("event %q dropped or changed\nupstream: %q\nclient:   %q", ev, stream, got)
			}
		}
		if len(rest) != 0 {
			t.Fatalf("client got bytes the upstream never sent: %q", rest)
		}
		if n := rig.rec.n.Load() - before; n != 1 {
			t.Fatalf("%d usage records for one stream", n)
		}
	})
}

// allowedBy is the allow-list rule written out plainly: any prefix of list
// (as the snapshot parses it) contains the unmapped address.
func allowedBy(list []string, a netip.Addr) bool {
	var ps []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return false
		}
		ps = append(ps, p)
	}
	k := KeyPolicy{IPAllowlist: ps}
	return k.ipAllowed(a)
}

// FuzzIPAllowlist normalises an arbitrary allow-list entry with
// apikeys.NormalizeCIDRs and checks an arbitrary client address against it
// through the gateway's clientIP with X-Forwarded-For: the normal form parses
// and is stable, masking never changes membership, an IPv4 client matches
// the same whether written plain or IPv4-mapped, and an untrusted peer's
// X-Forwarded-For never changes the answer.
func FuzzIPAllowlist(f *testing.F) {
	for _, s := range [][2]string{
		{"10.0.0.0/8", "10.1.2.3"}, {"10.1.2.3/8", "10.9.9.9"}, {"::ffff:10.0.0.1", "10.0.0.1"},
		{"::ffff:10.0.0.0/104", "10.1.2.3"}, {"fe80::1%eth0", "fe80::1"}, {"2001:db8::/32", "2001:db8::1"},
		{"0.0.0.0/0", "1.1.1.1"}, {"::/0", "::1"}, {" 192.168.0.1 ", "192.168.0.1"}, {"1.2.3.4/33", "1.2.3.4"},
	} {
		f.Add(s[0], s[1], "8.8.8.8, "+s[1])
	}
	g := &Gateway{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	f.Fuzz(func(t *testing.T, entry, client, xff string) {
		out, err := apikeys.NormalizeCIDRs([]string{entry})
		if err != nil {
			return
		}
		for _, s := range out {
			p, err := netip.ParsePrefix(s)
			if err != nil || p.String() != s || p.Masked() != p {
				t.Fatalf("NormalizeCIDRs(%q) = %q: not a canonical prefix (%v)", entry, s, err)
			}
		}
		again, err := apikeys.NormalizeCIDRs(out)
		if err != nil || strings.Join(again, ",") != strings.Join(out, ",") {
			t.Fatalf("not stable: %q -> %q -> %q (%v)", entry, out, again, err)
		}
		a, err := netip.ParseAddr(client)
		if err != nil || a.Zone() != "" {
			return
		}
		if p, err := netip.ParsePrefix(strings.TrimSpace(entry)); err == nil && len(out) == 1 {
			if want := p.Contains(a) || (a.Is4In6() && p.Contains(a.Unmap())); want != allowedBy(out, a) && !p.Addr().Is4In6() {
				t.Fatalf("%q contains %s: %v, normalised %q says %v", entry, a, want, out, !want)
			}
		}
		// The gateway unmaps client addresses, so an entry written in
		// IPv4-mapped form must still admit the IPv4 clients it names.
		if p, err := netip.ParsePrefix(strings.TrimSpace(entry)); err == nil && a.Is4() && p.Contains(netip.AddrFrom16(a.As16())) && p.Bits() >= 96 {
			if !allowedBy(out, a) {
				t.Fatalf("%q (normalised %q) names %s in IPv4-mapped form, but the gateway refuses it", entry, out, a)
			}
		}
		// Through clientIP: an untrusted peer's X-Forwarded-For is ignored.
		peer := netip.AddrPortFrom(a, 443).String()
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		if !a.Unmap().IsLoopback() || !a.Unmap().Is4() {
			if got := g.clientIP(r); got != a.Unmap() {
				t.Fatalf("untrusted peer %s with X-Forwarded-For %q became %s", peer, xff, got)
			}
		}
		// A trusted peer: the answer is the nearest untrusted hop's, or the
		// peer's when a hop does not parse.
		r.RemoteAddr = "127.0.0.1:1"
		got := g.clientIP(r)
		if got != netip.MustParseAddr("127.0.0.1") && !strings.Contains(xff, got.String()) && !strings.Contains(xff, netip.AddrFrom16(got.As16()).String()) {
			if ip, err := netip.ParseAddr(strings.TrimSpace(xff[strings.LastIndexByte(xff, ',')+1:])); err != nil || ip.Unmap() != got {
				t.Fatalf("X-Forwarded-For %q gave %s, an address it does not name", xff, got)
			}
		}
	})
}
