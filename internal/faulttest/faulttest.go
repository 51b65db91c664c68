// Package faulttest breaks oais on purpose and measures what survives. Its
// tests run the real controlplane and gateway binaries as child processes
// (built once per test run) and then SIGKILL a gateway under load, restart
// a private PostgreSQL under load, kill a private Redis, and make the
// upstream slow, reset, fail or cut a stream; docs/reliability.md lists
// each fault with the test that injects it and the figure it proves.
//
// The helpers here start private, throw-away dependencies: a PostgreSQL
// cluster in a temporary directory (Postgres) and a redis-server child
// (Redis), so a test can stop and restart them without touching the
// machine's shared servers that other test packages use at the same time.
// Everything listens on 127.0.0.1 only.
package faulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// LogBuffer is an io.Writer safe for concurrent use, for a child's output.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Process is a child process whose output is kept for assertions.
type Process struct {
	Name   string
	Cmd    *exec.Cmd
	Stdout LogBuffer
	Stderr LogBuffer
	done   chan struct{}
	err    error
}

// Start runs bin with args and exactly env (plus PATH and HOME), and kills
// it when the test ends if it is still running.
func Start(t testing.TB, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...)
	p.Cmd.Stdout, p.Cmd.Stderr = &p.Stdout, &p.Stderr
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			out := p.Stderr.String()
			if w := warnings(out, 8<<10); w != "" {
				t.Logf("%s stderr, its warnings and errors (first 8 KiB):\n%s", name, w)
			}
			t.Logf("%s stderr (last 4 KiB):\n%s", name, tail(out, 4<<10))
		}
	})
	return p
}

// warnings returns the lines of a JSON log at level WARN or ERROR, up to
// n bytes: what went wrong early in a long run, which its tail has lost.
func warnings(log string, n int) string {
	var b strings.Builder
	for line := range strings.Lines(log) {
		if !strings.Contains(line, `"level":"WARN"`) && !strings.Contains(line, `"level":"ERROR"`) {
			continue
		}
		if b.Len()+len(line) > n {
			b.WriteString("…\n")
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout for a clean exit, which for
// the gateway includes shipping its spool. It returns the exit error.
func (p *Process) Stop(timeout time.Duration) error {
	if p.Exited() {
		return p.err
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not stop within %s after SIGTERM; killed", p.Name, timeout)
	}
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// WaitFor polls cond every 50 ms until it holds or timeout passes.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Postgres is a private PostgreSQL cluster in a temporary directory, owned
// by the test: it can be stopped (as a crash: immediate mode) and started
// again on the same port. When the test runs as root, as CI does, the
// server runs as the postgres system user, because PostgreSQL refuses root.
type Postgres struct {
	t       testing.TB
	dir     string // owned by the server's user
	port    int
	asUser  string // "" to run as ourselves
	binDir  string
	running bool
}

// PostgresBinDir finds the directory of initdb and pg_ctl: the newest
// /usr/lib/postgresql/*/bin, or PATH.
func PostgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("initdb not found under /usr/lib/postgresql/*/bin or in PATH")
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// StartPostgres initialises and starts a private cluster with trust
// authentication for user postgres, and removes it when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, err := PostgresBinDir()
	if err != nil {
		t.Skipf("private PostgreSQL: %v", err)
	}
	pg := &Postgres{t: t, port: FreePort(t), binDir: bin}
	// Not t.TempDir: its parents are 0700 and root's, which the postgres
	// user could not enter.
	pg.dir, err = os.MkdirTemp("", "oais-faulttest-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pg.dir) })
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("private PostgreSQL: running as root and there is no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(pg.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.asUser = "postgres"
	}
	if out, err := pg.run("initdb", "-D", pg.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if pg.running {
			_, _ = pg.run("pg_ctl", "-D", pg.data(), "-m", "immediate", "-w", "stop")
		}
	})
	pg.Start()
	return pg
}

func (pg *Postgres) data() string { return filepath.Join(pg.dir, "data") }

// run runs one of the PostgreSQL programs as the server's user.
func (pg *Postgres) run(prog string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := filepath.Join(pg.binDir, prog)
	var cmd *exec.Cmd
	if pg.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", pg.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = pg.dir
	return cmd.CombinedOutput()
}

// URL is the pgx URL of the cluster's postgres database.
func (pg *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// Start starts the server (again) on its port and waits until it accepts
// connections.
func (pg *Postgres) Start() {
	pg.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", pg.port, pg.dir)
	if out, err := pg.run("pg_ctl", "-D", pg.data(), "-l", filepath.Join(pg.dir, "server.log"), "-o", opts, "-w", "-t", "30", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "server.log"))
		pg.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, tail(string(log), 2048))
	}
	pg.running = true
}

// Crash stops the server the way a crash would (immediate mode: no
// checkpoint, every connection cut); the next Start runs crash recovery.
func (pg *Postgres) Crash() {
	pg.t.Helper()
	if out, err := pg.run("pg_ctl", "-D", pg.data(), "-m", "immediate", "-w", "stop"); err != nil {
		pg.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	pg.running = false
}

// Redis is a private redis-server child without persistence, which a test
// may kill and start again on the same port.
type Redis struct {
	t    testing.TB
	Port int
	dir  string // its working directory: nothing it writes lands in the package
	proc *Process
}

// StartRedis starts a private redis-server on a free port.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("private Redis: redis-server not in PATH: %v", err)
	}
	r := &Redis{t: t, Port: FreePort(t), dir: t.TempDir()}
	r.Start()
	return r
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Start starts redis-server on r.Port and waits until it accepts connections.
func (r *Redis) Start() {
	r.t.Helper()
	r.proc = Start(r.t, "redis-server", "redis-server", nil,
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", r.dir)
	ok := WaitFor(10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.Port), time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return false
		}
		b := make([]byte, 7)
		n, _ := c.Read(b)
		return strings.HasPrefix(string(b[:n]), "+PONG")
	})
	if !ok {
		r.t.Fatalf("redis-server on port %d did not answer PING: %s", r.Port, r.proc.Stdout.String())
	}
}

// Kill SIGKILLs the server: every counter it held is gone.
func (r *Redis) Kill() { r.proc.Kill() }
