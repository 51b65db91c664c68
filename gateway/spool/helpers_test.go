package spool

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oais/oais/internal/usage"
)

// testRecord is a plausible gateway record with a RequestID that sorts by i.
func testRecord(i int) usage.Record {
	return usage.Record{
		RequestID:        fmt.Sprintf("req-%08d", i),
		WorkspaceID:      "ws_01HZX4K9V6",
		KeyID:            "key_01HZX4KA3B",
		Model:            "gpt-4o-mini",
		Endpoint:         "/v1/chat/completions",
		Stream:           i%2 == 0,
		PromptTokens:     int64(100 + i%50),
		CompletionTokens: int64(20 + i%30),
		CostMicros:       int64(75 + i),
		Status:           200,
		LatencyMillis:    int64(300 + i%100),
		Source:           usage.SourceUpstream,
		ClientIP:         "203.0.113.7",
		Time:             time.Date(2026, 3, 1, 12, 0, 0, i*1000, time.UTC),
	}
}

func testIDs(from, to int) []string {
	ids := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		ids = append(ids, testRecord(i).RequestID)
	}
	return ids
}

// recordingSink keeps the RequestIDs it is given, in order, after failing
// its first failures calls. done is closed once it holds want records.
type recordingSink struct {
	mu       sync.Mutex
	ids      []string
	failures int
	calls    int
	want     int
	done     chan struct{}
}

var _ Sink = (*recordingSink)(nil)

func (r *recordingSink) Ship(_ context.Context, batch []usage.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.failures {
		return fmt.Errorf("database unavailable (call %d)", r.calls)
	}
	for _, rec := range batch {
		r.ids = append(r.ids, rec.RequestID)
	}
	if r.done != nil && r.want > 0 && len(r.ids) >= r.want {
		close(r.done)
		r.done = nil
	}
	return nil
}

func (r *recordingSink) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// logBuffer collects log output for assertions; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count reports how many log lines contain s.
func (b *logBuffer) count(s string) int {
	return strings.Count(b.String(), s)
}

// testLogger returns a logger whose output is shown when the test fails.
func testLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("spool log:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// openSpool opens dir with opts, logging into the returned buffer, and
// closes the spool when the test ends.
func openSpool(t *testing.T, dir string, opts Options) (*Spool, *logBuffer) {
	t.Helper()
	logger, lb := testLogger(t)
	opts.Dir = dir
	if opts.Logger == nil {
		opts.Logger = logger
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, lb
}

func appendRange(t *testing.T, s *Spool, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		rec := testRecord(i)
		if err := s.Append(&rec); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
	}
}

// flushAll ships everything pending into a new recording sink.
func flushAll(t *testing.T, s *Spool) []string {
	t.Helper()
	sink := &recordingSink{}
	if err := s.Flush(context.Background(), sink); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return sink.IDs()
}

func closeSpool(t *testing.T, s *Spool) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func equalIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Fatalf("%s: got %d ids, want %d\n got: %s\nwant: %s", what, len(got), len(want), abbrev(got), abbrev(want))
}

func abbrev(ids []string) string {
	if len(ids) <= 8 {
		return fmt.Sprint(ids)
	}
	return fmt.Sprintf("%v … %v", ids[:4], ids[len(ids)-4:])
}

// segmentFiles lists the segment files in dir, oldest first.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(matches)
	return matches
}

// lastNonEmptySegment is the newest segment that holds data: Open always
// starts a new, empty one.
func lastNonEmptySegment(t *testing.T, dir string) string {
	t.Helper()
	files := segmentFiles(t, dir)
	for i := len(files) - 1; i >= 0; i-- {
		if st, err := os.Stat(files[i]); err == nil && st.Size() > 0 {
			return files[i]
		}
	}
	t.Fatalf("no non-empty segment in %s", dir)
	return ""
}

// metricValue reads one counter or gauge from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// frameBytes encodes records the way Append does, for tests that build
// segment files by hand.
func frameBytes(t testing.TB, recs ...usage.Record) []byte {
	t.Helper()
	var out []byte
	for i := range recs {
		frame, err := appendRecord(make([]byte, frameHeader), &recs[i])
		if err != nil {
			t.Fatal(err)
		}
		putHeader(frame)
		out = append(out, frame...)
	}
	return out
}

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// waitBound is how long a test waits for what, when the code works, comes
// at once; it only turns a hang into a failure naming what never came,
// and nothing asserts on it.
const waitBound = 15 * time.Second

// recv returns the next value of ch, or fails the test naming what it
// waited for.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitBound):
	}
	t.Fatalf("waited %v for %s", waitBound, what)
	var zero T
	return zero
}

// wait waits for wg, or fails the test naming what it waited for.
func wait(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recv(t, done, what)
}
