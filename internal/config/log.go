package config

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/oais/oais/internal/every"
)

// Logger builds the process logger: JSON lines (production) unless format
// is "text", at level ("debug", "info", "warn", "error").
func Logger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lv}
	if strings.ToLower(format) == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// BufferedLogger is Logger writing through a LogBuffer that flushes every
// flushEvery, when full, and at once after a record at warn or above (with
// everything before it, in order): one write(2) per batch of lines instead
// of one per line, which on the gateway's path is one per request (its
// access line), as nginx's access_log buffer= and Envoy's access-log flush
// interval do. The price is what a crash (SIGKILL, OOM kill) loses: the
// info lines of the last flushEvery. flushEvery <= 0 writes every line at
// once, as Logger; the buffer returned is then nil. Close it on the way
// out.
func BufferedLogger(w io.Writer, format, level string, flushEvery time.Duration) (*slog.Logger, *LogBuffer) {
	if flushEvery <= 0 {
		return Logger(w, format, level), nil
	}
	b := NewLogBuffer(w, flushEvery)
	l := Logger(b, format, level)
	return slog.New(flushOnWarn{l.Handler(), b}), b
}

// logBufferSize is how much a LogBuffer holds before it writes: 200
// access lines or so.
const logBufferSize = 64 << 10

// LogBuffer batches a logger's lines (see BufferedLogger).
type LogBuffer struct {
	mu     sync.Mutex
	w      io.Writer
	bw     *bufio.Writer
	closed bool // after Close, lines go straight to w
	stop   context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewLogBuffer buffers w and flushes it every flushEvery until Close.
func NewLogBuffer(w io.Writer, flushEvery time.Duration) *LogBuffer {
	ctx, stop := context.WithCancel(context.Background())
	b := &LogBuffer{w: w, bw: bufio.NewWriterSize(w, logBufferSize), stop: stop, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		_ = every.Run(ctx, flushEvery, func(context.Context) { _ = b.Flush() })
	}()
	return b
}

// Write buffers one line; a line that does not fit after what is
// buffered is written after it, whole (slog hands over a record in one
// Write, so lines never interleave).
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.w.Write(p)
	}
	if len(p) > b.bw.Available() && b.bw.Buffered() > 0 {
		if err := b.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return b.bw.Write(p)
}

// Flush writes what is buffered.
func (b *LogBuffer) Flush() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bw.Flush()
}

// Close stops the periodic flush and writes what is buffered; lines
// logged later are written at once.
func (b *LogBuffer) Close() error {
	if b == nil {
		return nil
	}
	b.once.Do(func() { b.stop(); <-b.done })
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.bw.Flush()
}

// flushOnWarn writes a record at warn or above at once, with the lines
// buffered before it: what an operator reads when something goes wrong
// must not wait, nor be lost to a crash right after it.
type flushOnWarn struct {
	slog.Handler
	b *LogBuffer
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.b.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushOnWarn) WithAttrs(as []slog.Attr) slog.Handler {
	return flushOnWarn{h.Handler.WithAttrs(as), h.b}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{h.Handler.WithGroup(name), h.b}
}
