package config

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the flusher goroutine.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBufferedLoggerBatchesInfo: info lines are written in batches, not one
// write each, and reach the output within the flush interval.
func TestBufferedLoggerBatchesInfo(t *testing.T) {
	var out syncBuffer
	log, buf := BufferedLogger(&out, "json", "info", 50*time.Millisecond)
	defer buf.Close()
	for i := range 100 {
		log.Info("request", "n", i)
	}
	if s := out.String(); s != "" {
		t.Fatalf("info lines written before the flush: %q", s[:min(len(s), 200)])
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(out.String(), "\n"); n != 100 {
		t.Fatalf("%d lines after the flush interval, want 100", n)
	}
	if out.writes > 2 {
		t.Errorf("100 lines took %d writes, want one batch", out.writes)
	}
}

// TestBufferedLoggerWarnFlushesAtOnce attacks what an operator reads when
// something goes wrong: a warning (or an error) must be written at once,
// after every line logged before it, in order, even if the process dies
// right after it (no flush interval to wait for).
func TestBufferedLoggerWarnFlushesAtOnce(t *testing.T) {
	var out syncBuffer
	log, buf := BufferedLogger(&out, "json", "info", time.Hour)
	defer buf.Close()
	log.Info("first")
	log.With("component", "spool").Info("second")
	log.With("component", "spool").Warn("disk failing")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("after a warning %d lines written, want 3: %q", len(lines), out.String())
	}
	for i, want := range []string{`"msg":"first"`, `"msg":"second"`, `"msg":"disk failing"`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %s, want %s", i, lines[i], want)
		}
	}
	log.Error("boom")
	if !strings.Contains(out.String(), `"msg":"boom"`) {
		t.Error("an error line waited for the flush interval")
	}
}

// TestBufferedLoggerCloseWritesEverything: what is buffered at exit is
// written by Close, lines logged after Close are written at once, and
// lines from concurrent goroutines never interleave, including lines
// longer than the buffer.
func TestBufferedLoggerCloseWritesEverything(t *testing.T) {
	var out syncBuffer
	log, buf := BufferedLogger(&out, "json", "info", time.Hour)
	long := strings.Repeat("x", logBufferSize+100)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				if i%100 == 0 {
					log.InfoContext(context.Background(), "long", "v", long)
				} else {
					log.Info("line", "g", g, "i", i)
				}
			}
		})
	}
	wg.Wait()
	if err := buf.Close(); err != nil {
		t.Fatal(err)
	}
	log.Info("after close")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4*500+1 {
		t.Fatalf("%d lines, want %d", len(lines), 4*500+1)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, `{"time":`) || !strings.HasSuffix(l, "}") {
			t.Fatalf("line %d is not one whole record: %s", i, l[:min(len(l), 120)])
		}
	}
	if !strings.Contains(lines[len(lines)-1], "after close") {
		t.Errorf("last line %s, want the one logged after Close", lines[len(lines)-1])
	}
	if err := buf.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestUnbufferedLogger: a flush interval of 0 writes every line at once.
func TestUnbufferedLogger(t *testing.T) {
	var out syncBuffer
	log, buf := BufferedLogger(&out, "text", "info", 0)
	if buf != nil {
		t.Fatal("a buffer for a zero interval")
	}
	log.Info("now")
	if !strings.Contains(out.String(), "msg=now") {
		t.Errorf("got %q", out.String())
	}
	if buf.Close() != nil || buf.Flush() != nil {
		t.Error("nil buffer")
	}
}
