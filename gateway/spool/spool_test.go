package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oais/oais/internal/usage"
)

func TestShipCheckpointReopenShipsNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records int
		opts    Options
	}{
		{name: "one record", records: 1},
		{name: "one segment", records: 1500},
		{name: "many segments", records: 2500, opts: Options{SegmentBytes: 8 << 10, MaxBytes: 4 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := openSpool(t, dir, tc.opts)
			appendRange(t, s, 0, tc.records)
			if got := s.Stats().PendingRecords; got != int64(tc.records) {
				t.Errorf("PendingRecords before shipping = %d, want %d", got, tc.records)
			}
			equalIDs(t, "first flush", flushAll(t, s), testIDs(0, tc.records))
			if st := s.Stats(); st.PendingRecords != 0 || st.PendingBytes != 0 {
				t.Errorf("Stats after flush = %+v, want nothing pending", st)
			}
			// Shipped sealed segments are deleted; the active one stays.
			if n := len(segmentFiles(t, dir)); n != 1 {
				t.Errorf("%d segment files after shipping everything, want 1", n)
			}
			closeSpool(t, s)

			s2, lb := openSpool(t, dir, tc.opts)
			if st := s2.Stats(); st.PendingRecords != 0 || st.PendingBytes != 0 {
				t.Errorf("Stats after reopen = %+v, want nothing pending", st)
			}
			equalIDs(t, "flush after reopen", flushAll(t, s2), nil)
			if lb.count("level=WARN")+lb.count("level=ERROR") > 0 {
				t.Errorf("clean reopen logged warnings:\n%s", lb)
			}
		})
	}
}

func TestRestartReplaysUnshippedExactlyOnce(t *testing.T) {
	small := Options{SegmentBytes: 8 << 10, MaxBytes: 4 << 20}
	for _, tc := range []struct {
		name             string
		opts             Options
		shipped, pending int
		damageCheckpoint bool
		want             []string // on the first flush after restart
	}{
		{name: "nothing shipped", pending: 300, want: testIDs(0, 300)},
		{name: "partly shipped", shipped: 200, pending: 300, want: testIDs(200, 500)},
		{name: "partly shipped across segments", opts: small, shipped: 700, pending: 900, want: testIDs(700, 1600)},
		// A damaged checkpoint re-ships what is still on disk, which the
		// idempotent sink absorbs; it must not stop the gateway.
		{name: "damaged checkpoint", shipped: 200, pending: 100, damageCheckpoint: true, want: testIDs(0, 300)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := openSpool(t, dir, tc.opts)
			appendRange(t, s, 0, tc.shipped)
			equalIDs(t, "before restart", flushAll(t, s), testIDs(0, tc.shipped))
			appendRange(t, s, tc.shipped, tc.shipped+tc.pending)
			closeSpool(t, s)
			if tc.damageCheckpoint {
				if err := os.WriteFile(filepath.Join(dir, checkpointName), []byte("oais-spool-checkpoint v1 seg=1 off=9"), 0o640); err != nil {
					t.Fatal(err)
				}
			}

			s2, _ := openSpool(t, dir, tc.opts)
			if got := s2.Stats().PendingRecords; got != int64(len(tc.want)) {
				t.Errorf("PendingRecords after restart = %d, want %d", got, len(tc.want))
			}
			equalIDs(t, "after restart", flushAll(t, s2), tc.want)
			closeSpool(t, s2)

			s3, _ := openSpool(t, dir, tc.opts)
			equalIDs(t, "after second restart", flushAll(t, s3), nil)
		})
	}
}

func TestOpenTruncatesTornTail(t *testing.T) {
	const n = 50
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, seg []byte) []byte
		kept   int
	}{
		{name: "cut inside the last payload", kept: n - 1, damage: func(t *testing.T, seg []byte) []byte { return seg[:len(seg)-7] }},
		{name: "cut inside the last header", kept: n - 1, damage: func(t *testing.T, seg []byte) []byte {
			return seg[:len(seg)-len(frameBytes(t, testRecord(n-1)))+3]
		}},
		{name: "garbage appended", kept: n, damage: func(t *testing.T, seg []byte) []byte {
			return append(seg, "\x17\x00\x00\x00garbage{that is not a frame"...)
		}},
		// What a power loss can leave on some file systems: a size that
		// grew before the data reached the disk.
		{name: "zeros appended", kept: n, damage: func(t *testing.T, seg []byte) []byte { return append(seg, make([]byte, 4096)...) }},
		{name: "half a valid frame appended", kept: n, damage: func(t *testing.T, seg []byte) []byte {
			f := frameBytes(t, testRecord(10_000))
			return append(seg, f[:len(f)/2]...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := openSpool(t, dir, Options{})
			appendRange(t, s, 0, n)
			closeSpool(t, s)
			path := lastNonEmptySegment(t, dir)
			seg, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(t, seg), 0o640); err != nil {
				t.Fatal(err)
			}

			s2, lb := openSpool(t, dir, Options{})
			if lb.count("truncating torn tail") != 1 {
				t.Errorf("want one torn-tail warning, log:\n%s", lb)
			}
			if st, err := os.Stat(path); err != nil || st.Size() != int64(len(frameBytes(t, recordsOf(0, tc.kept)...))) {
				t.Errorf("segment not cut back to its last whole frame: %v %v", st.Size(), err)
			}
			appendRange(t, s2, n, n+1)
			equalIDs(t, "after torn tail", flushAll(t, s2), append(testIDs(0, tc.kept), testIDs(n, n+1)...))
			closeSpool(t, s2)

			s3, lb3 := openSpool(t, dir, Options{})
			equalIDs(t, "after second restart", flushAll(t, s3), nil)
			if lb3.count("level=WARN")+lb3.count("level=ERROR") > 0 {
				t.Errorf("reopen after repair logged warnings:\n%s", lb3)
			}
		})
	}
}

func recordsOf(from, to int) []usage.Record {
	var recs []usage.Record
	for i := from; i < to; i++ {
		recs = append(recs, testRecord(i))
	}
	return recs
}

func TestCorruptSealedSegmentIsSkippedFrameWise(t *testing.T) {
	const n = 40
	for _, tc := range []struct {
		name   string
		damage func(frame []byte) // in place, on record 10's frame
	}{
		{name: "payload byte flipped", damage: func(frame []byte) { frame[frameHeader+5] ^= 0x40 }},
		{name: "length field smashed", damage: func(frame []byte) { frame[2] = 0x7f }},
		{name: "length one short", damage: func(frame []byte) { frame[0]-- }},
		{name: "crc field smashed", damage: func(frame []byte) { frame[5] ^= 0xff }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// Two runs, so that the damaged segment is sealed and not the
			// last one: corruption there is not a torn write.
			s, _ := openSpool(t, dir, Options{})
			appendRange(t, s, 0, n)
			closeSpool(t, s)
			s, _ = openSpool(t, dir, Options{})
			appendRange(t, s, n, 2*n)
			closeSpool(t, s)

			path := segmentFiles(t, dir)[0]
			seg, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(seg) != len(frameBytes(t, recordsOf(0, n)...)) {
				t.Fatalf("first segment is not records 0..%d; fix the test", n-1)
			}
			tc.damage(seg[len(frameBytes(t, recordsOf(0, 10)...)):])
			if err := os.WriteFile(path, seg, 0o640); err != nil {
				t.Fatal(err)
			}

			s2, lb := openSpool(t, dir, Options{})
			want := append(testIDs(0, 10), testIDs(11, 2*n)...)
			equalIDs(t, "after corruption", flushAll(t, s2), want)
			if !strings.Contains(lb.String(), "segment holds corrupt data") || !strings.Contains(lb.String(), "skipping corrupt bytes") {
				t.Errorf("corruption not reported, log:\n%s", lb)
			}
			if lb.count("truncating torn tail") != 0 {
				t.Errorf("a sealed segment was treated as torn:\n%s", lb)
			}
			if st := s2.Stats(); st.PendingRecords != 0 || st.PendingBytes != 0 {
				t.Errorf("Stats after flush = %+v, want nothing pending", st)
			}
		})
	}
}

func TestRunRetriesUntilSinkRecovers(t *testing.T) {
	const n = 2500
	for _, tc := range []struct {
		name     string
		failures int
	}{
		{name: "healthy", failures: 0},
		{name: "one failure", failures: 1},
		{name: "outage of seven attempts", failures: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			s, lb := openSpool(t, t.TempDir(), Options{SegmentBytes: 16 << 10, MaxBytes: 8 << 20, Registerer: reg})
			appendRange(t, s, 0, n)

			done := make(chan struct{})
			sink := &recordingSink{failures: tc.failures, want: n, done: done}
			ctx, cancel := context.WithCancel(context.Background())
			runErr := make(chan error, 1)
			go func() {
				runErr <- s.Run(ctx, sink, ShipOptions{BatchSize: 100, Interval: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
			}()
			select {
			case <-done:
			case <-time.After(waitBound):
				t.Fatalf("sink holds %d of %d records", len(sink.IDs()), n)
			}
			cancel()
			if err := recv(t, runErr, "Run to return after its context ended"); err != nil {
				t.Fatalf("Run: %v", err)
			}

			equalIDs(t, "shipped", sink.IDs(), testIDs(0, n))
			if got := metricValue(t, reg, "oais_spool_ship_errors_total"); got != float64(tc.failures) {
				t.Errorf("ship_errors_total = %v, want %d", got, tc.failures)
			}
			if got := metricValue(t, reg, "oais_spool_shipped_records_total"); got != n {
				t.Errorf("shipped_records_total = %v, want %d", got, n)
			}
			if got := metricValue(t, reg, "oais_spool_pending_records"); got != 0 {
				t.Errorf("pending_records = %v, want 0", got)
			}
			// One line for the outage, not one per retry.
			wantWarn := min(tc.failures, 1)
			if got := lb.count("cannot ship to the database"); got != wantWarn {
				t.Errorf("%d outage warnings, want %d:\n%s", got, wantWarn, lb)
			}
			if got := lb.count("shipping to the database resumed"); got != wantWarn {
				t.Errorf("%d recovery lines, want %d", got, wantWarn)
			}
		})
	}
}

func TestFullRefusesThenFreesAfterShipping(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := Options{SegmentBytes: 4 << 10, MaxBytes: 16 << 10, Registerer: reg}
	s, lb := openSpool(t, t.TempDir(), opts)

	accepted := 0
	var err error
	for ; accepted < 10_000; accepted++ {
		rec := testRecord(accepted)
		if err = s.Append(&rec); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Append after %d records: %v, want ErrFull", accepted, err)
	}
	rec := testRecord(accepted)
	if err := s.Append(&rec); !errors.Is(err, ErrFull) {
		t.Fatalf("second Append when full: %v, want ErrFull", err)
	}
	if st := s.Stats(); st.DiskBytes > opts.MaxBytes {
		t.Errorf("DiskBytes = %d, above MaxBytes %d", st.DiskBytes, opts.MaxBytes)
	}
	if got := metricValue(t, reg, "oais_spool_full_rejections_total"); got != 2 {
		t.Errorf("full_rejections_total = %v, want 2", got)
	}
	if got := lb.count("usage spool: full"); got != 1 {
		t.Errorf("%d full lines, want exactly 1:\n%s", got, lb)
	}

	equalIDs(t, "shipped", flushAll(t, s), testIDs(0, accepted))
	if st := s.Stats(); st.DiskBytes >= opts.MaxBytes/2 {
		t.Errorf("DiskBytes = %d after shipping everything, want shipped segments deleted", st.DiskBytes)
	}
	appendRange(t, s, accepted, accepted+1)
	if lb.count("accepting records") != 1 {
		t.Errorf("recovery from full not logged:\n%s", lb)
	}
	equalIDs(t, "after freeing", flushAll(t, s), testIDs(accepted, accepted+1))
}

func TestConcurrentAppendWhileShipping(t *testing.T) {
	const writers, each = 8, 400
	s, _ := openSpool(t, t.TempDir(), Options{SegmentBytes: 16 << 10, MaxBytes: 16 << 20, SyncInterval: time.Millisecond})
	sink := &recordingSink{}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx, sink, ShipOptions{BatchSize: 64, Interval: time.Millisecond}) }()

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w * each; i < (w+1)*each; i++ {
				rec := testRecord(i)
				if err := s.Append(&rec); err != nil {
					errs <- err
					return
				}
				_ = s.Stats()
			}
		})
	}
	wait(t, &wg, "the appending goroutines")
	close(errs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}
	cancel()
	if err := recv(t, runErr, "Run to return after its context ended"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := s.Flush(context.Background(), sink); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	ids := sink.IDs()
	seen := make(map[string]int, len(ids))
	last := make([]string, writers) // each writer's records keep their order
	for _, id := range ids {
		seen[id]++
		var i int
		if _, err := fmt.Sscanf(id, "req-%d", &i); err != nil {
			t.Fatalf("unexpected id %q", id)
		}
		w := i / each
		if id <= last[w] {
			t.Errorf("writer %d: %s shipped after %s", w, id, last[w])
		}
		last[w] = id
	}
	for _, id := range testIDs(0, writers*each) {
		if seen[id] != 1 {
			t.Errorf("%s shipped %d times, want once", id, seen[id])
		}
	}
	if len(ids) != writers*each {
		t.Errorf("shipped %d records, want %d", len(ids), writers*each)
	}
}

func TestOpenRefusesSecondUser(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSpool(t, dir, Options{})
	if _, err := Open(context.Background(), Options{Dir: dir, Logger: discardLogger}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	closeSpool(t, s)
	openSpool(t, dir, Options{})
}

func TestClosedSpool(t *testing.T) {
	s, _ := openSpool(t, t.TempDir(), Options{})
	closeSpool(t, s)
	rec := testRecord(0)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{name: "Append", call: func() error { return s.Append(&rec) }},
		{name: "Flush", call: func() error { return s.Flush(context.Background(), &recordingSink{}) }},
		{name: "Run", call: func() error { return s.Run(context.Background(), &recordingSink{}, ShipOptions{}) }},
		{name: "Close again", call: func() error {
			if err := s.Close(); err != nil {
				return err
			}
			return ErrClosed
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s on a closed spool: %v, want ErrClosed", tc.name, err)
			}
		})
	}
}

func TestAppendRefusesBadRecords(t *testing.T) {
	s, _ := openSpool(t, t.TempDir(), Options{})
	for _, tc := range []struct {
		name string
		rec  usage.Record
		want error
	}{
		{name: "too large", rec: usage.Record{RequestID: "big", Model: strings.Repeat("m", maxPayload)}, want: ErrRecordTooLarge},
		{name: "year past 9999", rec: usage.Record{RequestID: "future", Time: time.Date(10_000, 1, 1, 0, 0, 0, 0, time.UTC)}, want: errBadTime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Append(&tc.rec); !errors.Is(err, tc.want) {
				t.Errorf("Append: %v, want %v", err, tc.want)
			}
		})
	}
	if st := s.Stats(); st.PendingRecords != 0 || st.DiskBytes != 0 {
		t.Errorf("refused records left traces: %+v", st)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{name: "no dir", opts: Options{}, want: "Options.Dir"},
		{name: "max below two segments", opts: Options{Dir: t.TempDir(), SegmentBytes: 1 << 20, MaxBytes: 1 << 20}, want: "Options.MaxBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
