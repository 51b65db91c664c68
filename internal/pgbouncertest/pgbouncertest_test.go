package pgbouncertest

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// A pgbouncer that dies (PgBouncer 1.18 does, on some cancel requests) is
// restarted on its port, as systemd would, and serves again.
func TestRestartedAfterACrash(t *testing.T) {
	if _, err := Binary(); err != nil {
		t.Skip(err)
	}
	server := os.Getenv("OAIS_TEST_DATABASE_URL")
	if server == "" {
		server = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	s, err := Start(server)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("pgx", s.URL(server)+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var one int
		return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	// pgbouncer itself dies (under runuser as root: runuser then ends too).
	b, err := os.ReadFile(filepath.Join(s.dir, "pgbouncer.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var last error
	for range 100 { // 10 s at most
		time.Sleep(100 * time.Millisecond)
		if last = ping(); last == nil && s.Crashes() == 1 {
			break
		}
	}
	if last != nil || s.Crashes() != 1 || s.Exited() {
		t.Fatalf("after SIGKILL: ping %v, crashes %d, exited %v; want a restarted pgbouncer", last, s.Crashes(), s.Exited())
	}
	s.Close()
	if !s.Exited() {
		t.Fatal("Close left the supervisor running")
	}
}
