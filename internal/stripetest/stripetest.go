// Package stripetest runs billing tests against a real stripe-mock process:
// Start launches one on loopback, RecordingTransport records what a client
// sent, and Proxy makes the backend fail on demand.
package stripetest

import (
	"bufio"
	"context"
	"errors"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// InstallCommand installs the stripe-mock version these tests are written
// against; Start names it when the binary is missing.
const InstallCommand = "go install github.com/stripe/stripe-mock@v0.203.0"

// startTimeout bounds how long Start waits for stripe-mock to announce its
// listener; it loads a multi-megabyte OpenAPI spec first.
const startTimeout = 60 * time.Second

// listenLine is what stripe-mock v0.203.0 prints once its HTTP listener is up.
var listenLine = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// Start starts a stripe-mock process listening on free loopback ports, stops
// it when the test ends, and returns its HTTP base URL (no trailing slash,
// no "/v1"). A missing binary fails the test with the install command rather
// than skipping it: CI installs stripe-mock, so a skip would hide a gap.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("stripetest: %v; install it with: %s", err, InstallCommand)
	}
	// Port 0 lets the kernel pick, and stripe-mock reports the port it got,
	// so there is no window in which another process can take a port we
	// probed. HTTPS is bound too because stripe-mock otherwise binds it on
	// all interfaces at the fixed port 12112.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stripetest: %v", err)
	}
	cmd.Stderr = cmd.Stdout // stripe-mock writes its banner to either, by version
	if err := cmd.Start(); err != nil {
		t.Fatalf("stripetest: start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		defer close(exited)
		scanner := bufio.NewScanner(out)
		for scanner.Scan() {
			if m := listenLine.FindStringSubmatch(scanner.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		// Keep draining so a chatty stripe-mock never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = cmd.Wait()
	})

	select {
	case a := <-addr:
		return "http://" + a
	case <-exited:
		t.Fatalf("stripetest: stripe-mock exited before listening")
	case <-time.After(startTimeout):
		t.Fatalf("stripetest: stripe-mock did not listen within %v", startTimeout)
	}
	return ""
}

// Binary returns the path of the stripe-mock binary: from PATH, else from
// $(go env GOPATH)/bin where `go install` puts it.
func Binary() (string, error) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	for _, dir := range gopaths() {
		p := filepath.Join(dir, "bin", "stripe-mock")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("stripe-mock not found in PATH or GOPATH/bin")
}

func gopaths() []string {
	var dirs []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.SplitList(strings.TrimSpace(string(out)))...)
	}
	return append(dirs, filepath.SplitList(build.Default.GOPATH)...)
}
