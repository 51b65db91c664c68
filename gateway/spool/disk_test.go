package spool

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// failingDisk fails the segment files it wraps while on: a write puts half
// its bytes down and fails with writeErr (ENOSPC leaves such a partial
// write), an fsync fails with syncErr, a truncate (the cut of a torn
// write) with truncErr.
type failingDisk struct {
	on                          atomic.Bool
	writeErr, syncErr, truncErr error
}

func (d *failingDisk) wrap(f *os.File) SegmentFile { return &failingFile{File: f, d: d} }

type failingFile struct {
	*os.File
	d *failingDisk
}

func (f *failingFile) Write(p []byte) (int, error) {
	if f.d.on.Load() && f.d.writeErr != nil {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: f.d.writeErr}
	}
	return f.File.Write(p)
}

func (f *failingFile) Sync() error {
	if f.d.on.Load() && f.d.syncErr != nil {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: f.d.syncErr}
	}
	return f.File.Sync()
}

func (f *failingFile) Truncate(size int64) error {
	if f.d.on.Load() && f.d.truncErr != nil {
		return &os.PathError{Op: "truncate", Path: f.Name(), Err: f.d.truncErr}
	}
	return f.File.Truncate(size)
}

// waitUntil polls cond until it holds, or fails the test naming what.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waited %v for %s", waitBound, what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestFailingDiskHoldsRecordsThenWritesThem: a disk that refuses writes or
// fsyncs makes the spool refuse new requests (Full, Err, a metric, one
// log line); the records appended meanwhile wait in memory, bounded, and
// reach the disk, exactly once, when it works again.
func TestFailingDiskHoldsRecordsThenWritesThem(t *testing.T) {
	tests := []struct {
		name string
		disk *failingDisk
		want error // what Err wraps while the disk fails
	}{
		{"ENOSPC on write", &failingDisk{writeErr: syscall.ENOSPC}, syscall.ENOSPC},
		{"EIO on write, torn frame not cut", &failingDisk{writeErr: syscall.EIO, truncErr: syscall.EIO}, syscall.EIO},
		{"EIO on fsync", &failingDisk{syncErr: syscall.EIO}, syscall.EIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			s, logs := openSpool(t, t.TempDir(), Options{WrapSegment: tt.disk.wrap, SyncInterval: 5 * time.Millisecond, Registerer: reg})
			appendRange(t, s, 0, 10)
			if s.Full() || s.Err() != nil {
				t.Fatalf("healthy disk: Full %v, Err %v", s.Full(), s.Err())
			}

			tt.disk.on.Store(true)
			next := 10
			if tt.disk.writeErr == nil {
				// An fsync failure shows at the next tick.
				waitUntil(t, "the spool to notice the failed fsync", s.Full)
			}
			// The records of requests under way are kept: in memory while
			// writes fail, up to the bound, then refused.
			var refused error
			limit := 10 + maxHeldBytes/100 // past the bound when writes fail
			if tt.disk.writeErr == nil {
				limit = 110 // writes work: the probes take what is held
			}
			for ; refused == nil && next < limit; next++ {
				rec := testRecord(next)
				refused = s.Append(&rec)
			}
			if s.Spare() {
				t.Fatal("a failing disk has room to spare: refusals' records would take what answers in flight need")
			}
			last := next - 1 // refused, when writes fail
			if tt.disk.writeErr == nil {
				last = next
			}
			if tt.disk.writeErr != nil && !errors.Is(refused, ErrDiskFailing) || tt.disk.writeErr == nil && refused != nil {
				t.Fatalf("Append while the disk fails: %v", refused)
			}
			if !s.Full() || !errors.Is(s.Err(), ErrDiskFailing) || !errors.Is(s.Err(), tt.want) {
				t.Fatalf("failing disk: Full %v, Err %v", s.Full(), s.Err())
			}
			if v := metricValue(t, reg, "oais_spool_disk_failing"); v != 1 {
				t.Fatalf("oais_spool_disk_failing %v", v)
			}
			if held := metricValue(t, reg, "oais_spool_held_records"); tt.disk.writeErr != nil && held < 1000 {
				// ~3,000 records of ~350 bytes fit in maxHeldBytes.
				t.Fatalf("held %v records of %d appended while failing", held, last-10)
			}
			time.Sleep(20 * time.Millisecond) // a few probes fail; none logs again

			tt.disk.on.Store(false)
			waitUntil(t, "the spool to take requests again", func() bool { return !s.Full() })
			if s.Err() != nil || metricValue(t, reg, "oais_spool_disk_failing") != 0 || metricValue(t, reg, "oais_spool_held_records") != 0 {
				t.Fatalf("after recovery: Err %v", s.Err())
			}
			appendRange(t, s, last+1, last+11)

			want := append(testIDs(0, last), testIDs(last+1, last+11)...)
			got := flushAll(t, s)
			if len(got) != len(want) {
				t.Fatalf("shipped %d records, want %d (each once)", len(got), len(want))
			}
			seen := map[string]bool{}
			for _, id := range got {
				seen[id] = true
			}
			for _, id := range want {
				if !seen[id] {
					t.Fatalf("record %s lost", id)
				}
			}
			if seen[testRecord(last).RequestID] {
				t.Fatal("the refused record was kept")
			}
			for _, line := range []string{"usage spool: the disk failed", "usage spool: the disk works again"} {
				if n := logs.count(line); n != 1 {
					t.Errorf("%q logged %d times, want once", line, n)
				}
			}
		})
	}
}

// TestCloseWritesHeldRecords: records held while the disk failed are
// written by Close if the disk took writes again before a probe ran, and
// reported lost if it did not.
func TestCloseWritesHeldRecords(t *testing.T) {
	for _, healed := range []bool{true, false} {
		name := map[bool]string{true: "disk healed", false: "disk still failing"}[healed]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			disk := &failingDisk{writeErr: syscall.ENOSPC}
			s, _ := openSpool(t, dir, Options{WrapSegment: disk.wrap, SyncInterval: time.Hour, Logger: discardLogger})
			appendRange(t, s, 0, 3)
			disk.on.Store(true)
			appendRange(t, s, 3, 6) // held
			disk.on.Store(!healed)
			err := s.Close()
			if healed != (err == nil) {
				t.Fatalf("Close: %v", err)
			}
			s2, _ := openSpool(t, dir, Options{})
			want := testIDs(0, 6)
			if !healed {
				want = testIDs(0, 3)
			}
			equalIDs(t, "shipped after reopening", flushAll(t, s2), want)
		})
	}
}
