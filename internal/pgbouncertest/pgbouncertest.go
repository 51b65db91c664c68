// Package pgbouncertest starts a private PgBouncer in transaction pooling
// mode in front of a PostgreSQL server, for tests that prove oais works
// through a transaction pooler: every database of the server is reachable
// through it under its own name (a wildcard [databases] entry), so a test
// creates its database directly on the server and connects through the
// bouncer. `make pgbouncer` installs Debian's pgbouncer.
package pgbouncertest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// InstallCommand is what installs pgbouncer; raise it with the Makefile's
// pgbouncer target.
const InstallCommand = "make pgbouncer"

// Server is a running pgbouncer child process.
type Server struct {
	// Port is where it listens, on 127.0.0.1.
	Port int

	target *url.URL
	dir    string
	newCmd func() *exec.Cmd
	done   chan struct{} // closed when the supervisor stops (Close)
	once   sync.Once
	log    string

	mu      sync.Mutex
	cmd     *exec.Cmd // the running process
	closing bool
	crashes atomic.Int32
}

// Binary returns the path of pgbouncer: PATH, then Debian's /usr/sbin.
func Binary() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", fmt.Errorf("pgbouncer is not installed (run `%s`)", InstallCommand)
}

// Start runs pgbouncer with pool_mode = transaction in front of the
// PostgreSQL server of serverURL (a postgres:// URL; its host, port and
// user are used, with trust authentication), on a free loopback port.
// pgbouncer refuses to run as root, so as root it runs as the postgres
// user. Close it.
func Start(serverURL string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(serverURL)
	if err != nil || target.Hostname() == "" {
		return nil, fmt.Errorf("pgbouncertest: %q is not a postgres:// URL", serverURL)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "oais-pgbouncer-")
	if err != nil {
		return nil, err
	}
	s := &Server{Port: port, target: target, dir: dir, done: make(chan struct{})}
	pgPort := target.Port()
	if pgPort == "" {
		pgPort = "5432"
	}
	userName := target.User.Username()
	if userName == "" {
		userName = "postgres"
	}
	// server_idle_timeout is short so that idle server connections do not
	// keep a test database busy (CREATE DATABASE … TEMPLATE and DROP
	// DATABASE need it alone); the tests' pools are small and many.
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 10
server_idle_timeout = 5
server_lifetime = 600
ignore_startup_parameters = extra_float_digits
logfile = %s
pidfile = %s
`, target.Hostname(), pgPort, port, filepath.Join(dir, "userlist.txt"), filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "pgbouncer.pid"))
	if err := os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(ini), 0o644); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(fmt.Sprintf("%q \"\"\n", userName)), 0o644); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.Join(fmt.Errorf("pgbouncertest: running as root and there is no postgres user to run pgbouncer as: %w", err), os.RemoveAll(dir))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, filepath.Join(dir, "pgbouncer.ini"), filepath.Join(dir, "userlist.txt")} {
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, errors.Join(err, os.RemoveAll(dir))
			}
		}
		s.newCmd = func() *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
		}
	} else {
		s.newCmd = func() *exec.Cmd { return exec.Command(bin, args...) }
	}
	exited, err := s.start()
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	go s.supervise(exited)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			s.Close()
			return nil, fmt.Errorf("pgbouncer exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("pgbouncer did not listen on port %d within 10s: %s", port, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs a pgbouncer process; exited is closed when it ends.
func (s *Server) start() (exited chan struct{}, err error) {
	cmd := s.newCmd()
	// Its own process group, so Close can signal pgbouncer under runuser.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	return exited, nil
}

// supervise restarts pgbouncer when it dies, as systemd's Restart=always
// would in production (docs/deploy.md): PgBouncer 1.18, Debian 12's, dies
// now and then on a cancel request ("FATAL … disconnect_client(): bad
// client state: 0"), which pgx sends when it closes a connection whose
// query was interrupted, e.g. by a replica shutting down. Clients see
// their connections cut and reconnect, as after a restart. It stops,
// closing done, when Close kills the process.
func (s *Server) supervise(exited chan struct{}) {
	defer close(s.done)
	for {
		<-exited
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if closing {
			return
		}
		s.crashes.Add(1)
		for {
			time.Sleep(100 * time.Millisecond)
			s.mu.Lock()
			closing = s.closing
			s.mu.Unlock()
			if closing {
				return
			}
			var err error
			if exited, err = s.start(); err == nil {
				break
			}
		}
	}
}

// Crashes is how many times pgbouncer died and was restarted.
func (s *Server) Crashes() int { return int(s.crashes.Load()) }

// URL is serverURL (given to Start) with its host and port replaced by the
// bouncer's: the same database, user and options, through the pooler.
func (s *Server) URL(serverURL string) string {
	u, err := url.Parse(serverURL)
	if err != nil {
		return ""
	}
	u.Host = fmt.Sprintf("127.0.0.1:%d", s.Port)
	return u.String()
}

// Exited reports whether pgbouncer has ended for good (Close); a crash it
// was restarted from counts in Crashes instead.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Log returns what pgbouncer logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "pgbouncer.log"))
	return string(b)
}

// Close stops pgbouncer (SIGINT: at once, closing every connection) and
// removes its directory.
func (s *Server) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closing = true
		cmd := s.cmd
		s.mu.Unlock()
		if cmd != nil && cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-s.done
			}
		}
		s.log = s.Log()
		_ = os.RemoveAll(s.dir)
	})
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
