package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// serverComms are the database and cache servers whose CPU a gateway also
// costs: every process of these names on the machine is counted.
var serverComms = map[string]bool{"postgres": true, "redis-server": true}

// clockTick is USER_HZ, the unit of /proc/PID/stat's utime and stime: 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// serverCPU sums the user + system CPU time of every running PostgreSQL and
// Redis server process (backends included), from /proc. A process that
// exits between two readings takes its time with it, so a phase's
// difference can only undercount; PostgreSQL backends of the gateway's pool
// and the Redis server live through a phase. Zero where /proc is missing.
func serverCPU() (pg, redis time.Duration) {
	for _, p := range serverProcs() {
		if p.comm == "postgres" {
			pg += p.cpu
		} else {
			redis += p.cpu
		}
	}
	return pg, redis
}

// serverProc is one server process's name and CPU time so far.
type serverProc struct {
	comm string
	cpu  time.Duration
}

// serverProcs is the CPU time of each PostgreSQL and Redis server process,
// by pid.
func serverProcs() map[int]serverProc {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	out := map[int]serverProc{}
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || close < open || !serverComms[string(b[open+1:close])] {
			continue
		}
		// After "(comm) ": state is field 3; utime and stime are 14 and 15.
		f := bytes.Fields(b[close+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(string(f[11]), 10, 64)
		s, _ := strconv.ParseInt(string(f[12]), 10, 64)
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		out[pid] = serverProc{string(b[open+1 : close]), time.Duration(u+s) * clockTick}
	}
	return out
}
