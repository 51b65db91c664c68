package drain_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oais/oais/internal/drain"
)

// The bridge's tests: what a handler written for net/http answers must
// reach a client of ServeFast as it would from net/http, and the ways an
// answer can go wrong (aborted, cut, the client gone) must look the same
// to both sides.

func fastURL(t *testing.T, h http.Handler) string {
	t.Helper()
	url, _, _ := start(t, drain.ServeFast, h, drain.Options{Timeout: time.Second})
	return url
}

// TestBridgePlainAnswer: status, headers and body as written, with their
// length; a header changed after WriteHeader is not sent, and no content
// type is made up.
func TestBridgePlainAnswer(t *testing.T) {
	url := fastURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header()["X-Multi"] = []string{"a", "b"}
		w.Header().Set("Content-Length", "999") // the server counts the body itself
		w.WriteHeader(http.StatusTeapot)
		w.Header().Set("X-Late", "not sent")
		_, _ = io.WriteString(w, `{"ok":`)
		_, _ = io.WriteString(w, `true}`)
	}))
	for range 3 { // the same kept-alive connection
		resp, err := http.Get(url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusTeapot || string(b) != `{"ok":true}` || resp.ContentLength != int64(len(b)) {
			t.Fatalf("got %d %q (length %d)", resp.StatusCode, b, resp.ContentLength)
		}
		if got := resp.Header.Values("X-Multi"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Errorf("X-Multi = %q", got)
		}
		if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Late") != "" {
			t.Errorf("headers %v", resp.Header)
		}
	}
	resp, err := http.Get(fastURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Content-Type") != "" {
		t.Fatalf("got %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestBridgeStreams: after a Flush every Write reaches the client before
// the handler goes on: the handler waits for the client to have read each
// event before it writes the next, so a bridge that held the body back
// would hang here (bounded by wait).
func TestBridgeStreams(t *testing.T) {
	read := make(chan string)
	url := fastURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: 0\n\n") // before the first flush: sent with it
		w.(http.Flusher).Flush()
		for i := 1; i <= 3; i++ {
			if got := wait(t, read, "the client to read an event"); got != "data: "+string(rune('0'+i-1)) {
				t.Errorf("client read %q", got)
			}
			_, _ = io.WriteString(w, "data: "+string(rune('0'+i))+"\n\n")
		}
	}))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" || resp.ContentLength != -1 {
		t.Fatalf("headers %v, length %d", resp.Header, resp.ContentLength)
	}
	br := bufio.NewReader(resp.Body)
	for i := 0; i <= 3; i++ {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if i < 3 {
			select {
			case read <- strings.TrimSpace(line):
			case <-time.After(10 * time.Second):
				t.Fatal("the handler did not take the next event")
			}
		}
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the last event: %q, %v", rest, err)
	}
}

// TestBridgeLargeAnswerStreams: an answer nobody flushed, larger than the
// bridge holds, arrives whole, with the length the handler declared.
func TestBridgeLargeAnswerStreams(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 128<<10) // 2 MiB
	url := fastURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2097152")
		for p := body; len(p) > 0; p = p[16<<10:] {
			_, _ = w.Write(p[:16<<10])
		}
	}))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, body) || resp.ContentLength != int64(len(body)) {
		t.Fatalf("read %d bytes (length %d), %v", len(got), resp.ContentLength, err)
	}
}

// TestBridgeAbortCutsTheConnection: a handler that aborts (the gateway does
// when an upstream answer is cut mid-body) must not produce an answer the
// client takes for whole, whether it had flushed or not; a handler that
// panics the same, and the server keeps serving.
func TestBridgeAbortCutsTheConnection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flush bool
		panic any
	}{
		{"aborted, not flushed", false, http.ErrAbortHandler},
		{"aborted mid-stream", true, http.ErrAbortHandler},
		{"panicked", false, "boom"},
		{"panicked mid-stream", true, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := fastURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/fine" {
					_, _ = io.WriteString(w, "fine")
					return
				}
				if !tc.flush {
					w.Header().Set("Content-Length", "100")
				} // else chunked, as the gateway's streams: only the missing last chunk tells
				_, _ = io.WriteString(w, "partial")
				if tc.flush {
					w.(http.Flusher).Flush()
				}
				panic(tc.panic)
			}))
			resp, err := http.Get(url)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatalf("the client got a whole answer: %d", resp.StatusCode)
			}
			resp, err = http.Get(url + "/fine")
			if err != nil {
				t.Fatalf("the server stopped serving: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "fine" {
				t.Fatalf("next answer %q", b)
			}
		})
	}
}

// TestBridgeClientGone: a client that leaves mid-stream fails the handler's
// next Write and ends its context, so the gateway stops relaying (and its
// upstream request) and meters what was sent.
func TestBridgeClientGone(t *testing.T) {
	writeErr, ctxDone := make(chan error, 1), make(chan struct{})
	var events atomic.Int64
	url := fastURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		go func() { <-r.Context().Done(); close(ctxDone) }()
		for {
			if _, err := io.WriteString(w, "data: x\n\n"); err != nil {
				writeErr <- err
				return
			}
			w.(http.Flusher).Flush()
			events.Add(1)
			time.Sleep(time.Millisecond)
		}
	}))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // hangs up
	if err := wait(t, writeErr, "the handler's write to fail"); err == nil {
		t.Fatal("nil error")
	}
	wait(t, ctxDone, "the handler's context to end")
}

// TestBridgeRequest: the handler sees the request as net/http would give
// it: method, URI, query, headers (repeated ones too), host, peer, the body
// (read ahead or streamed), its length, and a context that says a real
// server is behind it.
func TestBridgeRequest(t *testing.T) {
	type seen struct {
		method, uri, query, host, remote, auth string
		multi                                  []string
		length                                 int64
		body                                   []byte
		server                                 bool
	}
	got := make(chan seen, 1)
	url := fastURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.RemoteAddr, r.Header.Get("Authorization"),
			r.Header.Values("X-Multi"), r.ContentLength, b, r.Context().Value(http.ServerContextKey) != nil}
	}))
	host := url[len("http://"):]
	for _, size := range []int{0, 100, 2 << 20} {
		body := bytes.Repeat([]byte("b"), size)
		req, err := http.NewRequest(http.MethodPost, url+"/v1/chat/completions?a=1&b=2", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer sk-x")
		req.Header.Add("X-Multi", "1")
		req.Header.Add("X-Multi", "2")
		var local string
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() },
		}))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s := wait(t, got, "the handler")
		if s.method != http.MethodPost || s.uri != "/v1/chat/completions" || s.query != "a=1&b=2" || s.host != host ||
			s.remote != local || s.auth != "Bearer sk-x" || len(s.multi) != 2 || s.multi[1] != "2" || !s.server {
			t.Errorf("size %d: handler saw %+v (want host %s, peer %s)", size, s, host, local)
		}
		if s.length != int64(size) || !bytes.Equal(s.body, body) {
			t.Errorf("size %d: body of %d bytes, length %d", size, len(s.body), s.length)
		}
	}
}

// TestBridgeDrainsStreams: a stream in flight when the drain starts runs to
// its end on ServeFast, as on Serve (TestInFlightFinish covers both; this
// one writes many events, as the gateway's streams do).
func TestBridgeDrainsStreams(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		for range 100 {
			_, _ = io.WriteString(w, "data: x\n\n")
			w.(http.Flusher).Flush()
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	})
	url, stop, served := start(t, drain.ServeFast, h, drain.Options{Timeout: time.Minute})
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
	}()
	wait(t, entered, "the stream to start")
	stop()
	time.Sleep(50 * time.Millisecond) // let the drain begin (not a timing assertion)
	close(release)
	if s := wait(t, got, "the stream"); strings.Count(s, "data: x") != 100 || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Fatalf("stream during the drain: %q", s)
	}
	if err := wait(t, served, "ServeFast to return"); err != nil {
		t.Fatal(err)
	}
}

// TestBridgeStreamEdges: a streaming handler answering HEAD (the server
// writes no body, so nobody takes the handler's chunks) must not hang, and
// an HTTP/1.0 client, who cannot read chunks, gets the stream whole, with
// its length.
func TestBridgeStreamEdges(t *testing.T) {
	returned := make(chan struct{}, 2)
	url := fastURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { returned <- struct{}{} }()
		w.Header().Set("Content-Type", "text/event-stream")
		for range 3 {
			_, _ = io.WriteString(w, "data: x\n\n")
			w.(http.Flusher).Flush()
		}
	}))
	resp, err := http.Head(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wait(t, returned, "the HEAD handler to return")

	c, err := net.Dial("tcp", url[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != strings.Repeat("data: x\n\n", 3) || resp.ContentLength != int64(len(b)) || len(resp.TransferEncoding) != 0 {
		t.Fatalf("HTTP/1.0: %q (length %d, %v), %v", b, resp.ContentLength, resp.TransferEncoding, err)
	}
	wait(t, returned, "the HTTP/1.0 handler to return")
}

// TestBridgeNoticesAClientThatHangsUp: a client that hangs up while the
// handler waits (for the upstream's answer, or a stream's next event) ends
// the handler's context at once, as net/http's background read does, so
// the gateway stops its upstream request there and then.
func TestBridgeNoticesAClientThatHangsUp(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "waiting for the answer"
		if stream {
			name = "between two events"
		}
		t.Run(name, func(t *testing.T) {
			entered, ended := make(chan struct{}), make(chan struct{})
			url := fastURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body) // the watch starts once the body is in
				if stream {
					_, _ = io.WriteString(w, "data: 1\n\n")
					w.(http.Flusher).Flush()
				}
				close(entered)
				<-r.Context().Done()
				close(ended)
			}))
			c, err := net.Dial("tcp", url[len("http://"):])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
				t.Fatal(err)
			}
			wait(t, entered, "the handler")
			if stream { // the first event reached the client
				if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
					t.Fatal(err)
				}
			}
			c.Close()
			wait(t, ended, "the handler's context to end after the client hung up")
		})
	}
}

// TestBridgeKeepsConnectionsAlive: plain answers and streams one after the
// other on one connection. The client watch moves the connection's read
// deadline; a deadline left in the past would close the connection under
// the next request, which a POST (never retried by the client) would show.
func TestBridgeKeepsConnectionsAlive(t *testing.T) {
	url := fastURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/stream" {
			for range 3 {
				_, _ = io.WriteString(w, "data: x\n\n")
				w.(http.Flusher).Flush()
			}
			return
		}
		_, _ = io.WriteString(w, "plain")
	}))
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	conns := map[string]bool{}
	for i := range 300 {
		path := "/plain"
		if i%3 == 0 {
			path = "/stream"
		}
		req, err := http.NewRequest(http.MethodPost, url+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { conns[i.Conn.LocalAddr().String()] = true },
		}))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(b) == 0 {
			t.Fatalf("request %d: %q, %v", i, b, err)
		}
	}
	if len(conns) != 1 {
		t.Fatalf("300 requests took %d connections, want 1", len(conns))
	}
}
