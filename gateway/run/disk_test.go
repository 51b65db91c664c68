package run

import (
	"encoding/json"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/oais/oais/gateway/spool"
)

// failingDisk makes the spool's segment files fail like a broken disk
// while it is on: a write puts half its bytes down and then fails with
// writeErr (a partial write, as ENOSPC leaves it), an fsync fails with
// syncErr.
type failingDisk struct {
	on       atomic.Bool
	writeErr error
	syncErr  error
}

func (d *failingDisk) wrap(f *os.File) spool.SegmentFile { return &failingFile{File: f, d: d} }

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

// TestFailingDiskFailsClosed is the attack of issue 14 item 6: the disk
// under the usage spool starts refusing writes (ENOSPC) or fsyncs (EIO)
// while clients send plain and streamed requests. The gateway must stop
// admitting (503 service_unavailable), say so on /readyz, in a metric and
// in one log line, serve nothing it cannot bill (every 2xx ends up as a
// ledger row), and take requests again once the disk works.
func TestFailingDiskFailsClosed(t *testing.T) {
	tests := []struct {
		name string
		disk *failingDisk
	}{
		{"ENOSPC on write", &failingDisk{writeErr: syscall.ENOSPC}},
		{"EIO on fsync", &failingDisk{syncErr: syscall.EIO}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk := tt.disk
			g := openGateway(t, nil, func(c *Config) { c.wrapSegment = disk.wrap })
			ctx := t.Context()

			var mu sync.Mutex
			var replies []reply
			send := func(stream bool) reply {
				r := g.chat(ctx, stream, nil)
				mu.Lock()
				replies = append(replies, r)
				mu.Unlock()
				return r
			}
			for i := range 4 {
				if r := send(i%2 == 1); r.status != 200 {
					t.Fatalf("healthy disk: %d %s %v", r.status, r.body, r.err)
				}
			}

			// Clients keep sending throughout: some requests are in flight
			// when the disk fails and when it comes back.
			stop := make(chan struct{})
			var load sync.WaitGroup
			for w := range 3 {
				load.Add(1)
				go func() {
					defer load.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						send((w+i)%2 == 1)
					}
				}()
			}

			disk.on.Store(true)
			var refused reply
			waitUntil(t, "a 503 once the disk failed", func() bool {
				refused = send(false)
				return refused.status == 503
			})
			var e struct {
				Error struct{ Message, Type, Code string }
			}
			_ = json.Unmarshal([]byte(refused.body), &e)
			if e.Error.Code != "service_unavailable" || !strings.Contains(e.Error.Message, "retry") {
				t.Errorf("refusal: %d %s", refused.status, refused.body)
			}
			if st, body := g.get(t, "/readyz"); st != 503 {
				t.Errorf("/readyz with a failing disk: %d %s", st, body)
			}
			if v := g.metric(t, "oais_spool_disk_failing"); v != 1 {
				t.Errorf("oais_spool_disk_failing = %v, want 1", v)
			}
			for range 5 {
				if r := send(false); r.status != 503 {
					t.Errorf("admitted with a failing disk: %d %s", r.status, r.body)
				}
			}

			disk.on.Store(false)
			waitUntil(t, "/readyz 200 once the disk works again", func() bool {
				st, _ := g.get(t, "/readyz")
				return st == 200
			})
			close(stop)
			load.Wait()
			for i := range 4 {
				if r := send(i%2 == 1); r.status != 200 {
					t.Errorf("disk back: %d %s %v", r.status, r.body, r.err)
				}
			}
			if v := g.metric(t, "oais_spool_disk_failing"); v != 0 {
				t.Errorf("oais_spool_disk_failing = %v after recovery, want 0", v)
			}

			// No request was served unbilled: every 2xx has its ledger
			// row, and nothing refused has one (a refusal may leave a
			// zero-cost error row, which ledgerRows leaves out).
			rows := g.ledgerRows(t)
			ok, no, lost := 0, 0, 0
			for _, r := range replies {
				switch {
				case r.status/100 == 2:
					ok++
					if rows[r.id] != 1 {
						lost++
						if lost <= 5 {
							t.Errorf("request %s was answered %d but has %d ledger rows", r.id, r.status, rows[r.id])
						}
					}
				case r.status == 503:
					no++
					if rows[r.id] != 0 {
						t.Errorf("refused request %s has a ledger row", r.id)
					}
				case r.err == nil:
					t.Errorf("unexpected answer %d %s", r.status, r.body)
				}
			}
			t.Logf("FIGURE: %s: %d answered (2xx), %d refused (503), %d answered without a ledger row", tt.name, ok, no, lost)
			if lost > 0 {
				t.Errorf("%d of %d answered requests were served unbilled", lost, ok)
			}

			// One line when the disk failed and one when it came back, not
			// one per request.
			logs := g.logs.String()
			for _, line := range []string{"usage spool: the disk failed", "usage spool: the disk works again"} {
				if n := strings.Count(logs, line); n != 1 {
					t.Errorf("%q logged %d times, want once", line, n)
				}
			}
		})
	}
}
