package spool

import "testing"

// TestSpare: the spool has room to spare up to half its bound, and again
// once shipping frees it.
func TestSpare(t *testing.T) {
	opts := Options{SegmentBytes: 256 << 10, MaxBytes: 4 << 20}
	s, _ := openSpool(t, t.TempDir(), opts)
	if !s.Spare() {
		t.Fatal("an empty spool has no room to spare")
	}
	n := 0
	for ; s.Spare() && n < 100_000; n++ {
		appendRange(t, s, n, n+1)
	}
	if s.Spare() {
		t.Fatalf("still spare after %d records", n)
	}
	if d, half := s.Stats().DiskBytes, (opts.MaxBytes-fullHeadroom)/2; d < half || d > half+1024 {
		t.Fatalf("stopped being spare at %d bytes, want at %d", d, half)
	}
	if s.Full() {
		t.Fatal("full when it stops being spare")
	}
	flushAll(t, s)
	if !s.Spare() {
		t.Fatalf("not spare after shipping everything (%d bytes on disk)", s.Stats().DiskBytes)
	}
}
