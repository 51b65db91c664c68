package drain_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oais/oais/internal/drain"
)

// wait receives from ch or fails the test after 10 s: a broken drain must
// fail here, not hang the package until its timeout.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	case <-t.Context().Done():
		t.Fatalf("test ended waiting for %s", what)
	}
	var zero T
	return zero
}

// servers are the two ways to serve a handler with the drain lifecycle;
// every lifecycle test runs against both.
var servers = []struct {
	name  string
	serve func(context.Context, net.Listener, http.Handler, drain.Options) error
}{
	{"net/http", drain.Serve},
	{"fasthttp", drain.ServeFast},
}

// eachServer runs f once per server, as a subtest.
func eachServer(t *testing.T, f func(t *testing.T, serve func(context.Context, net.Listener, http.Handler, drain.Options) error)) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) { f(t, s.serve) })
	}
}

func start(t *testing.T, serve func(context.Context, net.Listener, http.Handler, drain.Options) error, h http.Handler, o drain.Options) (url string, stop context.CancelFunc, served <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	o.Logger = slog.New(slog.DiscardHandler)
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, ln, h, o) }()
	return "http://" + ln.Addr().String(), cancel, errc
}

// TestInFlightFinish shuts down while a request is in flight: it gets its
// whole answer, new connections are refused, OnDrain ran first.
func TestInFlightFinish(t *testing.T) { eachServer(t, testInFlightFinish) }

func testInFlightFinish(t *testing.T, serve func(context.Context, net.Listener, http.Handler, drain.Options) error) {
	entered, release := make(chan struct{}), make(chan struct{})
	var drained atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "whole answer")
	})
	url, stop, served := start(t, serve, h, drain.Options{Timeout: time.Minute, OnDrain: func() { drained.Store(true) }})
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(b)
	}()
	wait(t, entered, "the request to reach its handler")
	stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", url[len("http://"):], time.Second)
		if err != nil {
			break // the listener is closed
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 10 s into the drain")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !drained.Load() {
		t.Fatal("listener closed before OnDrain ran")
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if s := wait(t, got, "the in-flight answer"); s != "whole answer" {
		t.Fatalf("in-flight request got %q", s)
	}
	if err := wait(t, served, "Serve to return"); err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

// TestDeadlineCuts keeps a handler running past the drain timeout: its
// context ends, and Serve returns only after the handler did.
func TestDeadlineCuts(t *testing.T) { eachServer(t, testDeadlineCuts) }

func testDeadlineCuts(t *testing.T, serve func(context.Context, net.Listener, http.Handler, drain.Options) error) {
	entered := make(chan struct{})
	var returned atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer returned.Store(true)
		close(entered)
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		time.Sleep(100 * time.Millisecond) // metering a cut stream takes a moment
	})
	url, stop, served := start(t, serve, h, drain.Options{Timeout: 200 * time.Millisecond})
	go func() {
		if resp, err := http.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	wait(t, entered, "the request to reach its handler")
	stop()
	if err := wait(t, served, "Serve to return after the drain timeout"); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if !returned.Load() {
		t.Fatal("Serve returned before the cut handler did")
	}
}

// TestListenerFails returns the server's own error.
func TestListenerFails(t *testing.T) { eachServer(t, testListenerFails) }

func testListenerFails(t *testing.T, serve func(context.Context, net.Listener, http.Handler, drain.Options) error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- serve(t.Context(), ln, http.NotFoundHandler(), drain.Options{}) }()
	if err := wait(t, done, "Serve on a closed listener"); err == nil {
		t.Fatal("Serve on a closed listener returned nil")
	}
}

// TestStopsAtOnce: a server stopped as soon as it started (before it had
// reached its listener) still returns.
func TestStopsAtOnce(t *testing.T) {
	eachServer(t, func(t *testing.T, serve func(context.Context, net.Listener, http.Handler, drain.Options) error) {
		for range 20 {
			_, stop, served := start(t, serve, http.NotFoundHandler(), drain.Options{Timeout: time.Second})
			stop()
			wait(t, served, "the server to return")
		}
	})
}

// TestSlowBodyAfterTimeout attacks a server with a client that announces a
// body, sends a little of it, then trickles nothing: the handler gives up
// on the body (its read deadline, as the gateway's 408), closes it and
// answers. The server must then close the connection rather than wait,
// without a deadline, for the rest of a body nobody will read: a client
// could hold a connection and a goroutine for as long as it liked. On
// net/http the handler's Close is what tells the server so (without it,
// net/http reads up to 256 KiB of what is left before it answers).
func TestSlowBodyAfterTimeout(t *testing.T) { eachServer(t, testSlowBodyAfterTimeout) }

func testSlowBodyAfterTimeout(t *testing.T, serve func(context.Context, net.Listener, http.Handler, drain.Options) error) {
	url, _, _ := start(t, serve, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			t.Errorf("SetReadDeadline: %v", err)
		}
		if _, err := io.ReadAll(r.Body); err == nil {
			t.Error("the body was read whole; the client sent 10 of 1000 bytes")
		}
		_ = r.Body.Close()
		_ = rc.SetReadDeadline(time.Time{})
		w.WriteHeader(http.StatusRequestTimeout)
		_, _ = io.WriteString(w, "slow body\n")
	}), drain.Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789"); err != nil {
		t.Fatal(err)
	}
	// A hang guard, not a timing assertion: the server has every second
	// it needs to answer and close; a server that waits for the body
	// waits forever.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the server kept the connection open after its answer (read %q): %v", got, err)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 408") {
		t.Errorf("answer %q, want a 408", got)
	}
}

// TestRefusedBodyGetsItsAnswer refuses a body the client is still sending
// (the gateway's 413 past OAIS_MAX_BODY_BYTES): the client must read the
// whole answer, told that the connection closes. A server that closes with
// the rest of the body unread has its kernel reset the connection, and a
// client still writing may meet the reset before it reads the answer, so
// net/http says Connection: close, half-closes and waits 500 ms first
// (RFC 9112 §9.6). ServeFast must not do less; before, it answered a
// chunked body's refusal as if the connection stayed open, then closed it.
func TestRefusedBodyGetsItsAnswer(t *testing.T) { eachServer(t, testRefusedBodyGetsItsAnswer) }

func testRefusedBodyGetsItsAnswer(t *testing.T, serve func(context.Context, net.Listener, http.Handler, drain.Options) error) {
	url, _, _ := start(t, serve, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read up to a limit, as the gateway does, then refuse.
		_, _ = io.CopyN(io.Discard, r.Body, 1<<20+1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = io.WriteString(w, `{"error":{"code":"request_too_large"}}`)
	}), drain.Options{})
	const size = 8 << 20
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for _, tc := range []struct {
		name string
		head string
		send func(io.Writer) error
	}{
		{"Content-Length", "Content-Length: " + strconv.Itoa(size), func(c io.Writer) error {
			for range size / len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		}},
		{"chunked", "Transfer-Encoding: chunked", func(c io.Writer) error {
			for range size / len(chunk) {
				if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
					return err
				}
			}
			_, err := io.WriteString(c, "0\r\n\r\n")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 5 {
				conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"+tc.head+"\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				go func() { _ = tc.send(conn) }() // fails once the server closes
				// A hang guard, not a timing assertion.
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatalf("try %d: %v (want the 413)", i, err)
				}
				got, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(got), "request_too_large") {
					t.Fatalf("try %d: %d %q, %v; want the whole 413", i, resp.StatusCode, got, err)
				}
				if !resp.Close {
					t.Errorf("try %d: the connection is kept after a body left unread", i)
				}
				conn.Close()
			}
		})
	}
}
