package spool

import (
	"context"
	"encoding/json"
	"testing"
)

// BenchmarkAppend measures the request-path cost of Append: encoding, one
// write(2) under the mutex, and the counter. Run with -benchmem; the target is
// zero allocations.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		parallel bool
	}{
		{name: "serial"},
		{name: "parallel", parallel: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(context.Background(), Options{Dir: b.TempDir(), MaxBytes: 64 << 30, Logger: discardLogger})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rec := testRecord(1)
			b.ReportAllocs()
			b.SetBytes(int64(len(frameBytes(b, rec))))
			b.ResetTimer()
			if !bc.parallel {
				for b.Loop() {
					if err := s.Append(&rec); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				rec := testRecord(2)
				for pb.Next() {
					if err := s.Append(&rec); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkEncode compares appendRecord with the json.Marshal it replaces.
func BenchmarkEncode(b *testing.B) {
	rec := testRecord(1)
	b.Run("appendRecord", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			var err error
			if buf, err = appendRecord(buf[:0], &rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
