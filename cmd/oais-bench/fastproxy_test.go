package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/gateway/mockupstream"
)

// TestFastProxyRelays: the fasthttp and hybrid references relay plain answers whole,
// with their length, and streams event by event to [DONE], as the bare
// proxy does; a result it got wrong would count as errors in the bench,
// but a test says so first.
func TestFastProxyRelays(t *testing.T) {
	for name, serve := range map[string]func(*url.URL) func(context.Context, net.Listener) error{
		"fasthttp": fastProxy, "hybrid": hybridProxy,
	} {
		t.Run(name, func(t *testing.T) { testRelays(t, serve) })
	}
}

// startProxy serves proxyOf in front of upstream until the test ends
// (then it must stop), and returns the proxy's base URL.
func startProxy(t *testing.T, proxyOf func(*url.URL) func(context.Context, net.Listener) error, upstream http.Handler) string {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- proxyOf(u)(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
			t.Error("the proxy did not stop within 10 s of its context ending")
		}
	})
	return "http://" + ln.Addr().String()
}

func testRelays(t *testing.T, proxyOf func(*url.URL) func(context.Context, net.Listener) error) {
	mock := mockupstream.New(mockupstream.Options{})
	up := httptest.NewServer(mock)
	defer up.Close()
	proxy := startProxy(t, proxyOf, mock)
	post := func(t *testing.T, base string, body []byte) (*http.Response, []byte) {
		t.Helper()
		return postChat(t, http.DefaultClient, base, body)
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{{"plain", plainBody}, {"stream", streamBody}} {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // kept-alive connections on both sides
				direct, want := post(t, up.URL, tc.body)
				resp, got := post(t, proxy, tc.body)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != direct.Header.Get("Content-Type") {
					t.Fatalf("status %d, content type %q (direct: %q)", resp.StatusCode, resp.Header.Get("Content-Type"), direct.Header.Get("Content-Type"))
				}
				if tc.name == "plain" && resp.ContentLength != int64(len(got)) {
					t.Errorf("content length %d for %d bytes", resp.ContentLength, len(got))
				}
				// Ids and timestamps differ between answers; the shape does not.
				if len(got) == 0 || strings.Count(string(got), "data: ") != strings.Count(string(want), "data: ") ||
					strings.HasSuffix(string(got), "[DONE]\n\n") != strings.HasSuffix(string(want), "[DONE]\n\n") {
					t.Fatalf("relayed %q\ndirect  %q", got, want)
				}
			}
		})
	}
}

// postChat sends one chat completion to base (up to, not including, /v1)
// and reads the whole answer.
func postChat(t *testing.T, hc *http.Client, base string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-test")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestHybridProxyDropsHopHeaders: the reference proxy passes end-to-end
// headers on and keeps hop-by-hop ones to itself, as ReverseProxy does, so
// it does no less work than a real proxy must.
func TestHybridProxyDropsHopHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	proxy := startProxy(t, hybridProxy, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	req, err := http.NewRequest(http.MethodPost, proxy+"/v1/chat/completions", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("X-End-To-End", "kept")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	h := <-got
	for _, k := range []string{"Proxy-Authorization", "Keep-Alive"} {
		if v := h.Get(k); v != "" {
			t.Errorf("the upstream got hop-by-hop %s: %q", k, v)
		}
	}
	if h.Get("X-End-To-End") != "kept" {
		t.Errorf("an end-to-end header was dropped: %v", h)
	}
}
