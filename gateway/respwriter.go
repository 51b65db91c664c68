package gateway

import (
	"net/http"
	"sync"
	"time"
)

// respWriter records what a handler answered, for the log, and can keep a
// bounded copy of the body, for the response cache and idempotent replays.
type respWriter struct {
	w        http.ResponseWriter
	flusher  http.Flusher
	status   int
	written  int64
	capMax   int64
	buf      []byte
	overflow bool

	// The client's write deadline (Config.SendTimeout): dl sets it (nil:
	// the writer cannot), send is the timeout, armed when it was last
	// set (unix ns).
	dl    writeDeadliner
	send  time.Duration
	armed int64
}

// writeDeadliner is net/http's ResponseWriter (and the fasthttp bridge's)
// as http.ResponseController reaches it.
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// reset makes w a fresh writer on rw whose writes each wait at most send
// for the client, and sets that deadline now: it also bounds what the
// server writes for the request before the handler does (100 Continue),
// where the connection still holds the deadline of its previous request.
func (w *respWriter) reset(rw http.ResponseWriter, send time.Duration) {
	f, _ := rw.(http.Flusher)
	dl, _ := rw.(writeDeadliner)
	*w = respWriter{w: rw, flusher: f, dl: dl, send: send}
	w.arm()
}

// arm sets the connection's write deadline to send from now, unless it
// was set within the last eighth of send: one deadline call per request,
// and one every send/8 on a long stream, instead of one per event. A
// write then waits at most send, and at least 7/8 of it.
func (w *respWriter) arm() {
	if w.dl == nil || w.send <= 0 {
		return
	}
	now := time.Now()
	if ns := now.UnixNano(); ns-w.armed >= int64(w.send/8) {
		w.armed = ns
		_ = w.dl.SetWriteDeadline(now.Add(w.send))
	}
}

// capture starts keeping up to max bytes of the body.
func (w *respWriter) capture(max int64) { w.capMax = max }

func (w *respWriter) Header() http.Header { return w.w.Header() }

func (w *respWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
	}
	w.w.WriteHeader(status)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.capMax > 0 && !w.overflow {
		if int64(len(w.buf)+len(p)) > w.capMax {
			w.overflow, w.buf = true, nil
		} else {
			w.buf = append(w.buf, p...)
		}
	}
	w.arm()
	n, err := w.w.Write(p)
	w.written += int64(n)
	return n, err
}

// Flush sends buffered bytes to the client at once (SSE).
func (w *respWriter) Flush() {
	if w.flusher != nil {
		w.arm()
		w.flusher.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.w }

// captured reports whether the whole body was kept.
func (w *respWriter) captured() bool { return w.capMax > 0 && !w.overflow }

func (w *respWriter) capturedBody() []byte { return w.buf }

// copyBufs are the forwarder's relay buffers. Small on purpose: SSE events
// are small, and a plain answer that fits one is sent in one write.
const copyBufSize = 16 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}
