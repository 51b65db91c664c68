package gateway

import (
	"net/http"
	"sync"
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
}

// reset makes w a fresh writer on rw.
func (w *respWriter) reset(rw http.ResponseWriter) {
	f, _ := rw.(http.Flusher)
	*w = respWriter{w: rw, flusher: f}
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
	n, err := w.w.Write(p)
	w.written += int64(n)
	return n, err
}

// Flush sends buffered bytes to the client at once (SSE).
func (w *respWriter) Flush() {
	if w.flusher != nil {
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
