package main

import (
	"os/exec"
	"testing"
	"time"
)

// TestServerProcsFindsRedis: serverProcs finds a redis-server this test
// starts, by name, so the bench's "servers" column is not a silent zero.
func TestServerProcsFindsRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not in PATH")
	}
	cmd := exec.Command("redis-server", "--port", "0", "--save", "")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p, ok := serverProcs()[cmd.Process.Pid]; ok && p.comm == "redis-server" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server pid %d not among %v", cmd.Process.Pid, serverProcs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
