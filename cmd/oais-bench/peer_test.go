package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/oais/oais/gateway/mockupstream"
)

// TestBifrostPeerRelays: the Bifrost peer, built from its own module,
// answers a plain and a streamed chat completion with what the mock said
// (the same words, usage, [DONE] last), so that the bench compares the
// gateway with a peer doing the same work. Skipped when the peer does not
// build here (no module proxy, say) and in -short (a cold build takes a
// minute or two; the binary is cached for the next run).
func TestBifrostPeerRelays(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Bifrost peer, a separate module: not in -short")
	}
	bin := peerBinary(t)
	up := httptest.NewServer(mockupstream.New(mockupstream.Options{}))
	defer up.Close()
	c, err := startProc(context.Background(), "bifrost", bin, "-upstream", up.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	hc := &http.Client{Transport: newTransport()}
	defer hc.CloseIdleConnections()
	peer := "http://" + c.addr

	for _, tc := range []struct {
		name      string
		body      []byte
		mediaType string
		words     func(t *testing.T, b []byte) (string, int)
	}{
		{"plain", plainBody, "application/json", plainWords},
		{"stream", streamBody, "text/event-stream", streamWords},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, direct := postChat(t, hc, up.URL, tc.body)
			want, _ := tc.words(t, direct)
			for range 2 { // a kept-alive connection the second time
				resp, got := postChat(t, hc, peer, tc.body)
				mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
				if resp.StatusCode != http.StatusOK || mt != tc.mediaType {
					t.Fatalf("status %d, content type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), got)
				}
				text, total := tc.words(t, got)
				if text != want || total <= 0 {
					t.Fatalf("peer answered %q with %d total tokens, the mock %q:\n%s", text, total, want, got)
				}
			}
		})
	}
}

// plainWords is a plain answer's message and total tokens.
func plainWords(t *testing.T, b []byte) (string, int) {
	t.Helper()
	var a struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
		Usage struct {
			Total int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(b, &a); err != nil || len(a.Choices) != 1 {
		t.Fatalf("not one chat completion (%v): %s", err, b)
	}
	return a.Choices[0].Message.Content, a.Usage.Total
}

// streamWords joins a stream's deltas; it fails unless every event is a
// chunk and the last is [DONE]. The mock reports usage only when asked
// (stream_options), so a direct stream's total is 0.
func streamWords(t *testing.T, b []byte) (string, int) {
	t.Helper()
	events := strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n")
	if len(events) < 2 || events[len(events)-1] != "data: [DONE]" {
		t.Fatalf("stream does not end with [DONE]: %q", b)
	}
	var text strings.Builder
	total := 0
	for _, e := range events[:len(events)-1] {
		var c struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
			Usage *struct {
				Total int `json:"total_tokens"`
			} `json:"usage"`
		}
		data, ok := strings.CutPrefix(e, "data: ")
		if !ok || json.Unmarshal([]byte(data), &c) != nil {
			t.Fatalf("not a chunk event: %q", e)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
		if c.Usage != nil {
			total = c.Usage.Total
		}
	}
	return text.String(), total
}

// peerBinary is the Bifrost peer built from this checkout, cached beside
// the Go build cache under a key of its sources and the Go version, so that
// only the first run after a change pays for the build.
func peerBinary(t *testing.T) string {
	t.Helper()
	dir, err := findPeerDir()
	if err != nil {
		t.Skipf("Bifrost peer not built: %v", err)
	}
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	files = append(files, filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum"))
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Skipf("Bifrost peer not built: %v", err)
		}
		h.Write([]byte(filepath.Base(f)))
		h.Write(b)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cache = filepath.Join(cache, "oais-bench")
	bin := filepath.Join(cache, "bifrost-peer-"+hex.EncodeToString(h.Sum(nil))[:16])
	if fileExists(bin) {
		return bin
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Skipf("Bifrost peer not built: %v", err)
	}
	tmp := bin + ".tmp-" + randHex(4)
	took, err := buildPeer(context.Background(), tmp)
	if err != nil {
		os.Remove(tmp)
		t.Skipf("Bifrost peer not built: %v", err)
	}
	t.Logf("built the Bifrost peer in %.1f s into %s", took.Seconds(), bin)
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	// Builds of older sources are of no further use: ~30 MB each.
	old, _ := filepath.Glob(filepath.Join(cache, "bifrost-peer-*"))
	for _, o := range old {
		if o != bin && !strings.Contains(o, ".tmp-") {
			os.Remove(o)
		}
	}
	return bin
}
