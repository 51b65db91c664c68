package drain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// A bridge serves an http.Handler on fasthttp. fasthttp writes an answer
// only after its handler returned, so the http.Handler runs on a goroutine
// of its own, and the first of these decides how its answer goes out:
//
//   - it returns: the status, headers and body it wrote (kept in fasthttp's
//     response, never copied) go out whole, with their length;
//   - it flushes, or its body outgrows streamAbove: serve returns with a
//     body whose WriteTo fasthttp calls once it has put the headers in its
//     buffer; WriteTo hands the handler fasthttp's chunk writer and waits
//     for the handler to return. From then on every Write is one chunk,
//     written and flushed to the socket by the handler's own goroutine, as
//     with net/http: no hand-off between goroutines per event;
//   - it panics (http.ErrAbortHandler included): the connection is closed
//     without a complete answer, so a client cannot take a cut answer for
//     a whole one (net/http does the same).
//
// While the handler runs, the server's goroutine, which only waits, watches
// the client's side of the connection (peekWait) as net/http's background
// read does: a client that hangs up cancels the handler's context at once,
// so the gateway stops its upstream request (and the model's billing) at
// once, not when the answer is written. A client that leaves mid-stream
// also fails the handler's next Write. HTTP/1.0 clients, who cannot read
// chunks, get every answer whole.
type bridge struct {
	h        http.Handler
	base     context.Context
	log      *slog.Logger
	inflight atomic.Int64
}

// streamAbove is the body size past which an answer nobody flushed streams
// anyway, so that a large answer is not held whole in memory (net/http
// starts chunking at 2 KiB; a plain gateway answer is nearly always below
// this).
const streamAbove = 256 << 10

// How a handler's answer goes out, decided by its first event.
const (
	modeDone   = iota + 1 // returned: the whole answer is in the response
	modeStream            // flushed: the body follows, written by the handler
	modeAbort             // panicked before flushing: close the connection
)

var (
	errAborted = errors.New("drain: the handler aborted its answer")
	errEnded   = errors.New("drain: write after the handler returned")
)

// errClientGone is what a handler's Write returns once the server could
// not write to the client.
var errClientGone = errors.New("drain: the client connection is gone")

func (b *bridge) serve(fc *fasthttp.RequestCtx) {
	b.inflight.Add(1)
	w := writers.Get().(*fastWriter)
	w.fc = fc
	w.http10 = !fc.Request.Header.IsHTTP11()
	w.conn = fc.Conn()
	w.rc = rawConn(w.conn)
	ctx, cancel := context.WithCancel(b.base)
	w.cancel = cancel
	r, err := newRequest(ctx, fc, w)
	if err != nil {
		cancel()
		b.inflight.Add(-1)
		w.release()
		fc.Error("400 Bad Request: "+err.Error(), fasthttp.StatusBadRequest)
		return
	}
	go b.run(w, r)
	switch await(w, w.mode, w.bodyRead) {
	case modeDone:
		unread, conn := w.body.leftOnWire(), w.conn
		w.release()
		if unread {
			// The server would close at once, and the kernel answer
			// the client's next bytes with a reset that can overtake
			// the answer. Say the connection closes, and linger once the
			// answer is out, as net/http does.
			fc.SetConnectionClose()
			fc.Hijack(func(c net.Conn) { linger(conn, c) })
		}
	case modeStream:
		// The handler owns w until it returns; the server owns the
		// response from here on, and calls the body's WriteTo: in
		// chunks, each flushed, unless the answer only outgrew
		// streamAbove and declared its length.
		fc.Response.SetBodyStream(&streamBody{w: w}, int(w.length))
	case modeAbort:
		w.release()
		fc.SetConnectionClose()
		fc.HijackSetNoResponse(true)
		fc.Hijack(func(net.Conn) {}) // the server closes the connection after it
	}
}

// run calls the handler, on its own goroutine, and ends the answer.
func (b *bridge) run(w *fastWriter, r *http.Request) {
	cancel := w.cancel // w may be reused once end returned
	defer b.inflight.Add(-1)
	defer func() {
		rec := recover()
		if rec != nil && rec != http.ErrAbortHandler {
			b.log.Error("http: panic serving "+r.RemoteAddr, "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
		}
		cancel()
		w.end(rec != nil)
	}()
	b.h.ServeHTTP(w, r)
}

// fastWriter is the http.ResponseWriter (and http.Flusher) a bridged
// handler writes to.
type fastWriter struct {
	fc     *fasthttp.RequestCtx
	header http.Header
	mode   chan int
	cancel context.CancelFunc

	// mu orders the handler's calls with a Flush from another goroutine
	// (the gateway's stream header timer).
	mu        sync.Mutex
	committed bool
	streaming bool
	ended     bool
	http10    bool  // the client cannot read chunks: never stream
	length    int64 // the Content-Length the handler set, -1 if none

	// A stream's: the server's chunk writer, handed over by WriteTo (nil
	// if the server gave up on the body), then the handler's outcome,
	// handed back.
	dst    chan io.Writer
	cw     io.Writer
	done   chan error
	closed chan struct{}
	close  sync.Once

	// The client watch's: the connection (rc nil: no watch), whether the
	// client hung up, a signal that the handler read the whole body (the
	// connection is readable while a body arrives), and, under connMu,
	// whether the handler woke the watch and whether the server is done
	// with the answer (the handler then keeps off the connection).
	conn     net.Conn
	rc       syscall.RawConn
	gone     bool
	body     bodyReader
	bodyRead chan struct{}
	connMu   sync.Mutex
	woken    bool
	bodyDone bool
}

var writers = sync.Pool{New: func() any {
	return &fastWriter{header: make(http.Header, 8), mode: make(chan int, 1), bodyRead: make(chan struct{}, 1)}
}}

// await waits for the handler's next word on ch. Meanwhile, once the
// handler has read the whole body (bodyRead; nil: it had), it watches the
// client once: until the client hangs up (the handler's context is then
// cancelled), sends something, or the handler, about to send on ch, wakes
// it (wake). The connection's read deadline is cleared afterwards; the
// server sets its own before it reads again.
func await[T any](w *fastWriter, ch <-chan T, bodyRead <-chan struct{}) T {
	if w.rc != nil && !w.gone {
		if bodyRead != nil {
			select {
			case v := <-ch:
				w.settle()
				return v
			case <-bodyRead:
			}
		}
		w.connMu.Lock()
		watch := !w.woken
		if watch {
			// The server's body deadline would end the watch early.
			_ = w.conn.SetReadDeadline(time.Time{})
		}
		w.connMu.Unlock()
		if watch && peekWait(w.rc) {
			w.gone = true
			w.cancel()
		}
	}
	v := <-ch
	w.settle()
	return v
}

// settle clears the wake once await got what it waited for.
func (w *fastWriter) settle() {
	if w.rc == nil {
		return
	}
	w.connMu.Lock()
	w.woken = false
	_ = w.conn.SetReadDeadline(time.Time{})
	w.connMu.Unlock()
}

// wake ends await's watch: the handler's goroutine calls it before it
// sends await what it waits for, and never once the server is done with
// the answer (the connection may be serving the next request by then).
func (w *fastWriter) wake() {
	if w.rc == nil {
		return
	}
	w.connMu.Lock()
	if !w.bodyDone {
		w.woken = true
		_ = w.conn.SetReadDeadline(aLongTimeAgo)
	}
	w.connMu.Unlock()
}

// SetReadDeadline bounds the reading of the request's body, as net/http's
// ResponseWriter does (the gateway answers its own 408 past it).
func (w *fastWriter) SetReadDeadline(t time.Time) error {
	return w.deadline(net.Conn.SetReadDeadline, t)
}

// SetWriteDeadline bounds the writes to the client, as net/http's
// ResponseWriter does: a stream's, which the handler's goroutine makes,
// and a whole answer's, which the server makes once the handler returned.
func (w *fastWriter) SetWriteDeadline(t time.Time) error {
	return w.deadline(net.Conn.SetWriteDeadline, t)
}

// deadline sets one of the connection's deadlines while the answer is the
// handler's; after that the connection may serve the next request.
func (w *fastWriter) deadline(set func(net.Conn, time.Time) error, t time.Time) error {
	w.connMu.Lock()
	defer w.connMu.Unlock()
	if w.bodyDone || w.conn == nil {
		return errEnded
	}
	return set(w.conn, t)
}

// bodyReader is the request body as the handler reads it: reading it to
// its end lets the client watch start.
type bodyReader struct {
	r    io.Reader
	read chan struct{}
	done bool

	// A body streamed from the connection: its declared length (-1:
	// chunked), what the handler read of it, and whether a read failed.
	stream bool
	length int64
	n      int64
	failed bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF && !b.done:
		b.done = true
		b.read <- struct{}{}
	case err != nil && err != io.EOF:
		b.failed = true
	}
	return n, err
}

func (b *bodyReader) Close() error { return nil }

// leftOnWire reports whether the handler returned with more of the body
// still to come than the server reads past an answer (256 KiB, as
// net/http; it then closes the connection). A body whose read failed
// (the client stalled past its deadline) is not waited for.
func (b *bodyReader) leftOnWire() bool {
	if !b.stream || b.done || b.failed {
		return false
	}
	return b.length < 0 || b.length-b.n > maxUnreadBody
}

// The bounds of linger.
const (
	maxUnreadBody = 256 << 10              // fasthttp's and net/http's
	lingerGap     = 500 * time.Millisecond // net/http's rstAvoidanceDelay
	lingerMax     = 5 * time.Second        // nginx's lingering_timeout
)

// linger closes a connection whose client may still be sending a body
// the handler refused (RFC 9112 §9.6): it half-closes raw, so the client
// sees the end of the answer, and reads and drops what still comes (c:
// the hijacked connection, with the server's buffer in front) until the
// client closes or pauses for lingerGap, for at most lingerMax; only then
// does the server close. net/http half-closes and sleeps 500 ms; reading
// also lets a client that sends its whole body before reading the answer
// finish, and then read it, where a close with the rest unread would have
// the kernel reset the connection under it.
func linger(raw, c net.Conn) {
	if hc, ok := raw.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	bp := lingerBufs.Get().(*[]byte)
	defer lingerBufs.Put(bp)
	end := time.Now().Add(lingerMax)
	for {
		dl := time.Now().Add(lingerGap)
		if dl.After(end) {
			dl = end
		}
		if c.SetReadDeadline(dl) != nil {
			return
		}
		if _, err := c.Read(*bp); err != nil {
			return
		}
	}
}

var lingerBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// aLongTimeAgo is a read deadline that has passed (net/http's name).
var aLongTimeAgo = time.Unix(1, 0)

// release returns a writer whose handler returned without streaming.
func (w *fastWriter) release() {
	clear(w.header)
	select {
	case <-w.bodyRead:
	default:
	}
	*w = fastWriter{header: w.header, mode: w.mode, bodyRead: w.bodyRead}
	writers.Put(w)
}

func (w *fastWriter) Header() http.Header { return w.header }

func (w *fastWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.committed || w.ended || code < 200 {
		// 1xx answers are not relayed; the gateway sends none.
		return
	}
	w.commit(code)
}

// commit fixes the status and headers, as net/http does at WriteHeader: a
// change to the header map after it is not sent.
func (w *fastWriter) commit(code int) {
	w.committed = true
	w.length = -1
	w.fc.SetStatusCode(code)
	rh := &w.fc.Response.Header
	for k, vs := range w.header {
		switch k {
		case "Content-Length":
			// The server counts a whole body itself; a streamed one
			// keeps it (streamBody).
			if len(vs) > 0 {
				if n, err := strconv.ParseInt(vs[0], 10, 64); err == nil && n >= 0 {
					w.length = n
				}
			}
			continue
		case "Transfer-Encoding", "Connection", "Keep-Alive":
			continue // the server's own
		}
		for _, v := range vs {
			rh.Add(k, v)
		}
	}
}

func (w *fastWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return 0, errEnded
	}
	if !w.committed {
		w.commit(http.StatusOK)
	}
	if !w.streaming && !w.http10 && len(w.fc.Response.Body())+len(p) > streamAbove {
		w.startStream()
	}
	if w.streaming {
		cw := w.cw
		w.mu.Unlock()
		if cw == nil {
			return 0, errClientGone
		}
		n, err := cw.Write(p) // one chunk, flushed
		if err != nil {
			w.cancel()
			return n, errClientGone
		}
		return n, nil
	}
	w.fc.Response.AppendBody(p)
	w.mu.Unlock()
	return len(p), nil
}

// Flush sends what was written so far; after it, every Write is sent at
// once.
func (w *fastWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended || w.streaming || w.http10 {
		return
	}
	if !w.committed {
		w.commit(http.StatusOK)
	}
	w.length = -1 // a flushed answer goes in chunks, each sent at once
	w.startStream()
}

// startStream hands the response to the server, waits for its chunk
// writer and sends what the body held so far as the first chunk (with the
// headers). w.mu is held.
func (w *fastWriter) startStream() {
	pre := bytes.Clone(w.fc.Response.Body())
	w.fc.Response.ResetBody()
	w.dst, w.done, w.closed = make(chan io.Writer, 1), make(chan error, 1), make(chan struct{})
	w.streaming = true
	w.wake()
	w.mode <- modeStream // from here on the server owns fc
	select {
	case w.cw = <-w.dst:
	case <-w.closed: // the server wrote no body (HEAD) or gave up
		return
	}
	if len(pre) > 0 {
		if _, err := w.cw.Write(pre); err != nil {
			w.cw = nil
			w.cancel()
		}
	}
}

// end is called once the handler returned (aborted: it panicked). Unless
// the answer streams, the server may reuse w as soon as end sent the mode,
// so that is the last thing it does.
func (w *fastWriter) end(aborted bool) {
	w.mu.Lock()
	w.ended = true
	streaming, mode := w.streaming, modeDone
	switch {
	case streaming && aborted:
		w.wake()
		w.done <- errAborted
	case streaming:
		w.wake()
		w.done <- nil
	case aborted:
		mode = modeAbort
	case !w.committed:
		w.commit(http.StatusOK)
	}
	w.mu.Unlock()
	if !streaming {
		w.wake()
		w.mode <- mode
	}
}

// streamBody is a streamed answer's body as the server writes it: its
// WriteTo lends the server's chunk writer to the handler until the handler
// returns. The error it returns for an aborted answer makes the server
// close the connection without the last chunk.
type streamBody struct{ w *fastWriter }

func (b *streamBody) SupportsBodyWriteTo() bool { return true }

func (b *streamBody) WriteTo(dst io.Writer) (int64, error) {
	b.w.dst <- dst
	return 0, await(b.w, b.w.done, nil)
}

// Read is never called: SupportsBodyWriteTo says to call WriteTo, and
// HTTP/1.0 answers never stream.
func (b *streamBody) Read([]byte) (int, error) {
	return 0, errors.New("drain: a streamed body is written, not read")
}

// Close is called by the server once the body was written, or when it will
// not be (HEAD, an error): a handler still waiting for the chunk writer
// stops waiting, and its context ends.
func (b *streamBody) Close() error {
	b.w.connMu.Lock()
	b.w.bodyDone = true
	b.w.connMu.Unlock()
	b.w.close.Do(func() { close(b.w.closed) })
	b.w.cancel()
	return nil
}

// newRequest is the *http.Request of fc, for a handler that runs with ctx.
// Its strings are copies: the handler may outlive fc's buffers only in
// what it copied itself, as with net/http.
func newRequest(ctx context.Context, fc *fasthttp.RequestCtx, w *fastWriter) (*http.Request, error) {
	uri := string(fc.RequestURI())
	r, err := http.NewRequestWithContext(ctx, method(fc.Method()), uri, nil)
	if err != nil {
		return nil, err
	}
	r.RequestURI = uri
	if !fc.Request.Header.IsHTTP11() {
		r.Proto, r.ProtoMinor = "HTTP/1.0", 0
	}
	r.RemoteAddr = fc.RemoteAddr().String()
	h := r.Header
	for k, v := range fc.Request.Header.All() {
		key := headerKey(k)
		switch key {
		case "Host":
			r.Host = string(v)
			continue
		case "Transfer-Encoding":
			r.TransferEncoding = []string{string(v)}
			continue
		}
		h[key] = append(h[key], string(v))
	}
	switch n := fc.Request.Header.ContentLength(); {
	case n >= 0:
		r.ContentLength = int64(n)
	case n == -1: // chunked
		r.ContentLength = -1
	}
	switch {
	case r.ContentLength == 0:
		r.Body = http.NoBody
		w.bodyRead <- struct{}{}
	case fc.Request.IsBodyStream():
		w.body = bodyReader{r: fc.RequestBodyStream(), read: w.bodyRead, stream: true, length: r.ContentLength}
		r.Body = &w.body
	default:
		w.body = bodyReader{r: bytes.NewReader(fc.Request.Body()), read: w.bodyRead}
		r.Body = &w.body
	}
	return r, nil
}

// method returns net/http's constant for the usual methods, so that
// they cost no allocation.
func method(m []byte) string {
	switch string(m) {
	case http.MethodPost:
		return http.MethodPost
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodOptions:
		return http.MethodOptions
	}
	return string(m)
}

// headerKey returns a constant for the header names clients send most
// (fasthttp has put names in net/http's canonical form already).
func headerKey(k []byte) string {
	switch string(k) {
	case "Host":
		return "Host"
	case "Authorization":
		return "Authorization"
	case "Content-Type":
		return "Content-Type"
	case "Content-Length":
		return "Content-Length"
	case "User-Agent":
		return "User-Agent"
	case "Accept":
		return "Accept"
	case "Accept-Encoding":
		return "Accept-Encoding"
	case "Connection":
		return "Connection"
	case "Transfer-Encoding":
		return "Transfer-Encoding"
	case "X-Request-Id":
		return "X-Request-Id"
	case "Idempotency-Key":
		return "Idempotency-Key"
	case "X-Forwarded-For":
		return "X-Forwarded-For"
	case "X-Forwarded-Proto":
		return "X-Forwarded-Proto"
	}
	return string(k)
}
