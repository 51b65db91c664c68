//go:build unix

package spool

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperDirEnv turns TestHelperProcess into the appender that
// TestKillLosesNoAcknowledgedRecord kills.
const helperDirEnv = "OAIS_SPOOL_HELPER_DIR"

// helperMaxRecords ends the helper on its own if nobody kills it.
const helperMaxRecords = 200_000

// TestHelperProcess is not a test: run by TestKillLosesNoAcknowledgedRecord
// in a child process, it appends records as fast as it can and prints the
// RequestID of each one Append acknowledged, until it is killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestKillLosesNoAcknowledgedRecord")
	}
	s, err := Open(context.Background(), Options{Dir: dir, SegmentBytes: 64 << 10, MaxBytes: 1 << 30,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	for i := range helperMaxRecords {
		rec := testRecord(i)
		if err := s.Append(&rec); err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(3)
		}
		// Unbuffered: a line the parent reads is a record already acknowledged.
		if _, err := os.Stdout.WriteString("ack " + rec.RequestID + "\n"); err != nil {
			os.Exit(4)
		}
	}
	os.Exit(0)
}

func TestKillLosesNoAcknowledgedRecord(t *testing.T) {
	for _, tc := range []struct {
		name      string
		killAfter int // acknowledged lines read before SIGKILL
	}{
		{name: "right after start", killAfter: 1},
		{name: "inside the first segment", killAfter: 150},
		{name: "after several rotations", killAfter: 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			acked, maxAcked := runAndKill(t, dir, tc.killAfter)

			s, _ := openSpool(t, dir, Options{SegmentBytes: 64 << 10})
			seen := make(map[string]int)
			for _, id := range flushAll(t, s) {
				seen[id]++
			}
			for id := range acked {
				if seen[id] != 1 {
					t.Errorf("acknowledged %s shipped %d times, want once", id, seen[id])
				}
			}
			// The helper appends, then prints: the only record it can have
			// kept without printing is the one after the last line.
			inFlight := testRecord(maxAcked + 1).RequestID
			for id, n := range seen {
				if !acked[id] && id != inFlight {
					t.Errorf("unknown record %s shipped", id)
				}
				if n != 1 {
					t.Errorf("%s shipped %d times", id, n)
				}
			}
			closeSpool(t, s)
			s2, _ := openSpool(t, dir, Options{SegmentBytes: 64 << 10})
			equalIDs(t, "after second open", flushAll(t, s2), nil)
		})
	}
}

// runAndKill runs the helper on dir, SIGKILLs it once killAfter records were
// acknowledged, and returns every acknowledged RequestID and the highest
// record index among them. Lines still in the pipe after the kill count too:
// they were printed after Append returned.
func runAndKill(t *testing.T, dir string, killAfter int) (map[string]bool, int) {
	t.Helper()
	// The helper prints a line per record as it goes: no kill within a
	// minute means it stalled, and the context kills it so the scan ends.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make(map[string]bool)
	maxAcked := -1
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		acked[id] = true
		var i int
		if _, err := fmt.Sscanf(id, "req-%d", &i); err == nil {
			maxAcked = max(maxAcked, i)
		}
		if len(acked) == killAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill helper: %v", err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed && ctx.Err() != nil {
		t.Fatalf("helper stalled after acknowledging %d records, killed after a minute; stderr:\n%s", len(acked), stderr.String())
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !killed || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper was not killed mid-run (acknowledged %d, state %v); stderr:\n%s", len(acked), cmd.ProcessState, stderr.String())
	}
	t.Logf("helper acknowledged %d records before dying", len(acked))
	return acked, maxAcked
}
