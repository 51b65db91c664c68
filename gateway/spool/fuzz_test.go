package spool

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// updateSeedsEnv regenerates testdata/fuzz/FuzzOpen from fuzzOpenSeeds.
const updateSeedsEnv = "OAIS_SPOOL_UPDATE_FUZZ_SEEDS"

type fuzzOpenSeed struct {
	name   string
	data   []byte
	sealed bool
}

func fuzzOpenSeeds(t testing.TB) []fuzzOpenSeed {
	valid := frameBytes(t, testRecord(1), testRecord(2), testRecord(3))
	one := frameBytes(t, testRecord(9))
	flipped := slices.Clone(valid)
	flipped[len(one)+frameHeader+3] ^= 1
	return []fuzzOpenSeed{
		{name: "empty", data: nil},
		{name: "valid", data: valid},
		{name: "valid-sealed", data: valid, sealed: true},
		{name: "torn-payload", data: valid[:len(valid)-5]},
		{name: "torn-header", data: append(slices.Clone(valid), one[:5]...)},
		{name: "zeros-tail", data: append(slices.Clone(valid), make([]byte, 64)...)},
		{name: "flipped-middle-sealed", data: flipped, sealed: true},
		{name: "huge-length", data: append([]byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}, one...)},
		{name: "garbage", data: []byte("{\"request_id\":\"not framed\"}\n\x00\x01\x02")},
	}
}

// TestWriteFuzzSeeds rewrites the checked-in seed corpus when
// OAIS_SPOOL_UPDATE_FUZZ_SEEDS=1; the files are never edited by hand.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv(updateSeedsEnv) == "" {
		t.Skip("set " + updateSeedsEnv + "=1 to regenerate testdata/fuzz/FuzzOpen")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, seed := range fuzzOpenSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(%t)\n", seed.data, seed.sealed)
		if err := os.WriteFile(filepath.Join(dir, seed.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzOpen writes arbitrary bytes as a segment, optionally followed by a
// valid sealed-later segment, then opens and ships the spool. It must never
// panic or fail, must ship the valid segment whatever precedes it, and a
// second open must ship nothing: exactly once survives any garbage.
func FuzzOpen(f *testing.F) {
	for _, seed := range fuzzOpenSeeds(f) {
		f.Add(seed.data, seed.sealed)
	}
	f.Fuzz(func(t *testing.T, data []byte, sealed bool) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o640); err != nil {
			t.Fatal(err)
		}
		var tail []string
		if sealed {
			recs := recordsOf(1_000_000, 1_000_002)
			if err := os.WriteFile(filepath.Join(dir, segmentName(2)), frameBytes(t, recs...), 0o640); err != nil {
				t.Fatal(err)
			}
			tail = testIDs(1_000_000, 1_000_002)
		}
		opts := Options{Dir: dir, Logger: discardLogger}
		s, err := Open(context.Background(), opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		sink := &recordingSink{}
		if err := s.Flush(context.Background(), sink); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		ids := sink.IDs()
		if len(ids) < len(tail) || !slices.Equal(ids[len(ids)-len(tail):], tail) {
			t.Fatalf("valid segment after the fuzzed one not shipped intact: %v", ids)
		}
		if st := s.Stats(); st.PendingBytes != 0 || st.PendingRecords != 0 {
			t.Fatalf("Stats after Flush = %+v, want nothing pending", st)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		s, err = Open(context.Background(), opts)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer s.Close()
		again := &recordingSink{}
		if err := s.Flush(context.Background(), again); err != nil {
			t.Fatalf("second Flush: %v", err)
		}
		if got := again.IDs(); len(got) != 0 {
			t.Fatalf("second open shipped %d records again", len(got))
		}
	})
}

// FuzzScanFrames feeds arbitrary bytes straight to the frame reader, in
// chunks of every size, and checks that it accounts for every byte.
func FuzzScanFrames(f *testing.F) {
	for _, seed := range fuzzOpenSeeds(f) {
		f.Add(seed.data, int64(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, from int64) {
		from = max(0, min(from, int64(len(data))))
		var buf []byte
		covered := from
		_, err := scanFrames(bytesReaderAt(data), from, int64(len(data)), &buf,
			func(off int64, payload []byte) bool {
				if off != covered {
					t.Fatalf("frame at %d, expected one at %d", off, covered)
				}
				covered = off + frameHeader + int64(len(payload))
				return true
			},
			func(a, b int64) {
				if a != covered || b <= a {
					t.Fatalf("corrupt stretch [%d,%d) does not follow %d", a, b, covered)
				}
				covered = b
			})
		if err != nil {
			t.Fatal(err)
		}
		if covered != int64(len(data)) {
			t.Fatalf("scan accounted for %d of %d bytes", covered, len(data))
		}
	})
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
